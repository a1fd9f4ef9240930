"""Strings a user controls stay inert where they land: CSV exports, the audit trail."""

from __future__ import annotations

import csv
import io
import json

import requests
from attack_harness import FORMULAS

pytest_plugins = ["attack_harness"]


def test_csv_export_cells_are_never_formulas(target):
    tenant = target.tenant()
    editor, labeler, viewer = (tenant.clients[r] for r in ("editor", "labeler", "viewer"))
    dataset = editor.call("POST", "/api/datasets", json={"name": "d"})
    for n, formula in enumerate(FORMULAS):
        item = editor.upload(dataset["id"], f"{formula}{n}.txt", b"x", "text/plain")
        path = f"/api/datasets/{dataset['id']}/items/{item['id']}"
        labeler.call("PUT", path + "/label", json={"label": formula})
        labeler.call("PUT", path + "/tags", json={"tags": {"note": formula}})

    resp = viewer.session.get(
        f"{target.base_url}/api/datasets/{dataset['id']}/export",
        params={"format": "csv"},
        headers={"Authorization": f"Bearer {viewer.token}"},
        timeout=60,
    )
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == len(FORMULAS)
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
    assert sorted(r["label"] for r in rows) == sorted("'" + f for f in FORMULAS)
    # JSON carries the values as they are: nothing evaluates JSON
    jsonl = viewer.session.get(
        f"{target.base_url}/api/datasets/{dataset['id']}/export",
        params={"format": "jsonl"},
        headers={"Authorization": f"Bearer {viewer.token}"},
        timeout=60,
    )
    assert sorted(json.loads(line)["label"] for line in jsonl.text.splitlines()) == sorted(FORMULAS)


def test_audit_request_ids_are_the_servers(target):
    tenant = target.tenant()
    editor, admin = tenant.clients["editor"], tenant.clients["admin"]
    chosen = {"Authorization": f"Bearer {editor.token}", "X-Request-Id": "forged-request-id-0001"}
    answers = [
        requests.post(f"{target.base_url}/api/datasets", json={"name": f"d{n}"}, headers=chosen, timeout=60)
        for n in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    ids = [a.headers["X-Request-Id"] for a in answers]
    assert len(set(ids)) == 2 and "forged-request-id-0001" not in ids
    entries = [e for e in admin.pages("/api/audit", action="POST /api/datasets") if e["request_id"] in ids]
    assert len(entries) == 2
    assert {e["client_request_id"] for e in entries} == {"forged-request-id-0001"}
