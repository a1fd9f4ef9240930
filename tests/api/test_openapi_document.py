"""The OpenAPI document passes a strict validator, and the interactive docs need nothing from the network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from service import create_app
from service.settings import Config


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return create_app(Config(data_dir=Path(tmp_path_factory.mktemp("openapi")))).test_client()


def test_the_document_is_valid_openapi_3_0(client):
    spec = client.get("/api/openapi.json").get_json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert errors == []
    # every 429 documents when to try again
    too_many = spec["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_the_docs_page_loads_only_edna_s_own_assets(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert sources and all(s.startswith("/api/docs/assets/") for s in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.data) > 10_000, source


@pytest.mark.parametrize("name", ["index.html", "swagger-ui.js.map", "..%2F__init__.py", "%2E%2E"])
def test_nothing_else_of_the_package_is_served(client, name):
    assert client.get(f"/api/docs/assets/{name}").status_code == 404
