"""The audit trail: exactly one entry per mutation of every route in the OpenAPI document, none for
reads or for requests without a principal; filters, pages, tenants and roles; on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urljoin

import pytest
import requests
from digits import embedding_model, fill_digits, models, register, wait_for
from tally import audit_entries, raw

from service.demo import CLASSES, DIGITS_INPUT

MUTATIONS = {"POST", "PUT", "PATCH", "DELETE"}
ZERO = "0" * 26


def spec_operations(stack) -> list[tuple[str, str]]:
    spec = requests.get(stack.base_url + "/api/openapi.json", timeout=10).json()
    return [(m.upper(), path) for path, ops in spec["paths"].items() for m, op in ops.items() if isinstance(op, dict)]


def fill(template: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        template = template.replace("{" + name + "}", value)
    assert "{" not in template, template
    return template


def stored_entries(stack) -> int:
    """Entries as the adapter keeps them: JSONL lines (local) or one part object each (S3)."""
    if stack.store == "local":
        return sum(len(f.read_bytes().splitlines()) for f in (stack.config.data_dir / "audit" / "demo").glob("*.jsonl"))
    return sum(1 for _ in stack.edna.blobs.iter_objects("ledger/demo/audit/"))


class Walk:
    """Requests made as one admin, each remembered with what its audit entry must say."""

    def __init__(self, stack, user: str = "alice"):
        self.stack = stack
        self.user = user
        self.token = stack.token(user, "demo", "admin")
        self.done: list[dict] = []

    def call(self, method, template, ids=None, expect=(200,), created=None, headers=None, **kwargs) -> dict:
        ids = ids or {}
        resp = raw(self.stack, method, fill(template, ids), self.token, headers=headers or {}, **kwargs)
        assert resp.status_code in expect, (method, template, resp.status_code, resp.text)
        body = resp.json() if resp.content else {}
        target = dict(ids)
        if created:
            target["created"] = created(body)
        self.done.append({"action": f"{method} {template}", "response": resp, "target": target})
        return body


@pytest.fixture
def world(stack):
    """Tenant demo with a kept dataset and item, a digits dataset and an available model."""
    admin = stack.client("admin", "demo", user="alice")
    kept = admin.call("POST", "/api/datasets", json={"name": "kept", "label_classes": ["cat", "dog"]})
    item = admin.upload(kept["id"], "kept.png", b"png-bytes", "image/png")
    digits = admin.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})
    fill_digits(stack, digits["id"], 3)
    model = register(admin, "lr", models()["digits-logistic-regression"])
    embedder = register(admin, "embed", embedding_model(), class_names=[], embedding_output="embedding")
    stack.edna.adapters.users.add("bob", "demo", "admin", "bob-password")
    ids = {"kept": kept["id"], "item": item["id"], "digits": digits["id"], "model": model["id"]}
    return stack, {**ids, "embedder": embedder["id"]}


def send(stack, upload: dict, data: bytes) -> requests.Response:
    """The transfer to a signed URL: the app's own /api/blobs/ route (local) or moto (S3)."""
    sent = requests.put(urljoin(stack.base_url, upload["url"]), data=data, headers=upload["headers"], timeout=10)
    assert sent.status_code == 200, sent.text
    return sent


def walk_every_mutation(stack, ids: dict) -> Walk:
    w = Walk(stack)
    offered = {"X-Request-Id": "audit-test-offered-0001"}
    w.call("POST", "/api/members", expect=(201,), json={"username": "newbie", "role": "viewer"}, headers=offered)
    w.call("PATCH", "/api/members/{username}", {"username": "newbie"}, json={"role": "editor"})
    w.call("DELETE", "/api/members/{username}", {"username": "newbie"}, expect=(204,))

    walked = w.call("POST", "/api/datasets", expect=(201,), created=lambda b: b["id"], json={"name": "walked"})
    w.call("PATCH", "/api/datasets/{dataset_id}", {"dataset_id": walked["id"]}, json={"description": "changed"})

    kept = {"dataset_id": ids["kept"]}
    body = {"filename": "w.png", "content_type": "image/png", "size": 5}
    ticket = w.call(
        "POST", "/api/datasets/{dataset_id}/items", kept, expect=(201,), created=lambda b: b["item"]["id"], json=body
    )
    sent = send(stack, ticket["upload"], b"12345")
    item = {**kept, "item_id": ticket["item"]["id"]}
    w.call("POST", "/api/datasets/{dataset_id}/items/{item_id}/complete", item, json={})
    batch = {"items": [{"filename": "b.png", "content_type": "image/png", "size": 5}]}
    batched = w.call("POST", "/api/datasets/{dataset_id}/items/bulk", kept, json=batch)["results"][0]
    send(stack, batched["upload"], b"12345")
    w.call("POST", "/api/datasets/{dataset_id}/items/complete", kept, json={"item_ids": [batched["item"]["id"]]})
    w.call("PUT", "/api/datasets/{dataset_id}/items/{item_id}/label", item, json={"label": "cat"})
    w.call("PUT", "/api/datasets/{dataset_id}/items/{item_id}/tags", item, json={"tags": {"k": "v"}})
    box = {"label": "cat", "x": 0, "y": 0, "w": 1, "h": 1}
    w.call("PUT", "/api/datasets/{dataset_id}/items/{item_id}/annotations", item, json={"boxes": [box], "version": 0})
    bulk = {"labels": [{"item_id": item["item_id"], "label": "dog"}]}
    w.call("POST", "/api/datasets/{dataset_id}/labels", kept, json=bulk)
    accept = {"model_id": ids["model"], "item_ids": [item["item_id"]]}
    w.call("POST", "/api/datasets/{dataset_id}/predictions/accept", kept, json=accept)
    w.call("POST", "/api/datasets/{dataset_id}/mistakes/{item_id}/dismiss", item, expect=(204,))
    tags = {"item_ids": [item["item_id"]], "tags": {"seen": "twice"}}
    w.call("POST", "/api/datasets/{dataset_id}/bulk/tags", kept, json=tags)
    w.call("POST", "/api/datasets/{dataset_id}/bulk/delete", kept, json={"item_ids": [ZERO]})  # a 404 entry
    # a count is audited like the change; a change's run adds its own entry when it ends (test_bulk_query)
    counted = {"query": {"label": "cat"}, "action": "label", "label": "dog", "dry_run": True}
    w.call("POST", "/api/datasets/{dataset_id}/bulk/query", kept, json=counted)
    rename = {"from": "cow", "to": "ox"}  # refused in its view (not a class): still one entry
    w.call("POST", "/api/datasets/{dataset_id}/label-classes/rename", kept, expect=(400,), json=rename)
    query = {"model_id": ids["embedder"], "filename": "q.png", "content_type": "image/png", "size": 5}
    w.call("POST", "/api/similar", expect=(201,), created=lambda b: b["id"], json=query)
    # a pass over a dataset without vectors is refused in its view: still one entry
    w.call("POST", "/api/datasets/{dataset_id}/duplicates", kept, expect=(409,), json={"threshold": 0.95})
    w.call("DELETE", "/api/datasets/{dataset_id}/items/{item_id}", item, expect=(204,))

    onnx = models()["digits-logistic-regression"]
    spec = {"name": "walked", "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    ticket = w.call("POST", "/api/models", expect=(201,), created=lambda b: b["model"]["id"], json=spec)
    send(stack, ticket["upload"], onnx)
    model = {"model_id": ticket["model"]["id"]}
    w.call("POST", "/api/models/{model_id}/complete", model, json={})
    w.call("DELETE", "/api/models/{model_id}", model, expect=(204,))

    run = {"dataset_id": ids["digits"], "model_id": ids["model"]}
    job = w.call("POST", "/api/jobs", expect=(202,), created=lambda b: b["id"], json=run)
    ids["job"] = job["id"]
    w.call("POST", "/api/jobs/{job_id}/cancel", {"job_id": job["id"]}, expect=(202, 409))
    # a comparison that reaches its view and is refused (an unknown model): still one entry, "refused"
    compare = {"dataset_id": ids["digits"], "model_ids": [ids["model"], ZERO]}
    w.call("POST", "/api/comparisons", expect=(404,), json=compare)
    snapshot = w.call(
        "POST", "/api/datasets/{dataset_id}/snapshots", kept, expect=(201,), created=lambda b: b["id"], json={}
    )
    w.call(
        "DELETE",
        "/api/datasets/{dataset_id}/snapshots/{snapshot_id}",
        {**kept, "snapshot_id": snapshot["id"]},
        expect=(204,),
    )
    app = w.call(
        "POST", "/api/service-accounts", expect=(201,), created=lambda b: b["id"], json={"name": "ci", "role": "viewer"}
    )
    w.call("DELETE", "/api/service-accounts/{account_id}", {"account_id": app["id"]}, expect=(204,))
    # refused in their views (a loopback URL, ids that name nothing): still one entry each
    w.call("POST", "/api/webhooks", expect=(400,), json={"url": "http://127.0.0.1:9/hook", "events": ["label.changed"]})
    hook = {"webhook_id": ZERO}
    w.call("PATCH", "/api/webhooks/{webhook_id}", hook, expect=(404,), json={"active": False})
    w.call("DELETE", "/api/webhooks/{webhook_id}", hook, expect=(404,))
    redeliver = "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
    w.call("POST", redeliver, {**hook, "delivery_id": ZERO}, expect=(404,))
    deleted = {"dataset_id": walked["id"]}  # its deletion is what the 202 created
    w.call("DELETE", "/api/datasets/{dataset_id}", deleted, expect=(202,), created=lambda b: b["id"])
    return w, [sent]


def test_every_mutation_leaves_exactly_one_entry_and_reads_none(world):
    stack, ids = world
    admin = stack.client("admin", "demo", user="alice")
    before = audit_entries(admin)
    started = datetime.now(UTC)
    w, transfers = walk_every_mutation(stack, ids)
    finished = datetime.now(UTC)

    # no principal: not audited
    tokenless = {("POST", "/api/auth/token"), ("POST", "/api/auth/password"), ("POST", "/api/auth/service-token")}
    mutations = {(m, p) for m, p in spec_operations(stack) if m in MUTATIONS} - tokenless
    assert {tuple(d["action"].split(" ", 1)) for d in w.done} == mutations, "a mutating route is not walked"

    after = audit_entries(admin)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert len(new) == len(w.done)
    by_request = {e["request_id"]: e for e in new}
    assert len(by_request) == len(new)
    for done in w.done:
        resp = done["response"]
        entry = by_request[resp.headers["X-Request-Id"]]
        status = resp.status_code
        assert entry["action"] == done["action"], entry
        assert entry["target"] == done["target"], entry
        assert (entry["tenant"], entry["actor"], entry["status"]) == ("demo", "alice", status), entry
        assert entry["outcome"] == ("ok" if status < 400 else "refused"), entry
        assert started <= datetime.fromisoformat(entry["time"]) <= finished and entry["ms"] >= 0
    # the request id is the server's own; the client's is kept beside it
    offered = by_request[w.done[0]["response"].headers["X-Request-Id"]]
    assert offered["request_id"] != "audit-test-offered-0001"
    assert offered["client_request_id"] == "audit-test-offered-0001"
    assert [e["outcome"] for e in new].count("refused") >= 1
    assert [e["time"] for e in after] == sorted(e["time"] for e in after)  # oldest first
    assert stored_entries(stack) == len(after)

    # no entry for a read of any route, nor for requests without a principal
    unaudited = []
    read_ids = {"dataset_id": ids["kept"], "item_id": ids["item"], "model_id": ids["model"], "job_id": ids["job"]}
    # none were made: a read answered 404 is a read all the same
    read_ids.update(comparison_id=ZERO, query_id=ZERO, run_id=ZERO, snapshot_id=ZERO, webhook_id=ZERO, delivery_id=ZERO)
    token = stack.token("alice", "demo", "admin")
    gets = [p for m, p in spec_operations(stack) if m == "GET"]
    assert "/api/audit" in gets and "/api/usage" in gets
    for path in gets:
        resp = raw(stack, "GET", fill(path, read_ids), token)
        assert resp.status_code < 500, (path, resp.text)
        unaudited.append(resp)
    unaudited.append(raw(stack, "POST", "/api/datasets", None, json={"name": "no token"}))  # 401
    unaudited.append(raw(stack, "DELETE", f"/api/datasets/{ids['kept']}", "not-a-token"))  # 401
    login = raw(stack, "POST", "/api/auth/token", json={"username": "bob", "password": "bob-password"})
    assert login.status_code == 200
    wrong = raw(stack, "POST", "/api/auth/token", json={"username": "bob", "password": "wrong"})
    assert wrong.status_code == 401
    unaudited += [login, wrong, *transfers]
    assert all(r.headers.get("X-Request-Id") for r in unaudited if r.url.startswith(stack.base_url))
    final = audit_entries(admin)
    assert final == after
    seen = {e["request_id"] for e in final}
    assert not seen & {r.headers.get("X-Request-Id") for r in unaudited}
    if stack.store == "local":  # the signed-URL routes are the app's own there, and unaudited
        assert transfers[0].url.startswith(stack.base_url + "/api/blobs/")

    wait_for(admin, f"/api/jobs/{ids['job']}")  # nothing may still be writing when the stack closes


def test_filters_pages_tenants_and_roles(stack):
    def admin(user):
        return stack.client("admin", "demo", user=user)

    alice, carol = admin("alice"), admin("carol")
    made = [alice.call("POST", "/api/datasets", json={"name": f"d{n}"}) for n in range(3)]
    carol.call("PATCH", f"/api/datasets/{made[0]['id']}", json={"description": "by carol"})
    stack.client("editor", "demo", user="eddie").call("POST", "/api/datasets", json={"name": "e"})
    denied = raw(stack, "DELETE", f"/api/datasets/{made[1]['id']}", stack.token("eddie", "demo", "editor"))
    assert denied.status_code == 403  # a verified caller whose role is too low: audited, refused

    everything = audit_entries(alice)
    assert [(e["actor"], e["action"], e["status"]) for e in everything] == [
        ("alice", "POST /api/datasets", 201),
        ("alice", "POST /api/datasets", 201),
        ("alice", "POST /api/datasets", 201),
        ("carol", "PATCH /api/datasets/{dataset_id}", 200),
        ("eddie", "POST /api/datasets", 201),
        ("eddie", "DELETE /api/datasets/{dataset_id}", 403),
    ]
    assert everything[-1]["outcome"] == "refused" and everything[-1]["request_id"] == denied.headers["X-Request-Id"]
    assert [e["actor"] for e in audit_entries(alice, actor="carol")] == ["carol"]
    assert len(audit_entries(alice, actor="alice")) == 3 and audit_entries(alice, actor="nobody") == []
    assert len(audit_entries(alice, action="POST /api/datasets")) == 4
    assert audit_entries(alice, action="POST /api/datasets", actor="eddie") == [everything[4]]
    assert audit_entries(alice, action="DELETE /api/datasets/{dataset_id}") == [everything[5]]

    # from is inclusive, to exclusive; any offset means the same instant
    times = [datetime.fromisoformat(e["time"]) for e in everything]
    assert audit_entries(alice, **{"from": times[1].isoformat(), "to": times[3].isoformat()}) == everything[1:3]
    east = timezone(timedelta(hours=2))
    shifted = {"from": times[1].astimezone(east).isoformat(), "to": times[3].astimezone(east).isoformat()}
    assert shifted["from"].endswith("+02:00")
    assert audit_entries(alice, **shifted) == everything[1:3]
    zulu = {"from": times[4].strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    assert audit_entries(alice, **zulu) == everything[4:]
    assert audit_entries(alice, to=times[0].isoformat()) == []
    assert audit_entries(alice, **{"from": "2001-01-01", "to": "2001-01-08"}) == []

    # pages of 2, oldest first, ending with no cursor
    pages, params = [], {"limit": 2}
    while True:
        body = alice.call("GET", "/api/audit", params=params)
        pages.append(body["items"])
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 2] and [e for p in pages for e in p] == everything
    assert list(alice.pages("/api/audit", limit=1, actor="alice")) == everything[:3]

    token = stack.token("alice", "demo", "admin")
    for params in ({"cursor": "garbage"}, {"from": "yesterday"}, {"from": "2026-02-01", "to": "2026-01-01"}):
        assert raw(stack, "GET", "/api/audit", token, params=params).status_code == 400, params
    assert raw(stack, "GET", "/api/audit", token, params={"limit": 0}).status_code == 422
    # another tenant's admin sees none of it; non-admins see nothing at all
    assert audit_entries(stack.client("admin", "acme")) == []
    for role in ("viewer", "labeler", "editor"):
        resp = raw(stack, "GET", "/api/audit", stack.token(f"{role}-demo", "demo", role))
        assert resp.status_code == 403 and "admin" in resp.json()["message"]


def test_the_trail_is_off_with_metering(stack_over, tmp_path):
    with stack_over("local", tmp_path, metering=False) as stack:
        admin = stack.client("admin")
        admin.call("POST", "/api/datasets", json={"name": "d"})
        resp = raw(stack, "GET", "/api/audit", stack.token("alice", "demo", "admin"))
        assert resp.status_code == 404 and "EDNA_METERING" in resp.json()["message"]
        assert resp.headers["X-Request-Id"]
        usage = admin.call("GET", "/api/usage")
        assert usage["requests"]["total"] == 0 and usage["uploads"] == {"items": 0, "bytes": 0}
        assert not (tmp_path / "audit").exists() and not (tmp_path / "usage.db").exists()
        assert usage["stored"] == {"items": 0, "bytes": 0}
