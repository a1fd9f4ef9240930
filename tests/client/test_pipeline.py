"""The pipeline issue 15 promises, end to end against a real `python -m service run` on both blob
stores: an application signs in, pushes a folder, is told when a label changes (a signed webhook),
snapshots the dataset, and pulls exactly that snapshot after later relabels, overwrites and deletes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import STORES, s3_client
from edna_client.paths import local_files
from real_server import Server, add_user

from service.demo import digit_pngs

EDNA = str(Path(sys.executable).with_name("edna"))
DEADLINE = 60  # seconds for a delivery or a command here (a bound, not a measurement)


class Receiver:
    """A webhook endpoint on loopback that keeps the deliveries whose signature verifies."""

    def __init__(self):
        self.secret = b""
        self.received: queue.Queue[dict] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # The few lines a receiver writes: t and v1 from the header, HMAC over "<t>.<body>".
                fields = dict(part.split("=", 1) for part in self.headers["Edna-Signature"].split(","))
                expected = hmac.new(receiver.secret, f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected, fields["v1"]):
                    receiver.received.put(json.loads(body))
                self.send_response(204 if hmac.compare_digest(expected, fields["v1"]) else 400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def next(self, kind: str) -> dict:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                event = self.received.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event["type"] == kind:
                return event
        raise AssertionError(f"no {kind} delivered")


@pytest.fixture(params=STORES)
def server(request, tmp_path, moto_endpoint: str) -> Iterator[Server]:
    env = {"EDNA_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    if request.param == "s3":
        bucket = f"edna-pipeline-{uuid.uuid4().hex[:12]}"
        s3 = s3_client(moto_endpoint)
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        env |= {"EDNA_STORAGE": "s3", "EDNA_S3_BUCKET": bucket, "EDNA_S3_ENDPOINT_URL": moto_endpoint}
        env |= {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    add_user(data_dir, "boss", "acme", "admin")
    running = Server(data_dir, env).start()
    running.store = request.param
    try:
        yield running
    finally:
        running.kill()


def tree(root: Path) -> dict[str, bytes]:
    return {str(rel): path.read_bytes() for rel, path in local_files(root)}


def test_an_application_pushes_is_told_snapshots_and_pulls_exactly_that_snapshot(server, tmp_path):
    admin = server.client("boss", "boss-secret-password")
    app = admin.call("POST", "/api/service-accounts", json={"name": "training pipeline", "role": "editor"})
    receiver = Receiver()
    hook = admin.call("POST", "/api/webhooks", json={"url": receiver.url, "events": ["label.changed"]})
    receiver.secret = hook["secret"].encode()

    folder = tmp_path / "digits"
    for i, (name, png, _) in enumerate(digit_pngs()[:12]):
        (folder / ("" if i < 8 else "val")).mkdir(parents=True, exist_ok=True)
        (folder / ("" if i < 8 else "val") / name).write_bytes(png)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
    env |= {"EDNA_URL": server.base_url, "EDNA_CLIENT_ID": app["client_id"], "EDNA_CLIENT_SECRET": app["client_secret"]}

    def edna(*args: str) -> str:
        done = subprocess.run([EDNA, *args], env=env, capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert edna("push", str(folder), "--dataset", "pipeline") == "12 uploaded, 0 skipped, 0 resumed, 0 failed"
    dataset = next(d for d in admin.pages("/api/datasets") if d["name"] == "pipeline")["id"]
    items = {i["filename"]: i["id"] for i in admin.pages(f"/api/datasets/{dataset}/items")}

    first = items["digit-0000.png"]
    admin.call("PUT", f"/api/datasets/{dataset}/items/{first}/label", json={"label": "zero"})
    event = receiver.next("label.changed")
    assert event["tenant"] == "acme" and event["data"]["item_id"] == first and event["data"]["label"] == "zero"

    token = admin.call("POST", "/api/auth/service-token", json={k: app[k] for k in ("client_id", "client_secret")})
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    snapshot = admin.session.post(
        f"{server.base_url}/api/datasets/{dataset}/snapshots", json={"name": "train-v1"}, headers=headers, timeout=30
    )
    assert snapshot.status_code == 201, snapshot.text
    snapshot = snapshot.json()
    assert snapshot["item_count"] == 12

    # After the snapshot: a relabel, an item deleted (locally: moto refuses a plain signed GET of a
    # version whose key's latest is a delete marker; tests/api/test_snapshots.py covers S3's deletes),
    # another one uploaded.
    admin.call("PUT", f"/api/datasets/{dataset}/items/{first}/label", json={"label": "not-zero"})
    deleted = [items["digit-0001.png"]] if server.store == "local" else []
    for item_id in deleted:
        admin.call("DELETE", f"/api/datasets/{dataset}/items/{item_id}")
    admin.upload(dataset, "late.png", b"arrived after the snapshot", "image/png")

    assert edna("pull", "--dataset", "pipeline", "--snapshot", snapshot["id"], str(tmp_path / "out")).endswith(
        "0 failed"
    )
    assert tree(tmp_path / "out") == tree(folder)
    diff = admin.call("GET", f"/api/datasets/{dataset}/snapshots/{snapshot['id']}/diff?against=current")
    assert diff["removed"] == deleted and diff["relabelled"] == [first] and len(diff["added"]) == 1
