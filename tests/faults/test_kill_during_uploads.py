"""SIGKILL of the service in the middle of concurrent uploads, then a restart over the same data dir.

What must hold: an upload whose `complete` answered 200 is listed, searchable and downloads
byte-identical after the restart; an interrupted one is pending or absent (or available with its
own bytes: the local store's write event may index it before `complete`), never available with
other bytes; clients retrying the interrupted ones end with every file available exactly once.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from collections import Counter
from dataclasses import dataclass

import requests
from PIL import Image
from real_server import Server, add_user

from service.client import ApiError, EdnaClient

FILES = 60
CLIENTS = 6
KILL_AFTER = 20  # completed uploads before the SIGKILL


def png(n: int) -> bytes:
    """A distinct small PNG per file."""
    pixels = hashlib.shake_256(f"shot {n}".encode()).digest(24 * 24 * 3)  # noise: no two files share bytes
    image = Image.frombytes("RGB", (24, 24), pixels)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Upload:
    filename: str
    data: bytes
    stage: str = "new"  # new → requested → sent → completed
    item_id: str | None = None
    ticket: dict | None = None


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def run_upload(client: EdnaClient, dataset_id: str, up: Upload) -> None:
    """request → PUT to the signed URL → complete, recording how far it got."""
    body = {"filename": up.filename, "content_type": "image/png", "size": len(up.data)}
    ticket = client.call("POST", items_path(dataset_id), json=body)
    up.ticket, up.item_id, up.stage = ticket["upload"], ticket["item"]["id"], "requested"
    client.transfer(up.ticket, up.data, "image/png")
    up.stage = "sent"
    client.call("POST", f"{items_path(dataset_id)}/{up.item_id}/complete", json={})
    up.stage = "completed"


def upload_until_killed(client: EdnaClient, dataset_id: str, work: queue.Queue, done: list, errors: list) -> None:
    while True:
        try:
            up = work.get_nowait()
        except queue.Empty:
            return
        try:
            run_upload(client, dataset_id, up)
            done.append(up)
        except requests.RequestException:
            return  # the server is gone: this upload stays at its stage
        except ApiError as exc:  # a refusal while the server was alive is a finding
            errors.append((up.filename, up.stage, str(exc)))
            return


def retry(client: EdnaClient, dataset_id: str, up: Upload) -> str:
    """What a client does after a crash: complete what it had, resend what storage lacks, else start over."""
    if up.item_id is not None:
        path = f"{items_path(dataset_id)}/{up.item_id}"
        try:
            current = client.call("GET", path)
        except ApiError as exc:
            assert exc.status == 404, exc
            current = None
        if current is not None:
            if current["status"] == "pending":
                try:
                    client.call("POST", f"{path}/complete", json={})
                    return "completed the pending item"
                except ApiError as exc:
                    assert exc.status == 409, exc  # not in storage yet
                client.transfer(up.ticket, up.data, "image/png")  # the signed URL is still valid
                client.call("POST", f"{path}/complete", json={})
                return "resent to the signed URL and completed"
            client.call("POST", f"{path}/complete", json={})  # available already: complete is idempotent
            return "completed (already available)"
    run_upload(client, dataset_id, up)
    return "uploaded anew"


def listing(client: EdnaClient, dataset_id: str) -> list[dict]:
    return list(client.pages(items_path(dataset_id)))


def download(client: EdnaClient, item: dict) -> bytes:
    resp = requests.get(client.url(item["download_url"]), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.content


def test_sigkill_during_uploads_loses_no_completed_upload(tmp_path):
    data_dir = tmp_path / "data"
    user, password = add_user(data_dir)
    uploads = [Upload(f"shot-{n:03d}.png", png(n)) for n in range(FILES)]
    by_name = {u.filename: u for u in uploads}

    server = Server(data_dir).start()
    try:
        client = server.client(user, password)
        dataset_id = client.call("POST", "/api/datasets", json={"name": "crash"})["id"]
        work: queue.Queue[Upload] = queue.Queue()
        for up in uploads:
            work.put(up)
        done: list[Upload] = []
        errors: list = []
        threads = [
            threading.Thread(target=upload_until_killed, args=(client, dataset_id, work, done, errors))
            for _ in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        while len(done) < KILL_AFTER and any(t.is_alive() for t in threads):
            threading.Event().wait(0.005)
        server.kill()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        stages = Counter(u.stage for u in uploads)
        assert stages["completed"] >= KILL_AFTER and stages["completed"] < FILES, stages

        server.start()  # the same data dir
        client = server.client(user, password)
        items = listing(client, dataset_id)
        listed = {i["id"]: i for i in items}

        # Every upload whose complete answered 200: listed, available, searchable, same bytes.
        for up in uploads:
            if up.stage != "completed":
                continue
            item = listed.get(up.item_id)
            assert item is not None and item["status"] == "available", (up.filename, item)
            assert item["filename"] == up.filename
            found = client.call("GET", "/api/search", params={"q": up.filename.removesuffix(".png")})["items"]
            assert [i["id"] for i in found] == [up.item_id], (up.filename, found)
            assert download(client, item) == up.data, up.filename

        # Whatever else is listed is pending, or available with its own file's bytes: never other bytes.
        for item in items:
            assert item["status"] in ("pending", "available"), item
            if item["status"] == "available":
                assert download(client, item) == by_name[item["filename"]].data, item["filename"]

        # The clients retry what was interrupted, and finish the rest.
        outcomes = Counter(retry(client, dataset_id, up) for up in uploads if up.stage != "completed")
        print(f"stages at the kill: {dict(stages)}; retries: {dict(outcomes)}")

        final = listing(client, dataset_id)
        available = [i for i in final if i["status"] == "available"]
        assert Counter(i["filename"] for i in available) == Counter(list(by_name)), "each file available exactly once"
        for item in available:
            assert download(client, item) == by_name[item["filename"]].data, item["filename"]
        # Pending items left over are requests whose answer the kill swallowed: the client never knew their id.
        known = {u.item_id for u in uploads}
        orphans = [i for i in final if i["status"] == "pending"]
        assert all(i["id"] not in known for i in orphans), orphans
        dataset = client.call("GET", f"/api/datasets/{dataset_id}")
        assert dataset["item_count"] == FILES
    finally:
        server.kill()
