"""The `edna` console script and the Python client against a real `python -m service run`, on both blob stores."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import STORES, s3_client
from edna_client import Edna
from edna_client.paths import filename_of, local_files
from real_server import Server, add_user

from service.client import EdnaClient
from service.demo import CLASSES, DIGITS_INPUT, digit_models, digit_pngs
from service.settings import MiB

EDNA = str(Path(sys.executable).with_name("edna"))  # the console script `pip install ./clients/python` made
DEADLINE = 120  # seconds a push or a job may take here (a bound, not a measurement)
LARGE = 9 * MiB  # above the multipart threshold set below (two parts), and streamed when pulled


@dataclass
class World:
    server: Server
    store: str
    env: dict[str, str]
    user: str
    password: str
    admin: EdnaClient

    def edna(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """The console script, signed in with the password from the environment."""
        done = subprocess.run([EDNA, *args], env={**self.env, **env}, capture_output=True, text=True, timeout=DEADLINE)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([EDNA, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> Edna:
        return Edna(self.server.base_url, username=self.user, password=self.password)


@pytest.fixture(scope="module", params=STORES)
def world(request, tmp_path_factory, moto_endpoint: str) -> Iterator[World]:
    server_env = {"EDNA_MULTIPART_THRESHOLD": str(6 * MiB), "EDNA_MULTIPART_PART_SIZE": str(5 * MiB)}
    if request.param == "s3":
        bucket = f"edna-client-{uuid.uuid4().hex[:12]}"
        s3 = s3_client(moto_endpoint)
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # for snapshots
        server_env |= {"EDNA_STORAGE": "s3", "EDNA_S3_BUCKET": bucket, "EDNA_S3_ENDPOINT_URL": moto_endpoint}
        server_env |= {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    data_dir = tmp_path_factory.mktemp(f"client-{request.param}") / "data"
    data_dir.mkdir()
    user, password = add_user(data_dir, "ml", "acme", "editor")
    admin = add_user(data_dir, "boss", "acme", "admin")
    server = Server(data_dir, server_env).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
    env |= {"EDNA_URL": server.base_url, "EDNA_USERNAME": user, "EDNA_PASSWORD": password}
    try:
        yield World(server, request.param, env, user, password, server.client(*admin))
    finally:
        server.kill()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Digits at the top and in nested folders, a name with '%', and one file large enough to go multipart."""
    root = tmp_path_factory.mktemp("push")
    for i, (name, png, _) in enumerate(digit_pngs()[:24]):
        target = root / ("" if i < 12 else "train/" if i < 20 else "train/deep/") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)
    (root / "100% sure.txt").write_bytes(b"yes")
    (root / "big.bin").write_bytes(os.urandom(LARGE))
    return root


def same_tree(a: Path, b: Path) -> bool:
    left = {str(rel): path.read_bytes() for rel, path in local_files(a)}
    right = {str(rel): path.read_bytes() for rel, path in local_files(b)}
    return left == right


def test_push_then_pull_is_byte_identical_and_a_second_push_uploads_nothing(world, folder, tmp_path):
    pushed = world.edna("push", str(folder), "--dataset", "round-trip")
    assert pushed.stdout.strip() == "26 uploaded, 0 skipped, 0 resumed, 0 failed"

    again = world.edna("push", str(folder), "--dataset", "round-trip")
    assert again.stdout.strip() == "0 uploaded, 26 skipped, 0 resumed, 0 failed"

    pulled = world.edna("pull", "--dataset", "round-trip", str(tmp_path / "out"))
    assert pulled.stdout.strip() == "26 downloaded, 0 kept, 0 failed"
    assert same_tree(folder, tmp_path / "out")
    assert (tmp_path / "out" / "train" / "deep" / "digit-0020.png").is_file()

    (tmp_path / "out" / "digit-0000.png").write_bytes(b"changed")  # a pull repairs what differs, keeps the rest
    repaired = world.edna("pull", "--dataset", "round-trip", str(tmp_path / "out"))
    assert repaired.stdout.strip() == "1 downloaded, 25 kept, 0 failed"
    assert same_tree(folder, tmp_path / "out")

    items = list(world.client().items("round-trip"))
    assert len(items) == 26 and all(len(item.sha256 or "") == 64 for item in items)


def test_a_killed_push_resumes_without_duplicates(world, tmp_path):
    source = tmp_path / "many"
    source.mkdir()
    for name, png, _ in digit_pngs()[:200]:
        (source / name).write_bytes(png)
    dataset = f"killed-{uuid.uuid4().hex[:6]}"
    client = world.client()
    client.dataset(dataset, create=True)
    proc = world.spawn("push", str(source), "--dataset", dataset, "--workers", "4")
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and len(list(client.items(dataset))) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    available_before = len(list(client.items(dataset)))
    assert 20 <= available_before < 200

    resumed = world.edna("push", str(source), "--dataset", dataset).stdout.strip()
    uploaded, skipped, completed, failed = (int(part.split()[0]) for part in resumed.split(", "))
    # Requests the killed push had in flight may still complete on the server after the count above.
    assert skipped >= available_before and failed == 0 and uploaded + skipped + completed == 200
    available = list(client.items(dataset))
    assert sorted(i.filename for i in available) == sorted(p.name for p in source.iterdir())
    assert list(client.items(dataset, status="pending")) == []
    assert world.edna("push", str(source), "--dataset", dataset).stdout.startswith("0 uploaded, 200 skipped")


def test_pending_items_a_kill_left_are_completed_or_replaced(world, tmp_path):
    source = tmp_path / "two"
    source.mkdir()
    (source / "sent.txt").write_bytes(b"bytes that reached storage")
    (source / "lost.txt").write_bytes(b"bytes that never left")
    client = world.client()
    dataset = client.dataset(f"pending-{uuid.uuid4().hex[:6]}", create=True)
    tickets = {}
    for path in source.iterdir():
        body = {"filename": path.name, "content_type": "text/plain", "size": path.stat().st_size}
        body["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        tickets[path.name] = client.session.call("POST", f"/api/datasets/{dataset.id}/items", json=body)
    upload = tickets["sent.txt"]["upload"]  # sent, never completed: as a push killed between the two
    client.session.http.put(
        client.session.url(upload["url"]), data=b"bytes that reached storage", headers=upload["headers"]
    )

    pushed = world.edna("push", str(source), "--dataset", dataset.id).stdout.strip()
    # The embedded store's own event makes a stored upload available at once; S3 waits for `complete`.
    expected = "1 uploaded, 1 skipped, 0 resumed" if world.store == "local" else "1 uploaded, 0 skipped, 1 resumed"
    assert pushed == f"{expected}, 0 failed"
    items = {i.filename: i.id for i in client.items(dataset)}
    assert items.keys() == {"sent.txt", "lost.txt"} and list(client.items(dataset, status="pending")) == []
    assert items["sent.txt"] == tickets["sent.txt"]["item"]["id"]
    assert items["lost.txt"] != tickets["lost.txt"]["item"]["id"]


def test_labels_and_tags_from_a_csv_then_export(world, folder, tmp_path):
    world.edna("push", str(folder), "--dataset", "labelled")
    sheet = tmp_path / "labels.csv"
    with open(sheet, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "label", "tags"])
        writer.writerow(["digit-0000.png", "0", "split=train;source=scan"])
        writer.writerow(["train/digit-0012.png", "2", "split=val"])
        writer.writerow(["missing.png", "3", ""])
    imported = world.edna("labels", "import", str(sheet), "--dataset", "labelled", check=False)
    assert imported.returncode == 1
    assert "line 4: no items named 'missing.png'" in imported.stderr
    assert imported.stdout.strip() == "2 labelled, 2 tagged, 1 failed"

    out = tmp_path / "labelled.jsonl"
    world.edna("export", "--dataset", "labelled", "--format", "jsonl", "-o", str(out))
    rows = {row["filename"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["digit-0000.png"]["label"] == "0"
    assert rows["train%2Fdigit-0012.png"]["label"] == "2"
    tagged = {i.filename: i.tags for i in world.client().items("labelled") if i.tags}
    assert tagged == {
        "digit-0000.png": {"split": "train", "source": "scan"},
        "train%2Fdigit-0012.png": {"split": "val"},
    }


def test_a_job_started_and_awaited_from_the_cli(world, tmp_path):
    source = tmp_path / "digits"
    source.mkdir()
    for name, png, _ in digit_pngs()[:20]:
        (source / name).write_bytes(png)
    world.edna("push", str(source), "--dataset", "inference")
    onnx = dict(digit_models())["digits-logistic-regression"]
    api = EdnaClient(world.server.base_url)
    api.login(world.user, world.password)
    ticket = api.call(
        "POST", "/api/models", json={"name": "lr", "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    )
    api.transfer(ticket["upload"], onnx, "application/octet-stream")
    api.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={})

    done = world.edna("jobs", "start", "--dataset", "inference", "--model", "lr", "--wait")
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and job["progress"] == {"done": 20, "total": 20}

    missing = world.edna("jobs", "start", "--dataset", "inference", "--model", "nope", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (1, "edna: error: no model 'nope'")


def test_iter_samples_streams_items_bytes_and_labels(world, folder):
    world.edna("push", str(folder), "--dataset", "stream")
    client = world.client()
    first = next(iter(client.items("stream")))
    client.session.call("PUT", f"/api/datasets/{first.raw['dataset_id']}/items/{first.id}/label", json={"label": "7"})
    on_disk = {filename_of(rel): path.read_bytes() for rel, path in local_files(folder)}
    seen = {item.filename: (data, label) for item, data, label in client.iter_samples("stream", prefetch=4)}
    assert {name: data for name, (data, _) in seen.items()} == on_disk
    assert seen[first.filename][1] == "7"


def test_sign_in_failures_are_one_line_errors(world, tmp_path):
    world.client().dataset("listed", create=True)
    wrong = world.edna("datasets", "list", check=False, EDNA_PASSWORD="wrong")
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1
    assert wrong.stderr.startswith("edna: error: sign-in failed: 401")
    nothing = world.edna("push", str(tmp_path), "--dataset", "x", "--url", "http://127.0.0.1:9", check=False)
    assert nothing.returncode == 1 and nothing.stderr.startswith("edna: error: cannot reach Edna")
    listed = world.edna("datasets", "list")
    assert "\tlisted\n" in listed.stdout


def test_a_token_that_expires_is_renewed_once(world):
    client = world.client()
    client.dataset("renewed", create=True)
    client.session._token = "not-a-token"  # what an expired token looks like to the server: a 401
    assert "renewed" in {d.name for d in client.datasets()}


def test_a_checksum_that_does_not_match_is_refused(world, tmp_path):
    client = world.client()
    dataset = client.dataset("checked", create=True)
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 3, "sha256": "0" * 64}
    ticket = client.session.call("POST", f"/api/datasets/{dataset.id}/items", json=body)
    upload = ticket["upload"]
    stored = client.session.http.put(client.session.url(upload["url"]), data=b"abc", headers=upload["headers"])
    assert stored.status_code in (200, 204)
    resp = client.session.request("POST", f"/api/datasets/{dataset.id}/items/{ticket['item']['id']}/complete", json={})
    if world.store == "local":  # the embedded store hashes the file; S3 trusts the signed metadata
        assert resp.status_code == 409 and "sha256" in resp.json()["message"]
        assert list(client.items(dataset, status="pending")) + list(client.items(dataset)) == []
    else:
        assert resp.status_code == 200 and resp.json()["sha256"] == "0" * 64
    bad = client.session.request("POST", f"/api/datasets/{dataset.id}/items", json={**body, "sha256": "ABC"})
    assert bad.status_code == 422 and "sha256" in json.dumps(bad.json())


def test_pull_refuses_names_that_leave_the_folder(world, tmp_path):
    client = world.client()
    dataset = client.dataset("escape", create=True)
    api = EdnaClient(world.server.base_url)
    api.login(world.user, world.password)
    api.upload(dataset.id, "..%2F..%2Fevil.txt", b"evil", "text/plain")
    api.upload(dataset.id, "fine.txt", b"fine", "text/plain")
    pulled = world.edna("pull", "--dataset", "escape", str(tmp_path / "out"), check=False)
    assert pulled.returncode == 1 and "not a safe relative path" in pulled.stderr
    assert [p.name for p in tmp_path.rglob("*.txt")] == ["fine.txt"]


def test_pull_of_a_snapshot_gives_the_bytes_it_froze(world, tmp_path):
    source = tmp_path / "v1"
    source.mkdir()
    for name, png, _ in digit_pngs()[:6]:
        (source / name).write_bytes(png)
    world.edna("push", str(source), "--dataset", "frozen")
    client = world.client()
    dataset = client.dataset("frozen")
    snapshot = client.session.call("POST", f"/api/datasets/{dataset.id}/snapshots", json={"name": "v1"})
    relabelled = next(i for i in client.items(dataset) if i.filename == "digit-0000.png")
    client.session.call("PUT", f"/api/datasets/{dataset.id}/items/{relabelled.id}/label", json={"label": "9"})
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "later.txt").write_bytes(b"added after the snapshot")
    world.edna("push", str(tmp_path / "v2"), "--dataset", "frozen")

    world.edna("pull", "--dataset", "frozen", "--snapshot", snapshot["id"], str(tmp_path / "out"))
    assert same_tree(source, tmp_path / "out")
    frozen = {item.filename: item.label for item in client.items(dataset, snapshot=snapshot["id"])}
    assert len(frozen) == 6 and frozen["digit-0000.png"] is None


def test_a_service_account_signs_in_with_its_client_id_and_secret(world, tmp_path):
    created = world.admin.call("POST", "/api/service-accounts", json={"name": "trainer", "role": "viewer"})
    env = {"EDNA_USERNAME": "", "EDNA_PASSWORD": ""}
    env |= {"EDNA_CLIENT_ID": created["client_id"], "EDNA_CLIENT_SECRET": created["client_secret"]}
    world.client().dataset("seen-by-the-account", create=True)
    listed = world.edna("datasets", "list", **env)
    assert "\tseen-by-the-account\n" in listed.stdout
    (tmp_path / "one.txt").write_bytes(b"1")
    refused = world.edna("push", str(tmp_path), "--dataset", "seen-by-the-account", check=False, **env)
    assert refused.returncode == 1 and "403" in refused.stderr
    world.admin.call("DELETE", f"/api/service-accounts/{created['id']}")
    revoked = world.edna("datasets", "list", check=False, **env)
    assert revoked.returncode == 1 and revoked.stderr.startswith("edna: error: sign-in failed: 401")
