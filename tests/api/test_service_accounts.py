"""Applications (service accounts): created by admins, signed in by client credentials, bound by Edna."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.conftest import running_stack

ALL = ("local", "s3")


@pytest.fixture(scope="module", params=ALL)
def stack(request, tmp_path_factory, moto_endpoint):
    with running_stack(request.param, tmp_path_factory.mktemp(request.param), moto_endpoint) as s:
        yield s


def call(stack, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=10, **kwargs)


def create(stack, admin: str, **body) -> dict:
    resp = call(stack, "POST", "/api/service-accounts", admin, json={"name": "trainer", "role": "editor", **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def exchange(stack, app: dict, secret: str | None = None) -> requests.Response:
    body = {"client_id": app["client_id"], "client_secret": secret or app["client_secret"]}
    return call(stack, "POST", "/api/auth/service-token", json=body)


def app_token(stack, app: dict) -> str:
    resp = exchange(stack, app)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


@pytest.fixture(scope="module")
def admin(stack) -> str:
    return stack.token("root", "demo", "admin")


def test_created_once_with_its_secret_then_listed_without_it(stack, admin):
    app = create(stack, admin, name="nightly training")
    assert app["client_secret"].startswith("edna_s_") and app["token_url"] == "/api/auth/service-token"
    assert app["role"] == "editor" and app["dataset_ids"] is None and app["created_by"] == "root"
    listed = {a["id"]: a for a in call(stack, "GET", "/api/service-accounts?limit=1000", admin).json()["items"]}
    assert "client_secret" not in listed[app["id"]] and listed[app["id"]]["name"] == "nightly training"
    stored = b"".join(stack.edna.blobs.get_bytes(o.key) for o in stack.edna.blobs.iter_objects("identity/"))
    assert app["client_secret"].encode() not in stored  # kept as a hash only


def test_an_application_acts_with_its_role_in_its_tenant(stack, admin):
    viewer = app_token(stack, create(stack, admin, role="viewer"))
    me = call(stack, "GET", "/api/me", viewer).json()
    assert me["tenant"] == "demo" and me["roles"] == ["viewer"] and me["user"].startswith("app:")
    assert call(stack, "POST", "/api/datasets", viewer, json={"name": "nope"}).status_code == 403
    editor = app_token(stack, create(stack, admin, role="editor"))
    assert call(stack, "POST", "/api/datasets", editor, json={"name": "made-by-app"}).status_code == 201
    assert call(stack, "GET", "/api/service-accounts", editor).status_code == 403  # admin only


def test_wrong_or_unknown_credentials_are_401(stack, admin):
    app = create(stack, admin)
    assert exchange(stack, app, secret="edna_s_" + "x" * 43).status_code == 401
    unknown = {"client_id": "edna_c_" + "0" * 24, "client_secret": app["client_secret"]}
    assert call(stack, "POST", "/api/auth/service-token", json=unknown).status_code == 401
    for bad in (
        {},
        {"client_id": "x"},
        {"client_id": 5, "client_secret": "y"},
        {"client_id": "../x", "client_secret": "y"},
    ):
        assert call(stack, "POST", "/api/auth/service-token", json=bad).status_code in (401, 422), bad


def test_revocation_is_at_once_for_tokens_and_secret(stack, admin):
    app = create(stack, admin)
    token = app_token(stack, app)
    assert call(stack, "GET", "/api/datasets", token).status_code == 200
    assert call(stack, "DELETE", f"/api/service-accounts/{app['id']}", admin).status_code == 204
    resp = call(stack, "GET", "/api/datasets", token)
    assert resp.status_code == 401 and "revoked" in resp.json()["message"]
    assert exchange(stack, app).status_code == 401
    assert call(stack, "DELETE", f"/api/service-accounts/{app['id']}", admin).status_code == 404


def test_an_expired_application_signs_in_no_more(stack, admin):
    soon = datetime.now(UTC) + timedelta(seconds=2)
    app = create(stack, admin, expires_at=soon.isoformat())
    token = exchange(stack, app).json()
    assert token["expires_in"] <= 2  # never outlives its application
    time.sleep(2.5)
    assert call(stack, "GET", "/api/me", token["access_token"]).status_code == 401
    assert exchange(stack, app).status_code == 401
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert (
        call(
            stack, "POST", "/api/service-accounts", admin, json={"name": "x", "role": "viewer", "expires_at": past}
        ).status_code
        == 400
    )


def test_last_use_is_recorded(stack, admin):
    app = create(stack, admin)
    call(stack, "GET", "/api/me", app_token(stack, app))
    listed = {a["id"]: a for a in call(stack, "GET", "/api/service-accounts?limit=1000", admin).json()["items"]}
    assert listed[app["id"]]["last_used_at"] >= app["created_at"]


def test_a_dataset_scoped_application_reaches_its_datasets_only(stack, admin):
    mine = call(stack, "POST", "/api/datasets", admin, json={"name": "scoped-mine"}).json()["id"]
    other = call(stack, "POST", "/api/datasets", admin, json={"name": "scoped-other"}).json()["id"]
    app = create(stack, admin, role="editor", dataset_ids=[mine])
    token = app_token(stack, app)
    listed = [d["id"] for d in call(stack, "GET", "/api/datasets?limit=1000", token).json()["items"]]
    assert listed == [mine]
    assert call(stack, "GET", f"/api/datasets/{mine}/items", token).status_code == 200
    outside = call(stack, "GET", f"/api/datasets/{other}/items", token)
    missing = call(stack, "GET", f"/api/datasets/{'0' * 26}/items", token)
    assert outside.status_code == missing.status_code == 404 and outside.json()["message"] == missing.json()["message"]
    upload = {"filename": "a.png", "content_type": "image/png", "size": 3}
    assert call(stack, "POST", f"/api/datasets/{other}/items", token, json=upload).status_code == 404
    assert call(stack, "POST", f"/api/datasets/{mine}/items", token, json=upload).status_code == 201
    job = {"dataset_id": other, "model_id": "0" * 26}
    assert call(stack, "POST", "/api/jobs", token, json=job).status_code == 404
    for method, path in (("GET", "/api/jobs"), ("GET", "/api/search?q=x"), ("POST", "/api/datasets")):
        assert call(stack, method, path, token, json={"name": "n"}).status_code == 403, path
    assert call(stack, "GET", f"/api/search?q=x&dataset={mine}", token).status_code == 200
    refused = create_refused(stack, admin, role="admin", dataset_ids=[mine])
    assert refused.status_code == 400 and "admin" in refused.json()["message"]
    assert create_refused(stack, admin, dataset_ids=[]).status_code == 400
    assert create_refused(stack, admin, dataset_ids=["0" * 26]).status_code == 404


def create_refused(stack, admin: str, **body) -> requests.Response:
    return call(stack, "POST", "/api/service-accounts", admin, json={"name": "x", "role": "editor", **body})


def test_another_tenant_neither_sees_nor_revokes_them(stack, admin):
    app = create(stack, admin)
    intruder = stack.token("mallory", "acme", "admin")
    assert call(stack, "GET", "/api/service-accounts", intruder).json()["items"] == []
    assert call(stack, "DELETE", f"/api/service-accounts/{app['id']}", intruder).status_code == 404
    acme_dataset = call(stack, "POST", "/api/datasets", intruder, json={"name": "acme-only"}).json()["id"]
    assert (
        call(
            stack,
            "POST",
            "/api/service-accounts",
            admin,
            json={"name": "x", "role": "viewer", "dataset_ids": [acme_dataset]},
        ).status_code
        == 404
    )
    token = app_token(stack, app)
    assert call(stack, "GET", f"/api/datasets/{acme_dataset}", token).status_code == 404


def test_a_token_claiming_another_tenant_for_its_client_is_401(stack, admin):
    """The tenant is Edna's binding: re-signing an application's claims for another tenant fails."""
    app = create(stack, admin)
    issuer = stack.edna.adapters.issuer
    directory = stack.edna.adapters.applications
    bound = directory.by_client(app["client_id"])
    forged = issuer._sign(
        {"sub": bound.client_id, "client_id": bound.client_id, "tenant": "acme", "roles": ["admin"]}, None
    )
    resp = call(stack, "GET", "/api/me", forged["access_token"])
    assert resp.status_code == 401 and "tenant" in resp.json()["message"]
    honest = issuer.issue_application(bound)["access_token"]
    assert call(stack, "GET", "/api/me", honest).json()["roles"] == ["editor"]  # its record's role, not the token's


def test_creation_is_audited_and_bad_bodies_change_nothing(stack, admin):
    before = sorted(o.key for o in stack.edna.blobs.iter_objects("identity/"))
    for body in (
        {},
        {"name": "x"},
        {"name": "x", "role": "owner"},
        {"name": "", "role": "viewer"},
        {"name": "x", "role": "viewer", "expires_at": "tomorrow"},
        {"name": "x", "role": "viewer", "dataset_ids": "d"},
    ):
        resp = call(stack, "POST", "/api/service-accounts", admin, json=body)
        assert 400 <= resp.status_code < 500, body
    assert sorted(o.key for o in stack.edna.blobs.iter_objects("identity/")) == before
    assert json.loads(call(stack, "GET", "/api/audit?limit=1000", admin).text)["items"]


def test_revocation_is_at_once_even_where_look_ups_are_cached(tmp_path, moto_endpoint):
    """A server that trusts its look-ups for a minute still refuses a revoked application's next call."""
    with running_stack("local", tmp_path, moto_endpoint, member_check_seconds=60) as cached:
        admin = cached.token("root", "demo", "admin")
        app = create(cached, admin)
        token = app_token(cached, app)
        assert call(cached, "GET", "/api/me", token).status_code == 200  # now cached
        assert call(cached, "DELETE", f"/api/service-accounts/{app['id']}", admin).status_code == 204
        assert call(cached, "GET", "/api/me", token).status_code == 401
