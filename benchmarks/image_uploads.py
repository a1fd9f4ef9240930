"""Image uploads against a real server: a decompression bomb's cost, and the PUT's latency with real PNG bytes.

Starts `python -m service run` (local adapters, temporary data dir) from a checkout (`--repo`, this
one by default: point it at `git worktree add /tmp/edna-before <commit>` to measure older code with
the same venv), then:

1. uploads the 420 KB PNG that declares 12000x12000 pixels, alone and then four at once, and reports
   the PUT and `complete` times and the server's memory (VmRSS before, VmHWM peak after);
2. PUTs real PNG bytes (640x480 noise) to signed URLs from 8 clients, with a baseline measured in
   the same run: the same bytes as `application/octet-stream`, which no one decodes. The p95 ratio
   image/baseline is what decoding on the request path costs a PUT.

    .venv/bin/python benchmarks/image_uploads.py [--repo /tmp/edna-before] [--uploads 200] [--clients 8]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks import item_requests  # noqa: E402
from tests.bombs import memory_mb, png_bomb  # noqa: E402

SETTLE_SECONDS = 120  # how long the bomb's thumbnail (made or refused) may take to settle


class Uploader:
    """Request, PUT to the signed URL, complete; each step timed."""

    def __init__(self, base: str, token: str, dataset_id: str):
        self.base, self.dataset_id = base, dataset_id
        self.auth = {"Authorization": f"Bearer {token}"}

    def ticket(self, name: str, data: bytes, content_type: str) -> dict:
        body = {"filename": name, "content_type": content_type, "size": len(data), "method": "PUT"}
        resp = requests.post(
            f"{self.base}/api/datasets/{self.dataset_id}/items", json=body, headers=self.auth, timeout=60
        )
        resp.raise_for_status()
        return resp.json()

    def put(self, ticket: dict, data: bytes, session: requests.Session | None = None) -> float:
        upload = ticket["upload"]
        url = upload["url"] if upload["url"].startswith("http") else self.base + upload["url"]
        started = time.perf_counter()
        resp = (session or requests).put(url, data=data, headers=upload["headers"], timeout=600)
        elapsed = time.perf_counter() - started
        resp.raise_for_status()
        return elapsed

    def complete(self, ticket: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        path = f"{self.base}/api/datasets/{self.dataset_id}/items/{ticket['item']['id']}/complete"
        resp = requests.post(path, json={}, headers=self.auth, timeout=600)
        elapsed = time.perf_counter() - started
        resp.raise_for_status()
        return elapsed, resp.json()

    def preview(self, item_id: str) -> dict | None:
        path = f"{self.base}/api/datasets/{self.dataset_id}/items/{item_id}"
        return requests.get(path, headers=self.auth, timeout=60).json()["preview"]

    def send(self, name: str, data: bytes, content_type: str = "image/png") -> dict:
        ticket = self.ticket(name, data, content_type)
        put = self.put(ticket, data)
        done, item = self.complete(ticket)
        return {"put": put, "complete": done, "item": item}


def png(size: tuple[int, int], noise: bool = False) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) if noise else None
    image = Image.fromarray(pixels) if noise else Image.new("RGB", size, "orange")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def settled(up: Uploader, name: str) -> float:
    """Upload a small image and wait for its thumbnail: the worker has passed whatever was queued before it."""
    started = time.perf_counter()
    item = up.send(name, png((32, 32)))["item"]
    deadline = time.monotonic() + SETTLE_SECONDS
    while up.preview(item["id"]) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"no thumbnail for {name} after {SETTLE_SECONDS} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def bombs(up: Uploader, pid: int, count: int) -> dict:
    """`count` bombs at once; their PUT and complete times and the server's memory growth."""
    settled(up, f"warm-{count}.png")
    before = memory_mb(pid)["VmRSS"]
    started = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        sent = list(pool.map(lambda n: up.send(f"bomb-{count}-{n}.png", png_bomb()), range(count)))
    answered = time.perf_counter() - started
    settled(up, f"after-{count}.png")
    return {
        "put_s": max(s["put"] for s in sent),
        "complete_s": max(s["complete"] for s in sent),
        "answered_s": answered,
        "previews": sum(1 for s in sent if up.preview(s["item"]["id"])),
        "rss_before_mb": before,
        "peak_growth_mb": memory_mb(pid)["VmHWM"] - before,
    }


def put_latencies(up: Uploader, data: bytes, content_type: str, count: int, clients: int) -> dict:
    """PUT times of `count` uploads of `data` (tickets made first, completes after: only the PUT is timed)."""
    tickets = [up.ticket(f"p-{content_type.replace('/', '-')}-{n}", data, content_type) for n in range(count)]
    sessions: dict[int, requests.Session] = {}

    def one(ticket: dict) -> float:
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        return up.put(ticket, data, session)

    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(one, tickets))
    return {"p50_ms": statistics.median(latencies) * 1000, "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose server runs")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    item_requests.ROOT = args.repo.resolve()  # the server (and `users add`) run from that checkout
    png_bomb()  # built once (about 2 s), before anything is timed

    with tempfile.TemporaryDirectory() as tmp:
        proc, base, token, dataset_id = item_requests.serve_bench_tenant(Path(tmp))
        try:
            up = Uploader(base, token, dataset_id)
            one, four = bombs(up, proc.pid, 1), bombs(up, proc.pid, 4)
            photo = png((640, 480), noise=True)
            baseline = put_latencies(up, photo, "application/octet-stream", args.uploads, args.clients)
            image = put_latencies(up, photo, "image/png", args.uploads, args.clients)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"server from {args.repo.resolve()}")
    print(f"bomb: {len(png_bomb()) / 1e3:.0f} KB PNG declaring 12000x12000 (432 MB decoded)")
    for name, r in (("1 bomb", one), ("4 bombs at once", four)):
        print(
            f"  {name:16} PUT {r['put_s']:6.2f} s  complete {r['complete_s']:6.2f} s"
            f"  all answered {r['answered_s']:6.2f} s"
            f"  RSS before {r['rss_before_mb']:5.0f} MB  peak growth {r['peak_growth_mb']:6.0f} MB"
            f"  previews {r['previews']}"
        )
    print(f"PUT of a {len(photo) / 1e6:.2f} MB 640x480 PNG, {args.uploads} uploads from {args.clients} clients")
    for name, r in (("octet-stream (baseline)", baseline), ("image/png", image)):
        print(f"  {name:24} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms")
    p95, p50 = (image[k] / baseline[k] for k in ("p95_ms", "p50_ms"))
    print(f"ratio image/baseline: p95 {p95:.2f}x, p50 {p50:.2f}x")


if __name__ == "__main__":
    main()
