"""Decompression bombs against a real server: stored, never decoded, and no harm to anyone's thumbnails.

A 420 KB PNG that declares 12000x12000 pixels (432 MB decoded) used to be decoded inside the PUT to
its signed URL. Now the PUT and `complete` only queue the thumbnail, and the thumbnail worker reads
the header and refuses anything above `EDNA_MAX_IMAGE_PIXELS` before decoding a pixel.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from service.client import EdnaClient
from tests.bombs import memory_mb, png_bomb

pytest_plugins = ["attack_harness"]

GROWTH_LIMIT_MB = 100  # one decoded bomb is 432 MB
PREVIEW_TIMEOUT = 60


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "orange").save(out, format="PNG")
    return out.getvalue()


def send(client: EdnaClient, dataset_id: str, name: str, data: bytes) -> dict:
    """Request, PUT to the signed URL, complete: the item as `complete` answers it."""
    body = {"filename": name, "content_type": "image/png", "size": len(data), "method": "PUT"}
    ticket = client.call("POST", f"/api/datasets/{dataset_id}/items", json=body)
    client.transfer(ticket["upload"], data, "image/png")
    return client.call("POST", f"/api/datasets/{dataset_id}/items/{ticket['item']['id']}/complete", json={})


def preview_of(client: EdnaClient, dataset_id: str, item_id: str) -> dict:
    """The item's preview once the thumbnail worker has made it (polled, bounded)."""
    deadline = time.monotonic() + PREVIEW_TIMEOUT
    while time.monotonic() < deadline:
        item = client.call("GET", f"/api/datasets/{dataset_id}/items/{item_id}")
        if item["preview"]:
            return item["preview"]
        time.sleep(0.1)
    raise AssertionError(f"no thumbnail for {item_id} after {PREVIEW_TIMEOUT} s")


def warmed_up(target, client: EdnaClient, dataset_id: str) -> float:
    """The server's resident MB once it has made a thumbnail (Pillow loaded, worker running)."""
    item = send(client, dataset_id, "warm-up.png", png())
    preview_of(client, dataset_id, item["id"])
    return memory_mb(target.server.proc.pid)["VmRSS"]


def test_a_png_bomb_is_stored_without_a_preview_and_without_the_memory(target):
    editor = target.tenant().clients["editor"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "bombs"})["id"]
    resident = warmed_up(target, editor, dataset_id)

    bomb = send(editor, dataset_id, "bomb.png", png_bomb())
    assert bomb["status"] == "available" and bomb["size"] == len(png_bomb())
    # A normal image queued behind the bomb gets its thumbnail: the worker got past the bomb.
    normal = send(editor, dataset_id, "after.png", png((120, 90)))
    preview = preview_of(editor, dataset_id, normal["id"])
    assert (preview["width"], preview["height"]) == (120, 90)

    item = editor.call("GET", f"/api/datasets/{dataset_id}/items/{bomb['id']}")
    assert item["status"] == "available" and item["preview"] is None and item["thumbnail_url"] is None
    peak = memory_mb(target.server.proc.pid)["VmHWM"]
    assert peak - resident < GROWTH_LIMIT_MB, f"the server grew from {resident:.0f} MB to a peak of {peak:.0f} MB"


def test_bombs_at_once_do_not_take_the_server_down(target):
    editor = target.tenant().clients["editor"]
    dataset_id = editor.call("POST", "/api/datasets", json={"name": "many bombs"})["id"]
    resident = warmed_up(target, editor, dataset_id)

    with ThreadPoolExecutor(4) as pool:
        bombs = list(pool.map(lambda n: send(editor, dataset_id, f"bomb-{n}.png", png_bomb()), range(4)))
    assert all(b["status"] == "available" for b in bombs)
    normal = send(editor, dataset_id, "after.png", png())
    preview_of(editor, dataset_id, normal["id"])

    assert target.server.proc.poll() is None
    target.anonymous().call("GET", "/api/health")
    for b in bombs:
        assert editor.call("GET", f"/api/datasets/{dataset_id}/items/{b['id']}")["preview"] is None
    peak = memory_mb(target.server.proc.pid)["VmHWM"]
    assert peak - resident < GROWTH_LIMIT_MB, f"the server grew from {resident:.0f} MB to a peak of {peak:.0f} MB"
