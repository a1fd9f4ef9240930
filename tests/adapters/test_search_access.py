"""grant_search_access and put_index_templates: the deploy-time calls that map the indexer's IAM role
to Edna's index role and install the vector indexes' template on Amazon OpenSearch, sent by the real
opensearch-py client to a recording HTTP server."""

from __future__ import annotations

import json
import threading

import pytest
from opensearchpy import OpenSearch
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from infra.search_templates import index_templates
from service.handlers import SEARCH_ROLE, grant_search_access, put_index_templates

ROLE = "arn:aws:iam::123456789012:role/indexer-role-1a2b3c"
(TEMPLATE,) = index_templates("edna-items", 2).items()


@pytest.fixture
def recorder():
    seen: list[tuple[str, str, dict]] = []

    def app(environ, start_response):
        request = Request(environ)
        seen.append((request.method, request.path, json.loads(request.get_data() or b"{}")))
        return Response('{"status":"OK"}', content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield OpenSearch(hosts=[f"http://127.0.0.1:{server.server_port}"]), seen
    server.shutdown()


def test_maps_the_roles_to_a_role_limited_to_the_index(recorder, monkeypatch):
    client, seen = recorder
    monkeypatch.setenv("EDNA_SEARCH_INDEX", "edna-items")
    result = grant_search_access({"command": "service.handlers.grant_search_access", "roles": [ROLE]}, None, client)
    assert result == {"role": SEARCH_ROLE, "backend_roles": [ROLE]}
    (m1, role_path, role), (m2, mapping_path, mapping) = seen
    assert (m1, role_path) == ("PUT", f"/_plugins/_security/api/roles/{SEARCH_ROLE}")
    assert role["index_permissions"] == [
        {"index_patterns": ["edna-items*"], "allowed_actions": ["crud", "create_index", "indices_monitor"]}
    ]
    assert (m2, mapping_path, mapping) == (
        "PUT",
        f"/_plugins/_security/api/rolesmapping/{SEARCH_ROLE}",
        {"backend_roles": [ROLE]},
    )


@pytest.mark.parametrize("event", [{}, {"roles": []}, {"roles": ["*"]}, {"roles": [ROLE, 7]}])
def test_refuses_anything_but_role_arns(recorder, event):
    client, seen = recorder
    with pytest.raises(ValueError, match="needs"):
        grant_search_access(event, None, client)
    assert seen == []


def test_installs_the_vector_template_once_per_call(recorder, monkeypatch):
    client, seen = recorder
    monkeypatch.setenv("EDNA_SEARCH_INDEX", "edna-items")
    name, body = TEMPLATE
    event = {"command": "service.handlers.put_index_templates", "index_templates": {name: body}}
    assert put_index_templates(event, None, client) == {"index_templates": [name]}
    assert put_index_templates(event, None, client) == {"index_templates": [name]}  # again: the same state
    assert seen == [("PUT", f"/_index_template/{name}", body)] * 2


@pytest.mark.parametrize(
    "templates",
    [{}, {"t": {"index_patterns": ["other-*"]}}, {"t": {"index_patterns": []}}, {"t": "x"}],
)
def test_refuses_templates_for_other_indexes(recorder, monkeypatch, templates):
    client, seen = recorder
    monkeypatch.setenv("EDNA_SEARCH_INDEX", "edna-items")
    with pytest.raises(ValueError):
        put_index_templates({"index_templates": templates}, None, client)
    assert seen == []
