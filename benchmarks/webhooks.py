"""Webhooks: delivery latency from a change to the receiver, and what emitting events costs the upload route.

Each run starts a real `python -m service run` (local adapters, temporary data dir) allowed to call
a receiver (http.server) in this process on loopback.

1. Latency: `--events` label changes, one at a time; each is timed from the moment `PUT .../label`
   returns to the moment the receiver has the delivery. The outbox's worker is woken by the insert.
2. Overhead: `--uploads` uploads (request, PUT to the signed URL, `complete`), one client, on a stack
   without webhooks (the baseline) and on one with a webhook subscribed to every event, alternated
   (off, on, on, off ...) in the same run. Every upload emits `item.available`: one claim, one outbox
   row, and a delivery made by a worker thread of the same process. Goal: ratio on/off <= 1.03.

    .venv/bin/python benchmarks/webhooks.py [--events 300] [--uploads 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from item_requests import ROOT, start_server

sys.path.insert(0, str(ROOT))

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.secretbox.local import LocalSecretBox
from service.adapters.webhookqueue.local import SqliteWebhookOutbox
from service.client import EdnaClient
from service.domain.notifications import SUBSCRIPTIONS_CACHE_SECONDS, Notifier
from service.domain.webhooks import EVENT_TYPES, WebhookRegistry
from service.vocabulary.roles import Principal

GOAL = 1.03
WARM_UP = 30  # uploads on each fresh stack before it is measured
SETTINGS = {"EDNA_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "EDNA_QUOTA_REQUESTS_PER_MINUTE": str(10**9)}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 2048  # not decodable: no thumbnail work on either side


class Receiver:
    """Counts deliveries and notes when each arrived; a condition wakes whoever waits for the next."""

    def __init__(self):
        self.arrivals: list[float] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.end_headers()
                with receiver.arrived:
                    receiver.arrivals.append(time.perf_counter())
                    receiver.arrived.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait_for(self, count: int, timeout: float = 30) -> float:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.arrivals) >= count, timeout):
                raise SystemExit(f"delivery {count} did not arrive within {timeout} s")
            return self.arrivals[count - 1]


@contextlib.contextmanager
def stack() -> Iterator[tuple[EdnaClient, str]]:
    """A fresh `python -m service run` allowed to call 127.0.0.1; an admin client and a dataset."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        user = ["bench", "--tenant", "bench", "--role", "admin", "--password", "bench-password"]
        add = [sys.executable, "-m", "service", "users", "add", *user, "--data-dir", str(data_dir)]
        subprocess.run(add, cwd=ROOT, check=True, capture_output=True)
        proc, base = start_server(data_dir, SETTINGS)
        try:
            client = EdnaClient(base)
            client.login("bench", "bench-password")
            dataset_id = client.call("POST", "/api/datasets", json={"name": "bench", "label_classes": ["a", "b"]})["id"]
            yield client, dataset_id
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def latency(events: int) -> list[float]:
    receiver = Receiver()
    with stack() as (client, dataset_id):
        client.call("POST", "/api/webhooks", json={"url": receiver.url, "events": ["label.changed"]})
        item = client.upload(dataset_id, "x.png", PNG, "image/png")
        path = f"/api/datasets/{dataset_id}/items/{item['id']}/label"
        seconds = []
        for n in range(1, events + 1):
            sent = time.perf_counter()  # the change is made inside the request: an upper bound
            client.call("PUT", path, json={"label": "ab"[n % 2]})
            seconds.append(receiver.wait_for(n) - sent)
    receiver.server.shutdown()
    return seconds


def upload_seconds(subscribed: bool, uploads: int) -> float:
    """Mean seconds per upload (request + PUT + complete) on a fresh stack."""
    receiver = Receiver()
    with stack() as (client, dataset_id):
        if subscribed:
            client.call("POST", "/api/webhooks", json={"url": receiver.url, "events": list(EVENT_TYPES)})
        for n in range(WARM_UP):
            client.upload(dataset_id, f"warm-{n}.png", PNG, "image/png")
        started = time.perf_counter()
        for n in range(uploads):
            client.upload(dataset_id, f"{n}.png", PNG, "image/png")
        elapsed = time.perf_counter() - started
        if subscribed:  # every upload was delivered: the cost measured is the real one
            receiver.wait_for(WARM_UP + uploads)
    receiver.server.shutdown()
    return elapsed / uploads


def emit_seconds(events: int) -> float:
    """Mean seconds one `emit` adds to a request: the subscription look-up and the outbox row (no worker)."""
    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp) / "blobs")
        registry = WebhookRegistry(blobs, lambda url: None, LocalSecretBox(Path(tmp) / "secrets.key"))
        registry.create(Principal("bench", "bench", ("admin",)), "http://127.0.0.1/hook", list(EVENT_TYPES), "")
        outbox = SqliteWebhookOutbox(Path(tmp) / "webhooks.db", 1, 60)
        notifier = Notifier(registry, outbox, SUBSCRIPTIONS_CACHE_SECONDS)
        notifier.emit("bench", "item.available", {})  # the subscriptions, read once and cached
        started = time.perf_counter()
        for n in range(events):
            notifier.emit("bench", "item.available", {"dataset_id": "d", "item_id": str(n), "filename": "x.png"})
        elapsed = time.perf_counter() - started
        outbox.close()
    return elapsed / events


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each setting, alternated")
    args = parser.parse_args()

    seconds = latency(args.events)
    p50, p95 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000
    print(f"delivery latency over {args.events} label changes (PUT sent → receiver has the delivery):")
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   max {max(seconds) * 1000:.1f} ms")

    order = ([False, True, True, False] * args.repeats)[: 2 * args.repeats]
    runs: dict[bool, list[float]] = {False: [], True: []}
    for subscribed in order:
        runs[subscribed].append(upload_seconds(subscribed, args.uploads))
    print(f"upload route, {args.uploads} uploads per run after {WARM_UP} to warm up, one client, local adapters")
    print(f"order of runs: {', '.join('webhook' if s else 'none' for s in order)}")
    for subscribed, results in runs.items():
        label = "with a webhook" if subscribed else "without      "
        print(f"  {label}: {', '.join(f'{r * 1000:.2f}' for r in results)} ms per upload")
    off, on = statistics.mean(runs[False]), statistics.mean(runs[True])
    print(f"ratio with/without, deliveries made by the same server meanwhile: {on / off:.3f}")
    emit = emit_seconds(args.events * 10)
    print(
        f"emit in the request (look-up + outbox row): {emit * 1e6:.0f} us per event, ratio "
        f"{(off + emit) / off:.3f} of the upload route (goal <= {GOAL})"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
