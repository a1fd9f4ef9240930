"""The commands `make run` is made of, run as a newcomer runs them: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import requests
from sklearn.datasets import load_digits

from service.client import EdnaClient
from service.demo import digit_filename, planted_mistakes


def test_run_serves_health_api_docs_and_ui(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--port", "0", "--data-dir", str(tmp_path), "--no-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "Edna is running on http://127.0.0.1:" in line, line
        base = line.split("running on ")[1].split()[0]
        health = requests.get(base + "/api/health", timeout=10)
        assert health.json()["status"] == "ok"
        assert "Edna" in requests.get(base + "/", timeout=10).text
        assert requests.get(base + "/api/openapi.json", timeout=10).json()["info"]["title"] == "Edna"
        assert requests.get(base + "/api/docs", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not (tmp_path / "demo-credentials.json").exists()


def test_seed_demo_is_idempotent(tmp_path):
    command = [sys.executable, "-m", "service", "seed-demo", "--data-dir", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "1797 items, 1797 new" in first and "registered model 'digits-random-forest'" in first
    assert "registered model 'digits-embed'" in first  # the embedding model: similar items and the map
    assert "but 36 on purpose with a wrong one" in first and first.count("demo: started a job of") == 3
    # Made off the request path, yet all there when seed-demo ends: it waits for the thumbnail worker.
    assert len(list((tmp_path / "blobs" / "objects").rglob("thumbnails/*/*.webp"))) == 1797
    passwords = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert set(passwords) == {"alice", "bob", "victor", "mallory"}
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0
    for name, password in passwords.items():
        assert password in first, name
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "blobs" / "objects").rglob("*"))
    second = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "1797 items, 0 new" in second and "registered model" not in second and "labeled" not in second
    assert "started a job" not in second
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "blobs" / "objects").rglob("*")) == before
    assert passwords == json.loads((tmp_path / "demo-credentials.json").read_text())
    _check_demo(tmp_path, passwords)


def _check_demo(data_dir, passwords):
    """The seeded world as its users see it, on a fresh server over the same data dir."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--port", "0", "--data-dir", str(data_dir), "--no-demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().split("running on ")[1].split()[0]
        roles = {"alice": ["admin"], "bob": ["labeler"], "victor": ["viewer"], "mallory": ["admin"]}
        for user, expected in roles.items():
            client = EdnaClient(base)
            client.login(user, passwords[user])
            assert client.call("GET", "/api/me")["roles"] == expected
        victor = EdnaClient(base)
        victor.login("victor", passwords["victor"])
        (digits,) = list(victor.pages("/api/datasets"))
        assert digits["name"] == "digits" and digits["item_count"] == 1797
        assert digits["label_classes"] == [str(d) for d in range(10)]
        planted = planted_mistakes()
        truth = {digit_filename(n): str(target) for n, target in enumerate(load_digits().target)}
        assert digits["label_counts"] == Counter((truth | planted).values())
        labels = {item["filename"]: item["label"] for item in victor.pages(f"/api/datasets/{digits['id']}/items")}
        assert labels == truth | planted
        jobs = list(victor.pages("/api/jobs"))
        first = next(victor.pages(f"/api/datasets/{digits['id']}/items"))
        demo_models = ["digits-embed", "digits-logistic-regression", "digits-random-forest"]
        assert sorted(j["model_name"] for j in jobs) == demo_models
        assert {j["dataset_id"] for j in jobs} == {digits["id"]}
        models = {m["name"]: m["status"] for m in victor.pages("/api/models")}
        assert models == dict.fromkeys(demo_models, "available")
        # The embedding job's vectors are searchable once it has finished (similar items, the map).
        embed = next(j for j in jobs if j["model_name"] == "digits-embed")
        deadline = time.monotonic() + 240
        while victor.call("GET", f"/api/jobs/{embed['id']}")["status"] != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while not victor.call("GET", f"/api/datasets/{digits['id']}/embeddings")["items"]:
            assert time.monotonic() < deadline, "the demo's embeddings never became searchable"
            time.sleep(0.5)
        similar = victor.call("GET", f"/api/datasets/{digits['id']}/items/{first['id']}/similar", params={"k": 8})
        same = sum(i["label"] == first["label"] for i in similar["items"])
        assert len(similar["items"]) == 8 and same >= 5
        png = requests.get(victor.url(first["download_url"]), timeout=10)
        assert png.content.startswith(b"\x89PNG") and png.headers["Content-Type"] == "image/png"
        mallory = EdnaClient(base)
        mallory.login("mallory", passwords["mallory"])
        assert list(mallory.pages("/api/datasets")) == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
