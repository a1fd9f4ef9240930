"""Property-based fuzzing of every operation in /api/openapi.json: no input makes the API answer 5xx.

schemathesis generates the requests from the live OpenAPI document and sends them over loopback HTTP
to Edna over each blob store, as an admin (the role that reaches every code path). A dataset with an
uploaded item exists up front, and every generated case that names a dataset or an item is sent a
second time with the real ids, so the fuzzing reaches past the 404s into the handlers themselves.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
from conftest import FUZZED_AUDIT_READS, STORES, Stack, loopback_session, running_stack
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from service import create_app
from service.settings import Config

FUZZ_TEST = "test_no_generated_request_gets_a_server_error"


@dataclass
class Fuzzed:
    """The stack under test, its real ids, and what the fuzzing sent."""

    stack: Stack
    token: str
    dataset_id: str = ""
    item_id: str = ""
    calls: int = 0
    on_real_ids: int = 0
    audit_reads: int = 0
    statuses: dict[str, set[int]] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def ensure_dataset(self) -> None:
        """A dataset with one available item; recreated when a generated DELETE removed it."""
        if self.dataset_id and self.item_id:
            resp = requests.get(
                f"{self.stack.base_url}/api/datasets/{self.dataset_id}/items/{self.item_id}",
                headers=self.headers(),
                timeout=30,
            )
            if resp.status_code == 200:
                return
        client = self.stack.client("admin")
        self.dataset_id = client.call(
            "POST", "/api/datasets", json={"name": f"fuzz-{self.calls}", "label_classes": ["cat", "dog"]}
        )["id"]
        self.item_id = client.upload(self.dataset_id, "cat.png", b"\x89PNG\r\n\x1a\nfuzz", "image/png")["id"]


@pytest.fixture(scope="module", params=STORES)
def fuzzed(request, tmp_path_factory, moto_endpoint: str) -> Iterator[Fuzzed]:
    store = request.param
    # The fuzzer sends thousands of requests a minute to one tenant: its rate quota is not under test here.
    data_dir = tmp_path_factory.mktemp(f"fuzz-{store}")
    with running_stack(store, data_dir, moto_endpoint, quota_requests_per_minute=1_000_000) as stack:
        state = Fuzzed(stack, stack.token("fuzzer", "demo", "admin"))
        state.ensure_dataset()
        yield state


def openapi_document() -> dict:
    """The app's /api/openapi.json, which does not depend on the blob store or the data dir."""
    with tempfile.TemporaryDirectory() as data_dir:
        return create_app(Config(data_dir=Path(data_dir))).test_client().get("/api/openapi.json").json


# The schema must exist when pytest collects the module. schemathesis' lazy
# `schemathesis.pytest.from_fixture` would load it from the running stack instead, but 4.32 breaks on
# pytest 9 (it sets `request.node._nodeid`, which pytest 9 no longer has): so the document is read
# from an app built here, and `test_the_served_document_is_the_fuzzed_one` pins it to the served one.
DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
SESSION = loopback_session()  # one for every case: schemathesis makes a session per call otherwise


def send(case, fuzzed: Fuzzed) -> None:
    response = case.call(
        session=SESSION, base_url=fuzzed.stack.base_url, headers=fuzzed.headers(), timeout=30, allow_redirects=False
    )
    fuzzed.calls += 1
    fuzzed.audit_reads += case.operation.label == "GET /api/audit"
    fuzzed.statuses.setdefault(case.operation.label, set()).add(response.status_code)
    if response.status_code >= 500:
        body = case.body if isinstance(case.body, dict | list | str | int | float | bool) else None
        pytest.fail(
            f"{response.status_code} from {case.method} {case.formatted_path}\n"
            f"query: {case.query!r}\nheaders: {case.headers!r}\nbody: {json.dumps(body)[:2000]}\n"
            f"response: {response.text[:2000]}\n"
            f"replay: {case.as_curl_command(headers=fuzzed.headers())}"
        )
    case.validate_response(response, checks=[not_a_server_error])


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_generated_request_gets_a_server_error(case, fuzzed: Fuzzed):
    if case.operation.label == "GET /api/audit" and fuzzed.audit_reads >= FUZZED_AUDIT_READS:
        return
    send(case, fuzzed)
    params = case.path_parameters or {}
    if "dataset_id" in params:
        fuzzed.ensure_dataset()
        case.path_parameters = {
            **params,
            "dataset_id": fuzzed.dataset_id,
            **({"item_id": fuzzed.item_id} if "item_id" in params else {}),
        }
        fuzzed.on_real_ids += 1
        send(case, fuzzed)


def test_the_served_document_is_the_fuzzed_one(fuzzed: Fuzzed):
    resp = requests.get(f"{fuzzed.stack.base_url}/api/openapi.json", timeout=30)
    assert resp.status_code == 200
    assert resp.json() == DOCUMENT


def test_the_fuzzing_really_sent_requests(request, fuzzed: Fuzzed):
    """Guards against a silently empty run: every selected operation was called, some on real ids,
    and generated requests reached the handlers (a 2xx) as well as the validators (a 4xx)."""
    selected = {
        item.name[len(FUZZ_TEST) + 1 :].split("][")[0]
        for item in request.session.items
        if item.name.startswith(f"{FUZZ_TEST}[") and item.name.endswith(f"[{fuzzed.stack.store}]")
    }
    if not selected:
        pytest.skip(f"{FUZZ_TEST} was not selected")
    assert set(fuzzed.statuses) == selected, fuzzed.statuses
    assert fuzzed.calls > len(selected)
    if any("{dataset_id}" in op for op in selected):
        assert fuzzed.on_real_ids > 0
    statuses = set().union(*fuzzed.statuses.values())
    assert any(200 <= s < 300 for s in statuses), fuzzed.statuses
    assert any(400 <= s < 500 for s in statuses), fuzzed.statuses
