"""schemathesis over the whole OpenAPI document, for each of the four roles, on both blob stores.

Every generated request (positive and negative) is sent with a token of one tenant's viewer,
labeler, editor or admin. Each answer must not be a 5xx, must carry a status the operation documents
(the `default` response does not count: it would make any status conform), and must match the
documented schema for that status. Negative cases must be refused.

flask-smorest publishes no OpenAPI links, so there is no stateful (link-following) phase: instead a
tenant is seeded with one of everything (dataset, available item, models, a finished comparison and
its jobs, a member) and every case whose path names ids is sent once as generated and once with
the real ids, so the fuzzing gets past the 404s into the handlers. A generated DELETE that succeeds
on a real id is followed by making that resource again.

The tenant's per-minute request quota is raised: the fuzzing sends more than the default 15,000 a
minute when the machine is fast, and a 429 would hide what the handlers answer.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
from conftest import FUZZED_AUDIT_READS, STORES, Stack, loopback_session, running_stack
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from seeds import Seeded

from service import create_app
from service.settings import Config

ROLES = ["viewer", "labeler", "editor", "admin"]
FUZZ_TEST = "test_generated_requests_get_documented_answers"
MAX_EXAMPLES = 4
QUOTA = 1_000_000
ABOVE_ROLE_SAMPLE = 6


def openapi_document() -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        return create_app(Config(data_dir=Path(data_dir))).test_client().get("/api/openapi.json").json


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(deterministic=True, database="none")
SESSION = loopback_session()  # one for every case: schemathesis makes a session per call otherwise


@dataclass
class Fuzzed:
    """One stack, its seeded tenant, and what the fuzzing sent as each role."""

    stack: Stack
    seeded: Seeded
    cases: Counter = field(default_factory=Counter)  # role -> requests sent
    sent: dict[str, list[int]] = field(default_factory=dict)  # "role op" -> statuses of every request
    audit_reads: int = 0
    undocumented: dict[str, set[int]] = field(default_factory=dict)  # "op" -> statuses it does not list
    tokens: dict[str, str] = field(default_factory=dict)  # role -> its fuzzer's token

    def token(self, role: str) -> str:
        """One token per role for the module (it outlives the run): issuing one per case was a member write
        and an RSA signature each, and the write made every cached member look-up of the server stale."""
        if role not in self.tokens:
            self.tokens[role] = self.stack.token(f"{role}-fuzzer", "demo", role)
        return self.tokens[role]


@pytest.fixture(scope="module", params=STORES)
def fuzzed(request, tmp_path_factory, moto_endpoint: str) -> Iterator[Fuzzed]:
    store = request.param
    data_dir = tmp_path_factory.mktemp(f"fuzz-roles-{store}")
    with running_stack(store, data_dir, moto_endpoint, quota_requests_per_minute=QUOTA) as stack:
        seeded = Seeded(stack.client("admin", "demo", "seeder"), stack.edna.adapters.users).everything()
        yield Fuzzed(stack, seeded)


@pytest.fixture(params=ROLES)
def role(request) -> str:
    return request.param


def documented(case) -> set[int]:
    """The statuses the operation lists explicitly (`default` aside)."""
    return {int(code) for code in case.operation.definition.raw["responses"] if code.isdigit()}


def wanted(case, fuzzed: Fuzzed, role: str) -> bool:
    """Whether to send this case. The operation's least role gets every generated case (public routes: the
    viewer); a role above it goes through the same handler and gets a sample; a role below it is refused
    before its input is read (403), which one request proves."""
    required = case.operation.definition.raw.get("x-required-role") or ROLES[0]
    sent = len(fuzzed.sent.get(f"{role} {case.operation.label}", ()))
    if case.operation.label == "GET /api/audit" and fuzzed.audit_reads >= FUZZED_AUDIT_READS:
        return False
    if role == required:
        return True
    return sent < (ABOVE_ROLE_SAMPLE if ROLES.index(role) > ROLES.index(required) else 1)


def send(case, fuzzed: Fuzzed, role: str, token: str, checks: list) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    base_url = fuzzed.stack.base_url
    response = case.call(session=SESSION, base_url=base_url, headers=headers, timeout=30, allow_redirects=False)
    fuzzed.cases[role] += 1
    fuzzed.audit_reads += case.operation.label == "GET /api/audit"
    fuzzed.sent.setdefault(f"{role} {case.operation.label}", []).append(response.status_code)
    body = case.body if isinstance(case.body, dict | list | str | int | float | bool) else None
    context = (
        f"{role}: {response.status_code} from {case.method} {case.formatted_path}\nquery: {case.query!r}\n"
        f"body: {json.dumps(body)[:1000]}\nresponse: {response.text[:1000]}"
    )
    assert response.status_code < 500, context
    method = case.method.upper()
    if method != case.operation.method.upper():  # a negative case: a method the path does not serve
        # Flask answers OPTIONS itself (an empty 200 with `Allow`) and HEAD wherever GET is served.
        served = {"OPTIONS"} | ({"HEAD"} if "get" in DOCUMENT["paths"][case.operation.path] else set())
        # Any other GET falls through to the static files' route: 404.
        assert response.status_code in (404, 405) or (method in served and response.status_code < 500), context
        return response
    if response.status_code not in documented(case):
        fuzzed.undocumented.setdefault(case.operation.label, set()).add(response.status_code)
        print(f"\nundocumented status\n{context}")  # collected, asserted at the end
    case.validate_response(response, checks=checks, headers=headers)
    return response


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_generated_requests_get_documented_answers(case, fuzzed: Fuzzed, role: str):
    if not wanted(case, fuzzed, role):
        return
    token = fuzzed.token(role)
    # Not `negative_data_rejection`: a "negative" case may only add unknown query parameters (the API
    # ignores those, as HTTP APIs do) or drop the Authorization header this test always sends.
    send(case, fuzzed, role, token, [not_a_server_error, response_schema_conformance])
    params = case.path_parameters or {}
    if params:
        seeded = fuzzed.seeded
        case.path_parameters = {name: seeded.ids()[name] for name in params}
        # Now the path is real, whatever else the case negated: schema conformance only.
        response = send(case, fuzzed, role, token, [not_a_server_error, response_schema_conformance])
        seeded.restore(case.method.upper(), case.operation.path, response.status_code)


def test_the_served_document_is_the_fuzzed_one(fuzzed: Fuzzed):
    assert requests.get(f"{fuzzed.stack.base_url}/api/openapi.json", timeout=30).json() == DOCUMENT


def test_every_role_reached_every_operation(request, fuzzed: Fuzzed):
    """Guards against a silently empty run, and reports how many requests each role sent."""
    store = fuzzed.stack.store
    ran = [i for i in request.session.items if i.name.startswith(f"{FUZZ_TEST}[") and f"[{store}-" in i.name]
    if not ran:
        pytest.skip(f"{FUZZ_TEST} was not selected")
    print(f"\n{store}: requests per role {dict(fuzzed.cases)}")  # the figure the issue asks for
    for role in {i.name.rsplit("-", 1)[1].rstrip("]") for i in ran}:
        seen = {k.split(" ", 1)[1] for k in fuzzed.sent if k.startswith(f"{role} ")}
        assert len(seen) == len({i.name.split("][")[0] for i in ran if i.name.endswith(f"-{role}]")}), role
        assert fuzzed.cases[role] >= len(seen) * 2, fuzzed.cases
    assert not fuzzed.undocumented, f"statuses the operations do not document: {fuzzed.undocumented}"
    statuses = set().union(*fuzzed.sent.values())
    assert any(200 <= s < 300 for s in statuses) and 403 in statuses and 404 in statuses, statuses
