"""Every authenticated route, walked from the OpenAPI document, against hostile callers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import requests
from digits import embedding_model, models, register, wait_for
from joserfc import jwt
from joserfc.jwk import RSAKey

from service.domain.webhooks import Delivery, newest_first_id
from service.vocabulary import layout
from service.vocabulary.ids import new_id

ROLES = ["viewer", "labeler", "editor", "admin"]


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Forger:
    """Tokens that look right but must all be refused."""

    def __init__(self, stack):
        self.issuer = stack.edna.adapters.issuer
        self.good = stack.token("alice", "demo", "admin")
        self.apps = stack.edna.adapters.applications

    def claims(self, **changes) -> dict:
        now = int(time.time())
        base = {
            "iss": self.issuer.issuer,
            "aud": self.issuer.audience,
            "sub": "alice",
            "tenant": "demo",
            "roles": ["admin"],
            "token_use": "access",
            "iat": now,
            "exp": now + 600,
        }
        return {k: v for k, v in {**base, **changes}.items() if v is not None}

    def signed(self, key=None, kid=None, **changes) -> str:
        key = key or self.issuer.key
        header = {"alg": "RS256", "kid": kid or self.issuer.key.kid}
        return jwt.encode(header, self.claims(**changes), key, algorithms=["RS256"])

    def all_bad(self) -> dict[str, str]:
        now = int(time.time())
        other_key = RSAKey.generate_key(2048)
        head, payload, sig = self.good.split(".")
        tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        tampered["roles"] = ["admin"]
        tampered["tenant"] = "acme"
        public_pem = self.issuer.key.as_pem(private=False)
        hs_header = b64({"alg": "HS256", "kid": self.issuer.key.kid, "typ": "JWT"})
        hs_body = b64(self.claims())
        hs_sig = hmac.new(public_pem, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest()
        revoked, _ = self.apps.create("demo", "alice", "revoked", "admin")
        revoked_token = self.issuer.issue_application(revoked)["access_token"]
        self.apps.revoke("demo", revoked.id)
        live, _ = self.apps.create("demo", "alice", "live", "admin")
        return {
            "revoked_application": revoked_token,
            "unknown_application": self.signed(sub="edna_c_unknown", client_id="edna_c_unknown"),
            "application_id_token": self.signed(sub=live.client_id, client_id=live.client_id, token_use="id"),
            "application_other_tenant": self.signed(sub=live.client_id, client_id=live.client_id, tenant="acme"),
            "none": "",
            "garbage": "not-a-jwt",
            "expired": self.signed(exp=now - 3600, iat=now - 7200),
            "not_yet_valid": self.signed(nbf=now + 3600),
            "no_expiry": self.signed(exp=None),
            "bad_signature": self.signed(key=other_key),
            "unknown_kid": self.signed(key=other_key, kid="someone-else"),
            "alg_none": f"{b64({'alg': 'none', 'kid': self.issuer.key.kid})}.{b64(self.claims())}.",
            "hs256_with_public_key": f"{hs_header}.{hs_body}.{b64(hs_sig)}",
            "wrong_issuer": self.signed(iss="https://evil.example"),
            "wrong_audience": self.signed(aud="someone-else"),
            "wrong_token_use": self.signed(token_use="id"),
            "tampered_payload": f"{head}.{b64(tampered)}.{sig}",
            "bad_tenant": self.signed(tenant="../acme"),
            "no_tenant": self.signed(tenant=None),
        }


def operations(stack) -> list[tuple[str, str, str]]:
    """(method, path template, required role) of every route that needs a token."""
    spec = requests.get(stack.base_url + "/api/openapi.json", timeout=10).json()
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict) and op.get("security"):
                ops.append((method.upper(), path, op["x-required-role"]))
    assert len(ops) >= 10
    return ops


def fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id for {path}"
    return path


@pytest.fixture
def world(stack):
    """Tenant demo with one of everything: dataset, item, member, model, finished job and comparison."""
    client = stack.client("admin", "demo")
    dataset = client.call("POST", "/api/datasets", json={"name": "secret", "label_classes": ["cat"]})
    item = client.upload(dataset["id"], "x.png", b"png-bytes", "image/png")
    stack.edna.adapters.users.add("bob", "demo", "labeler", "bob-password")
    onnx = models()["digits-logistic-regression"]
    model_ids = [register(client, name, onnx)["id"] for name in ("m1", "m2")]
    comparison = client.call("POST", "/api/comparisons", json={"dataset_id": dataset["id"], "model_ids": model_ids})
    wait_for(client, f"/api/comparisons/{comparison['id']}")  # nothing may still be writing during the checks
    embedder = register(client, "e1", embedding_model(), class_names=[], embedding_output="embedding")
    query = {"model_id": embedder["id"], "filename": "q.png", "content_type": "image/png", "size": 3}
    query_id = client.call("POST", "/api/similar", json=query)["id"]
    # A near-duplicate pass needs a dataset's vectors; its record is what a pass leaves in storage.
    run_id = new_id()
    run = {"id": run_id, "dataset_id": dataset["id"], "model_id": embedder["id"], "status": "failed"}
    stack.edna.blobs.put_bytes(
        layout.duplicates_run("demo", dataset["id"], run_id), json.dumps(run).encode(), "application/json"
    )
    bulk_run = {"id": run_id, "dataset_id": dataset["id"], "action": "label", "status": "failed", "updated_at": 0}
    stack.edna.blobs.put_bytes(
        layout.bulk_run("demo", dataset["id"], run_id), json.dumps(bulk_run).encode(), "application/json"
    )
    account, _ = stack.edna.adapters.applications.create("demo", "admin-demo", "pipeline", "editor")
    ids = {"dataset_id": dataset["id"], "item_id": item["id"], "username": "bob", "account_id": account.id}
    return stack, {
        **ids,
        "model_id": model_ids[0],
        "job_id": comparison["job_ids"][0],
        "comparison_id": comparison["id"],
        "query_id": query_id,
        "run_id": run_id,
        "snapshot_id": client.call("POST", f"/api/datasets/{dataset['id']}/snapshots", json={})["id"],
        **webhook_ids(stack, client),
    }


def webhook_ids(stack, client) -> dict[str, str]:
    """A webhook (on a public address, for an event the checks never cause) and one logged delivery."""
    hook = client.call("POST", "/api/webhooks", json=BODIES[("POST", "/api/webhooks")])
    event = {"id": new_id(), "type": "snapshot.created", "created_at": "", "tenant": "demo", "data": {}}
    delivery = Delivery(newest_first_id(), hook["id"], event, status="failed", attempts=1)
    stack.edna.webhooks.save_delivery("demo", delivery)
    return {"webhook_id": hook["id"], "delivery_id": delivery.id}


# Valid bodies, so a refusal is about the caller and never about the input.
BODIES = {
    ("POST", "/api/datasets"): {"name": "new"},
    ("PATCH", "/api/datasets/{dataset_id}"): {"description": "changed"},
    ("POST", "/api/datasets/{dataset_id}/items"): {
        "filename": "y.png",
        "content_type": "image/png",
        "size": 3,
    },
    ("POST", "/api/datasets/{dataset_id}/items/bulk"): {
        "items": [{"filename": "y.png", "content_type": "image/png", "size": 3}]
    },
    ("POST", "/api/datasets/{dataset_id}/items/complete"): {"item_ids": ["0" * 26]},
    ("POST", "/api/members"): {"username": "newbie", "role": "viewer"},
    ("PATCH", "/api/members/{username}"): {"role": "viewer"},
    ("POST", "/api/models"): {
        "name": "m",
        "class_names": ["a", "b"],
        "input": {"width": 1, "height": 1, "channels": 1},
        "size": 9,
    },
    ("POST", "/api/jobs"): {"dataset_id": "0" * 26, "model_id": "0" * 26},
    ("POST", "/api/comparisons"): {"dataset_id": "0" * 26, "model_ids": ["0" * 26, "1" * 26]},
    ("PUT", "/api/datasets/{dataset_id}/items/{item_id}/label"): {"label": "cat"},
    ("PUT", "/api/datasets/{dataset_id}/items/{item_id}/tags"): {"tags": {"k": "v"}},
    ("POST", "/api/datasets/{dataset_id}/labels"): {"labels": [{"item_id": "x", "label": "cat"}]},
    ("POST", "/api/datasets/{dataset_id}/predictions/accept"): {"model_id": "0" * 26, "dry_run": True},
    ("POST", "/api/similar"): {"model_id": "0" * 26, "filename": "q.png", "content_type": "image/png", "size": 3},
    ("POST", "/api/datasets/{dataset_id}/duplicates"): {"threshold": 0.95},
    ("POST", "/api/datasets/{dataset_id}/snapshots"): {"name": "frozen"},
    ("POST", "/api/datasets/{dataset_id}/bulk/delete"): {"item_ids": ["0" * 26]},
    ("POST", "/api/datasets/{dataset_id}/bulk/tags"): {"item_ids": ["0" * 26], "tags": {"k": "v"}},
    ("POST", "/api/datasets/{dataset_id}/bulk/query"): {"query": {}, "action": "label", "label": None, "dry_run": True},
    ("POST", "/api/datasets/{dataset_id}/label-classes/rename"): {"from": "cat", "to": "kitty"},
    ("POST", "/api/webhooks"): {"url": "http://93.184.216.34/hook", "events": ["snapshot.created"]},
    ("PATCH", "/api/webhooks/{webhook_id}"): {"description": "changed"},
    ("PUT", "/api/datasets/{dataset_id}/items/{item_id}/annotations"): {
        "boxes": [{"label": "cat", "x": 0, "y": 0, "w": 1, "h": 1}],
        "version": 0,
    },
}


def call(stack, method: str, path: str, token: str | None, template: str = ""):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = BODIES.get((method, template), {})
    return requests.request(
        method, stack.base_url + path, headers=headers, json=body, allow_redirects=False, timeout=10
    )


def snapshot(stack) -> tuple:
    """Every key in storage and every member, to prove a refused request wrote nothing."""
    users = stack.edna.adapters.users
    return [o.key for o in stack.edna.blobs.iter_objects("tenants/")], [
        users.list(tenant, 1000, None) for tenant in ("demo", "acme")
    ]


def test_every_route_refuses_bad_tokens(world):
    stack, ids = world
    bad = Forger(stack).all_bad()  # first: its good token makes its member
    before = snapshot(stack)
    for method, template, _ in operations(stack):
        path = fill(template, ids)
        assert call(stack, method, path, None, template).status_code == 401, (method, path, "no header")
        for name, token in bad.items():
            resp = call(stack, method, path, token, template)
            assert resp.status_code == 401, (method, path, name, resp.text)
            assert resp.json()["code"] == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(stack) == before


def test_every_route_refuses_a_role_too_low(world):
    stack, ids = world
    # minted first: a token's member must exist in the member directory
    tokens = {role: stack.token(f"low-{role}", "demo", role) for role in ROLES}
    tokens["none"] = stack.token("x", "demo", "guest")
    before = snapshot(stack)
    for method, template, required in operations(stack):
        below = ROLES[: ROLES.index(required)] or ["none"]
        for role in below:
            token = tokens[role]
            resp = call(stack, method, fill(template, ids), token, template)
            assert resp.status_code == 403, (method, template, role, resp.text)
            assert "role" in resp.json()["message"]
    assert snapshot(stack) == before


# What an application limited to some datasets may still read (service/resources/scope.py).
TENANT_WIDE_READS = {
    ("GET", "/api/me"),
    ("GET", "/api/datasets"),
    ("GET", "/api/models"),
    ("GET", "/api/models/{model_id}"),
}


def application_token(stack, tenant: str, role: str, dataset_ids: list[str] | None = None) -> str:
    app, _ = stack.edna.adapters.applications.create(tenant, "test", f"{tenant}-{role}", role, dataset_ids)
    return stack.edna.adapters.issuer.issue_application(app)["access_token"]


def test_every_route_refuses_an_application_whose_role_is_too_low(world):
    stack, ids = world
    tokens = {role: application_token(stack, "demo", role) for role in ROLES}
    before = snapshot(stack)
    for method, template, required in operations(stack):
        for role in ROLES[: ROLES.index(required)]:
            resp = call(stack, method, fill(template, ids), tokens[role], template)
            assert resp.status_code == 403, (method, template, role, resp.text)
    assert snapshot(stack) == before


def test_an_application_limited_to_other_datasets_reaches_nothing_of_this_one(world):
    """Dataset routes answer 404 as for a missing dataset; tenant-wide ones refuse (403) or, for
    a record of this dataset (a job, a comparison), answer 404."""
    stack, ids = world
    decoy = stack.client("admin", "demo").call("POST", "/api/datasets", json={"name": "decoy"})["id"]
    token = application_token(stack, "demo", "editor", [decoy])
    before = snapshot(stack)
    for method, template, required in operations(stack):
        resp = call(stack, method, fill(template, ids), token, template)
        if required == "admin":
            assert resp.status_code == 403, (method, template, resp.text)
        elif "{dataset_id}" in template:
            assert resp.status_code == 404, (method, template, resp.text)
        elif (method, template) not in TENANT_WIDE_READS:
            assert resp.status_code in (403, 404), (method, template, resp.text)
    assert snapshot(stack) == before


def test_another_tenants_ids_answer_404(world):
    stack, ids = world
    intruder = stack.token("mallory", "acme", "admin")  # first: it makes mallory a member of acme
    intruder_app = application_token(stack, "acme", "admin")
    before = snapshot(stack)
    for method, template, _ in operations(stack):
        if "{" not in template:
            continue
        resp = call(stack, method, fill(template, ids), intruder, template)
        assert resp.status_code == 404, (method, template, resp.text)
        missing = call(stack, method, fill(template, dict.fromkeys(ids, "0" * 26)), intruder, template)
        assert missing.json()["message"] == resp.json()["message"]  # indistinguishable from missing
        as_application = call(stack, method, fill(template, ids), intruder_app, template)
        assert as_application.status_code == 404, (method, template, as_application.text)
    assert snapshot(stack) == before


def test_a_tenant_lists_only_its_own(world):
    stack, _ = world
    intruder = stack.client("admin", "acme")
    assert list(intruder.pages("/api/datasets")) == []
    intruder.call("POST", "/api/datasets", json={"name": "secret"})  # same name, other tenant: fine
    assert [d["name"] for d in stack.client("viewer", "demo").pages("/api/datasets")] == ["secret"]


def test_public_routes_need_no_token(stack):
    for path in ("/api/health", "/api/openapi.json", "/api/auth/jwks", "/"):
        assert requests.get(stack.base_url + path, timeout=10).status_code == 200, path
