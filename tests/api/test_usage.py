"""`GET /api/usage` and `python -m service usage`: exact figures after a scripted sequence, on both stores."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from digits import digits, fill_digits, models, register, wait_for
from tally import TalliedClient, Tally, raw

from service.demo import CLASSES

BINARY = "application/octet-stream"
UPLOADS = [b"a" * 3, b"b" * 10, b"c" * 1000]  # completed through the API
PENDING = 7  # requested, never sent
JOB_ITEMS = 12


def usage(client, **params) -> dict:
    return client.call("GET", "/api/usage", params=params)


@pytest.fixture
def scripted(stack):
    """Tenant demo after known requests, uploads and one job; returns what the tally and the data say."""
    tally = Tally(stack.base_url)
    admin = TalliedClient(stack.base_url, stack.token("alice", "demo", "admin"), tally)
    assert usage(admin)["requests"] == {"total": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}

    dataset = admin.call("POST", "/api/datasets", json={"name": "uploads"})
    assert admin.raw("GET", "/api/datasets/" + "0" * 26).status_code == 404
    assert admin.raw("POST", "/api/datasets", json={}).status_code == 422
    viewer = TalliedClient(stack.base_url, stack.token("victor", "demo", "viewer"), tally)
    assert viewer.raw("GET", "/api/usage").status_code == 403  # a verified caller: metered, though refused
    items = [admin.upload(dataset["id"], f"u{n}.bin", data, BINARY) for n, data in enumerate(UPLOADS)]
    again = admin.raw("POST", f"/api/datasets/{dataset['id']}/items/{items[0]['id']}/complete", json={})
    assert again.status_code == 200 and again.json()["status"] == "available"  # counted once only
    ticket = admin.call(
        "POST",
        f"/api/datasets/{dataset['id']}/items",
        json={"filename": "never.bin", "content_type": BINARY, "size": PENDING},
    )
    assert ticket["item"]["status"] == "pending"
    download = admin.raw("GET", f"/api/datasets/{dataset['id']}/items/{items[1]['id']}/download")
    assert download.status_code == 302

    job_dataset = admin.call("POST", "/api/datasets", json={"name": "digits", "label_classes": CLASSES})
    fill_digits(stack, job_dataset["id"], JOB_ITEMS)  # straight into storage: no request, no upload
    model = register(admin, "lr", models()["digits-logistic-regression"])
    job = admin.call("POST", "/api/jobs", json={"dataset_id": job_dataset["id"], "model_id": model["id"]})
    done = wait_for(admin, f"/api/jobs/{job['id']}")
    assert done["status"] == "succeeded" and done["progress"]["done"] == JOB_ITEMS

    model_bytes = len(models()["digits-logistic-regression"])  # model files count as stored bytes
    stored_bytes = sum(map(len, UPLOADS)) + PENDING + sum(len(png) for _, png, _ in digits()[:JOB_ITEMS]) + model_bytes
    return stack, admin, tally, done, stored_bytes


def test_usage_figures_are_exact(scripted):
    stack, admin, tally, job, stored_bytes = scripted
    expected = tally.expected()  # before the report request, which counts once it has answered
    report = usage(admin)
    assert report["tenant"] == "demo"
    assert report["requests"] == expected
    assert report["requests"]["3xx"] == 1 and report["requests"]["4xx"] == 3 and report["requests"]["5xx"] == 0
    assert report["uploads"] == {"items": len(UPLOADS), "bytes": sum(map(len, UPLOADS))}
    assert report["stored"] == {"items": len(UPLOADS) + 1 + JOB_ITEMS, "bytes": stored_bytes}
    assert report["inference"]["jobs"] == 1 and report["inference"]["items"] == JOB_ITEMS
    assert report["inference"]["seconds"] == pytest.approx(job["metrics"]["compute_seconds"], abs=0.001)
    assert report["inference"]["seconds"] > 0

    # the usage request itself counts, once its answer is out
    expected = tally.expected()
    again = usage(admin)
    assert again["requests"] == expected and again["requests"]["total"] == report["requests"]["total"] + 1

    # a period before any of this: no requests, uploads or jobs in it, the holdings are those of now
    past = usage(admin, **{"from": "2001-01-01", "to": "2001-01-02T00:00:00Z"})
    assert (past["from"], past["to"]) == ("2001-01-01T00:00:00Z", "2001-01-02T00:00:00Z")
    assert past["requests"]["total"] == 0 and past["uploads"] == {"items": 0, "bytes": 0}
    assert past["inference"] == {"jobs": 0, "items": 0, "seconds": 0} and past["stored"] == report["stored"]

    # another tenant's usage is its own: none of the above
    other = usage(stack.client("admin", "acme"))
    assert other["tenant"] == "acme"
    assert other["requests"] == {"total": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    assert other["uploads"] == other["stored"] == {"items": 0, "bytes": 0}
    assert other["inference"] == {"jobs": 0, "items": 0, "seconds": 0}
    expected = tally.expected()
    assert usage(admin)["requests"] == expected  # acme's requests are not demo's

    if stack.store == "local":
        check_the_usage_command(stack, usage(admin))


@pytest.mark.parametrize("role", ["viewer", "labeler", "editor"])
def test_usage_is_for_admins(stack, role):
    resp = raw(stack, "GET", "/api/usage", stack.token("someone", "demo", role))
    assert resp.status_code == 403 and "admin" in resp.json()["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2026-01-01", "to": "2026-01-01"},
    ],
)
def test_bad_periods_are_refused_and_change_nothing_but_the_count(local_stack, params):
    stack = local_stack
    tally = Tally(stack.base_url)
    admin = TalliedClient(stack.base_url, stack.token("alice", "demo", "admin"), tally)
    before = usage(admin)
    resp = admin.raw("GET", "/api/usage", params=params)
    assert resp.status_code == 400 and ("from" in resp.json()["message"] or "to" in resp.json()["message"])
    expected = tally.expected()
    after = usage(admin)
    assert after["requests"] == expected and after["requests"]["4xx"] == 1
    assert {k: v for k, v in after.items() if k not in ("requests", "to")} == {
        k: v for k, v in before.items() if k not in ("requests", "to")
    }


def check_the_usage_command(stack, report: dict) -> None:
    """`python -m service usage` over the same data dir prints the figures the API just showed."""
    stack.edna.meter.flush()  # what the server counted is in SQLite before another process reads it
    command = [sys.executable, "-m", "service", "usage", "--tenant", "demo", "--data-dir", str(stack.config.data_dir)]
    out = subprocess.run([*command, "--csv"], capture_output=True, text=True, check=True).stdout
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["tenant"] == "demo"
    figures = {k: float(v) for k, v in row.items() if k not in ("tenant", "from", "to")}
    assert figures == {
        "requests": report["requests"]["total"] + 1,  # the report request above, counted after it answered
        "requests_2xx": report["requests"]["2xx"] + 1,
        "requests_3xx": report["requests"]["3xx"],
        "requests_4xx": report["requests"]["4xx"],
        "requests_5xx": 0,
        "uploaded_items": report["uploads"]["items"],
        "uploaded_bytes": report["uploads"]["bytes"],
        "stored_items": report["stored"]["items"],
        "stored_bytes": report["stored"]["bytes"],
        "inference_jobs": 1,
        "inference_items": JOB_ITEMS,
        "inference_seconds": pytest.approx(report["inference"]["seconds"], abs=0.001),
    }
    human = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "usage of tenant demo" in human and f"{report['stored']['bytes']:,}" in human
