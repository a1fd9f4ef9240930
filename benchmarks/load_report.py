"""What `load.py` records, checks and prints: latencies and errors per route, the goal checks, the table."""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
from bounds import Deadline

MESSAGES_KEPT = 3  # first messages kept per route: enough to tell one failure from another
CHECK_THREADS = 8


@dataclass(frozen=True)
class Uploaded:
    """An upload whose complete returned 200: what the checks expect to find."""

    tenant: str
    dataset_id: str
    item_id: str
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class LabelWrite:
    """An acknowledged `PUT .../label`: when it was sent, when its 200 arrived, what it set."""

    started: float
    ended: float
    label: str


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png(size: int, rng) -> bytes:
    """A valid RGB PNG of about `size` bytes: random pixels do not compress, so the size holds."""
    width = 64
    height = max(1, (size - 80) // (width * 3 + 1))
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


class Recorder:
    """Latencies and errors per route, from every client thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, Counter] = defaultdict(Counter)
        self.messages: dict[str, list[str]] = defaultdict(list)
        self.elapsed = 0.0

    def ok(self, route: str, seconds: float) -> None:
        with self._lock:
            self.latencies[route].append(seconds)

    def fail(self, route: str, seconds: float | None, status: int | str, message: str) -> None:
        """A failed request (with its latency), or wrong content of a request already counted (None)."""
        with self._lock:
            if seconds is not None:
                self.latencies[route].append(seconds)
            self.errors[route][status] += 1
            if len(self.messages[route]) < MESSAGES_KEPT:
                self.messages[route].append(f"{status}: {message[:300]}")

    def count(self, route: str) -> int:
        return len(self.latencies[route])

    def error_count(self, exclude: tuple[str, ...] = ()) -> int:
        return sum(sum(c.values()) for r, c in self.errors.items() if r not in exclude)

    def figures(self, route: str) -> dict:
        return summary(sorted(self.latencies[route]), self.elapsed, sum(self.errors[route].values()))

    def all_latencies(self, exclude: tuple[str, ...] = ()) -> list[float]:
        return sorted(s for r, values in self.latencies.items() if r not in exclude for s in values)


def summary(ordered: list[float], elapsed: float, errors: int) -> dict:
    return {
        "count": len(ordered),
        "rps": len(ordered) / elapsed if elapsed else 0.0,
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "errors": errors,
    }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile in milliseconds (0 for no samples)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1] * 1000


HEADER = f"{'route':42} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"


def row(name: str, f: dict) -> str:
    latencies = f"{f['p50']:8.1f} {f['p95']:8.1f} {f['p99']:8.1f}"
    return f"{name:42} {f['count']:6d} {f['rps']:7.1f} {latencies} {f['errors']:6d}"


def print_table(rec: Recorder, order: list[str], end_to_end: str, baseline: Recorder) -> None:
    """Per-route figures, the total over every HTTP request, and the baseline with the ratios."""
    print(HEADER)
    for route in order:
        if rec.count(route) or rec.errors[route]:
            print(row(route, rec.figures(route)))
    total = summary(rec.all_latencies(exclude=(end_to_end,)), rec.elapsed, rec.error_count(exclude=(end_to_end,)))
    print(row("all HTTP requests of the mix", total))
    route = next(iter(baseline.latencies), None)
    if route is None:
        return
    base = baseline.figures(route)
    print(row(f"{route} (baseline)", base))
    if base["rps"] and base["p50"] and base["p95"]:
        print(
            f"ratio mix/baseline: throughput {total['rps'] / base['rps']:.2f}x, "
            f"p50 {total['p50'] / base['p50']:.1f}x, p95 {total['p95'] / base['p95']:.1f}x"
        )


def print_errors(rec: Recorder) -> None:
    for route, statuses in rec.errors.items():
        counts = ", ".join(f"{status} x{n}" for status, n in statuses.most_common())
        print(f"  {route}: {counts}")
        for message in rec.messages[route]:
            print(f"    {message}")


def verdict(ok: bool, what: str, evidence: list[str] = ()) -> None:
    print(f"{'PASS' if ok else 'FAIL'} {what}")
    for line in evidence[:5]:
        print(f"    {line}")
    if len(evidence) > 5:
        print(f"    ... and {len(evidence) - 5} more")


def list_all(base: str, auth: dict, dataset_id: str) -> dict[str, dict]:
    """Every item of a dataset by id, following next_cursor to the last page."""
    items: dict[str, dict] = {}
    params: dict = {"limit": 1000}
    session = requests.Session()
    while True:
        resp = session.get(f"{base}/api/datasets/{dataset_id}/items", params=params, headers=auth, timeout=60)
        resp.raise_for_status()
        body = resp.json()
        items.update((i["id"], i) for i in body["items"])
        if not body["next_cursor"]:
            return items
        params["cursor"] = body["next_cursor"]


def listing_problems(uploads: list[Uploaded], listed: dict[str, dict]) -> list[str]:
    """Uploads missing from the listing, or listed otherwise than they were uploaded."""
    problems = []
    for u in uploads:
        got = listed.get(u.item_id)
        if got is None:
            problems.append(f"{u.item_id} ({u.filename}) not listed")
        elif (got["status"], got["size"], got["filename"]) != ("available", u.size, u.filename):
            problems.append(f"{u.item_id}: listed as {got['status']} {got['size']} {got['filename']}")
    return problems


def lookups(base: str, auth: Callable[[str], dict], uploads: list[Uploaded], cap: float) -> dict[str, list[str]]:
    """Each upload found by searching its filename and downloaded byte-identical (302, then the URL)."""
    problems: dict[str, list[str]] = {"searchable": [], "byte-identical": [], "unchecked": []}
    deadline = Deadline(cap)
    local = threading.local()  # a requests.Session per thread, as for the clients

    def check(u: Uploaded) -> None:
        if deadline.passed():
            problems["unchecked"].append(u.item_id)
            return
        if not hasattr(local, "session"):
            local.session = requests.Session()
        session, headers = local.session, auth(u.tenant)
        try:
            resp = session.get(base + "/api/search", params={"q": u.filename}, headers=headers, timeout=60)
            if resp.status_code != 200 or u.item_id not in {i["id"] for i in resp.json()["items"]}:
                problems["searchable"].append(f"{u.item_id}: q={u.filename!r} -> {resp.status_code} {resp.text[:300]}")
            path = f"/api/datasets/{u.dataset_id}/items/{u.item_id}/download"
            resp = session.get(base + path, headers=headers, allow_redirects=False, timeout=60)
            if resp.status_code != 302:
                problems["byte-identical"].append(f"{u.item_id}: download {resp.status_code} {resp.text[:300]}")
                return
            blob = session.get(urljoin(base, resp.headers["Location"]), timeout=60)
            if blob.status_code != 200 or sha256(blob.content) != u.sha256:
                problems["byte-identical"].append(f"{u.item_id}: {blob.status_code}, {len(blob.content)} bytes")
        except (requests.RequestException, ValueError, KeyError) as exc:
            problems["byte-identical"].append(f"{u.item_id}: check failed: {exc!r}")

    with ThreadPoolExecutor(CHECK_THREADS) as pool:
        list(pool.map(check, uploads))
    return problems


def label_problems(listed: dict[str, dict], writes: dict[str, list[LabelWrite]]) -> list[str]:
    """The label shown must come from a write that no other acknowledged write followed entirely
    (last writer wins; writes that overlapped in time may land in either order)."""
    problems = []
    for item_id, done in writes.items():
        allowed = {w.label for w in done if not any(o.started > w.ended for o in done)}
        shown = listed.get(item_id, {}).get("label")
        if shown not in allowed:
            problems.append(f"{item_id}: shows {shown!r}, last acknowledged write(s) {sorted(allowed)} of {len(done)}")
    return problems


def stats_problems(dataset: dict, listed: dict[str, dict]) -> list[str]:
    """The dataset's item_count, bytes and label_counts against its items, counted one by one."""
    available = [i for i in listed.values() if i["status"] == "available"]
    labels = Counter(i["label"] for i in available if i["label"])
    problems = []
    if dataset["item_count"] != len(available) or dataset["bytes"] != sum(i["size"] for i in available):
        problems.append(
            f"{dataset['id']}: item_count {dataset['item_count']}, bytes {dataset['bytes']}; "
            f"listed {len(available)} available items, {sum(i['size'] for i in available)} bytes"
        )
    shown = {k: v for k, v in dataset["label_counts"].items() if k and v}
    if shown != dict(labels):
        problems.append(f"{dataset['id']}: label_counts {shown}, listed {dict(labels)}")
    return problems


def history(writes: list[LabelWrite]) -> str:
    """Acknowledged label writes of one item, in ms from the first: `label@sent-acknowledged`."""
    first = min((w.started for w in writes), default=0.0)
    ordered = sorted(writes, key=lambda w: w.started)
    return ", ".join(f"{w.label}@{(w.started - first) * 1000:.0f}-{(w.ended - first) * 1000:.0f}" for w in ordered)


def reindex_problems(before: dict[str, dict], after: dict[str, dict], writes: dict[str, list[LabelWrite]]) -> list[str]:
    """What the index showed against what it shows when rebuilt from storage alone."""
    problems = []
    for item_id, item in before.items():
        again = after.get(item_id)
        if item["status"] != "available":
            continue
        if again is None:
            problems.append(f"{item_id} ({item['filename']}) gone after reindex")
        elif (again["label"], again["size"], again["status"]) != (item["label"], item["size"], item["status"]):
            problems.append(
                f"{item_id}: index had label {item['label']!r}, storage (reindexed) has {again['label']!r}"
                + ("" if again["size"] == item["size"] else f", size {item['size']} -> {again['size']}")
                + f"; label writes: {history(writes.get(item_id, []))}"
            )
    problems += [f"{i}: only after reindex ({a['status']})" for i, a in after.items() if i not in before]
    return problems
