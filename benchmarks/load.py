"""Load: 50 signed-in clients run a realistic mix against a real server; then every upload is checked.

Starts `python -m service run` on a loopback port with a temporary data dir (`--storage s3` also
starts a moto S3 server on loopback in a subprocess and runs the service with `EDNA_STORAGE=s3`;
the search index stays sqlite). Two tenants, each with an editor and a labeler; every client
thread signs in with its own token. Editors loop: list the dataset (paged), search, upload a
random 1-50 KB PNG (request -> PUT to the signed URL -> complete), read it, download an item.
Labelers loop: list with a label filter, search, label an item, read one, download one.
Downloads follow the 302 and compare sha256; reads and searches check what they find. Every
HTTP request counts against `--requests`; the mix also stops at `--max-seconds`. The baseline,
measured in the same run with the same clients, is `GET /api/health` (no token, no storage).

The service's rate quota (`EDNA_QUOTA_REQUESTS_PER_MINUTE`, 15000/min per tenant by
default) is raised so it does not refuse the load: it is a feature, not what this measures.

Goal checks afterwards, printed as PASS/FAIL: no errors; no lost upload, i.e. every upload whose
complete returned 200 is listed in its dataset (all pages), found by searching its filename,
and downloads byte-identical. Further checks: each item shows its last acknowledged label; the
dataset's counts match its items; the index agrees with storage (stop, `reindex`, restart, list
again); the server's log has no traceback or 5xx.

The whole run is made once per server named by `--servers`: the production server (`python -m service
run`: one gunicorn worker process per core and a runner) and the development server (`run --dev`:
Werkzeug, one process), each over a fresh data dir; the last lines compare their throughput and p95.

    .venv/bin/python benchmarks/load.py [--storage local|s3] [--requests 6000] [--max-seconds 300] [--clients 50]
                                        [--servers development production]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import requests
from bounds import Deadline
from load_report import (
    LabelWrite,
    Recorder,
    Uploaded,
    label_problems,
    list_all,
    listing_problems,
    lookups,
    png,
    print_errors,
    print_table,
    reindex_problems,
    sha256,
    stats_problems,
    summary,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-bench-password"  # noqa: S105 - a throwaway user in a temporary data dir
TENANTS = ("acme", "globex")
CLASSES = ["cat", "dog", "bird"]
SEARCH_WORDS = ["scan", "cat", "dog png", "bird", "scan acme"]
QUOTA = 10_000_000  # requests per minute per tenant: far above what two cores can send
SERVER_FLAGS = {"production": (), "development": ("--dev",)}
SEED_ITEMS = 10  # per tenant, before the mix: labelers and downloads have something from the start
UPLOAD = "upload end-to-end (3 requests)"
ROUTES = [
    "GET /datasets/{d}/items (page)",
    "GET /datasets/{d}/items?label= (filter)",
    "GET /search?q=",
    "POST /datasets/{d}/items (request upload)",
    "PUT signed upload URL",
    "POST /items/{i}/complete",
    UPLOAD,
    "PUT /items/{i}/label",
    "GET /items/{i}",
    "GET /items/{i}/download (302)",
    "GET signed download URL",
]
MOTO = "import sys, threading\nfrom moto.server import ThreadedMotoServer\n" + (
    "ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False).start()\n"
    "print('moto ready', flush=True)\nthreading.Event().wait()\n"
)


class Budget:
    """The fixed request count and the time cap, shared by every client."""

    def __init__(self, requests_left: int, deadline: Deadline):
        self.left = requests_left
        self.deadline = deadline
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.left < n or self.deadline.passed():
                return False
            self.left -= n
            return True


class Pool:
    """Completed uploads per tenant, shared by the clients that label, read and download them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, list[Uploaded]] = {t: [] for t in TENANTS}
        self.labels: dict[str, list[LabelWrite]] = defaultdict(list)

    def add(self, item: Uploaded) -> None:
        with self._lock:
            self.items[item.tenant].append(item)

    def labeled(self, item_id: str, write: LabelWrite) -> None:
        with self._lock:
            self.labels[item_id].append(write)

    def pick(self, tenant: str, rng: random.Random) -> Uploaded | None:
        with self._lock:
            items = self.items[tenant]
            return rng.choice(items) if items else None

    def all(self) -> list[Uploaded]:
        with self._lock:
            return [i for items in self.items.values() for i in items]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(log: Path, proc: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    """The first line of the log matching `pattern`; exits if the process dies or takes too long."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match.group(0)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"did not start: {log.read_text(errors='replace')[-2000:]}")


def start_moto(tmp: Path) -> tuple[subprocess.Popen, str, str]:
    """A moto S3 server in its own process (its own GIL) on loopback, and a fresh bucket."""
    import boto3

    port, log = free_port(), tmp / "moto.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", MOTO, str(port)], stdout=out, stderr=subprocess.STDOUT)
    wait_for_line(log, proc, "moto ready")
    endpoint, bucket = f"http://127.0.0.1:{port}", "edna-load"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return proc, endpoint, bucket


class Server:
    """`python -m service run` on a free loopback port, restartable over the same data (for reindex)."""

    def __init__(self, data_dir: Path, env: dict[str, str], flags: tuple[str, ...] = ()):
        self.data_dir, self.env, self.flags = data_dir, env, flags
        self.command = [sys.executable, "-m", "service", "run", "--port", "0", "--no-demo", "--data-dir", str(data_dir)]
        self.proc: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def start(self) -> str:
        log = self.data_dir.parent / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [*self.command, *self.flags],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return wait_for_line(log, self.proc, r"running on (\S+)").split()[-1]

    def cli(self, *args: str) -> str:
        """A `python -m service` command over the same data dir and environment."""
        done = subprocess.run(
            [sys.executable, "-m", "service", *args, "--data-dir", str(self.data_dir)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"python -m service {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def stop(self) -> None:
        stop(self.proc)

    def problems(self) -> list[str]:
        """Tracebacks and 5xx responses in the server's output: evidence for a report."""
        text = "\n".join(log.read_text(errors="replace") for log in self.logs)
        found = [f"5xx: {line.strip()}" for line in text.splitlines() if re.search(r'HTTP/1\.\d" 5\d\d ', line)]
        blocks = text.split("Traceback (most recent call last):")[1:]
        return found + [f"traceback: {block.strip()[-1500:]}" for block in blocks]


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    """One signed-in user on its own connection, recording every request it makes."""

    def __init__(self, base: str, user: str, tenant: str, dataset_id: str, rec: Recorder, seed: int):
        self.base, self.tenant, self.dataset_id, self.rec = base, tenant, dataset_id, rec
        self.session = requests.Session()
        self.rng = random.Random(seed)
        self.user = user
        resp = self.session.post(base + "/api/auth/token", json={"username": user, "password": PASSWORD}, timeout=60)
        resp.raise_for_status()
        self.auth = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        self.uploads = 0

    def send(self, route: str, method: str, url: str, expect: int, auth: bool = True, **kwargs):
        """The response if its status is `expect`, else None (the failure recorded)."""
        headers = {**(self.auth if auth else {}), **kwargs.pop("headers", {})}
        started = time.perf_counter()
        try:
            resp = self.session.request(method, urljoin(self.base, url), headers=headers, timeout=60, **kwargs)
        except requests.RequestException as exc:
            self.rec.fail(route, time.perf_counter() - started, type(exc).__name__, str(exc))
            return None
        seconds = time.perf_counter() - started
        if resp.status_code != expect:
            self.rec.fail(route, seconds, resp.status_code, f"{method} {url}: {resp.text}")
            return None
        self.rec.ok(route, seconds)
        return resp

    def wrong(self, route: str, status: str, message: str) -> None:
        """A 2xx whose content is wrong: as much an error as a 500."""
        self.rec.fail(route, None, status, message)

    def items_path(self, item_id: str = "") -> str:
        return f"/api/datasets/{self.dataset_id}/items" + (f"/{item_id}" if item_id else "")

    def list_pages(self, budget: Budget) -> None:
        resp = self.send(ROUTES[0], "GET", self.items_path(), 200, params={"limit": 50})
        cursor = resp.json()["next_cursor"] if resp is not None else None
        if cursor and self.rng.random() < 0.5 and budget.take(1):
            self.send(ROUTES[0], "GET", self.items_path(), 200, params={"limit": 50, "cursor": cursor})

    def list_filtered(self) -> None:
        params = {"unlabeled": "true"} if self.rng.random() < 0.3 else {"label": self.rng.choice(CLASSES)}
        resp = self.send(ROUTES[1], "GET", self.items_path(), 200, params={"limit": 50, **params})
        if resp is not None and "label" in params and any(i["label"] != params["label"] for i in resp.json()["items"]):
            self.wrong(ROUTES[1], "wrong-label", f"label={params['label']} listed an item with another label")

    def search(self, pool: Pool) -> None:
        known = pool.pick(self.tenant, self.rng) if self.rng.random() < 0.4 else None
        q = known.filename if known else self.rng.choice(SEARCH_WORDS)
        resp = self.send(ROUTES[2], "GET", "/api/search", 200, params={"q": q})
        if resp is not None and known and known.item_id not in {i["id"] for i in resp.json()["items"]}:
            self.wrong(ROUTES[2], "search-miss", f"q={q!r} did not find item {known.item_id}")

    def upload(self, pool: Pool) -> Uploaded | None:
        data = png(self.rng.randint(1024, 50 * 1024), self.rng)
        self.uploads += 1
        filename = f"scan-{self.tenant}-{self.user}-{self.uploads}-{self.rng.getrandbits(48):012x}.png"
        started = time.perf_counter()
        body = {"filename": filename, "content_type": "image/png", "size": len(data)}
        ticket = self.send(ROUTES[3], "POST", self.items_path(), 201, json=body)
        if ticket is None:
            return None
        item, upload = ticket.json()["item"], ticket.json()["upload"]
        put = self.send(ROUTES[4], "PUT", upload["url"], 200, auth=False, data=data, headers=upload["headers"])
        complete = self.items_path(item["id"]) + "/complete"
        done = self.send(ROUTES[5], "POST", complete, 200, json={}) if put is not None else None
        if done is None:
            self.wrong(UPLOAD, "failed", f"{filename}: a step failed (see its route)")
            return None
        self.rec.ok(UPLOAD, time.perf_counter() - started)
        uploaded = Uploaded(self.tenant, self.dataset_id, item["id"], filename, len(data), sha256(data))
        pool.add(uploaded)
        return uploaded

    def label(self, item: Uploaded, pool: Pool) -> None:
        label, started = self.rng.choice(CLASSES), time.monotonic()
        resp = self.send(ROUTES[7], "PUT", self.items_path(item.item_id) + "/label", 200, json={"label": label})
        if resp is None:
            return
        pool.labeled(item.item_id, LabelWrite(started, time.monotonic(), label))
        if resp.json()["label"] != label:
            self.wrong(ROUTES[7], "wrong-label", f"{item.item_id}: set {label}, got {resp.json()['label']}")

    def read(self, item: Uploaded) -> None:
        resp = self.send(ROUTES[8], "GET", self.items_path(item.item_id), 200)
        body = resp.json() if resp is not None else None
        if body and (body["status"], body["size"], body["filename"]) != ("available", item.size, item.filename):
            self.wrong(ROUTES[8], "stale", f"{item.item_id}: {body['status']} {body['size']} {body['filename']}")

    def download(self, item: Uploaded) -> None:
        path = self.items_path(item.item_id) + "/download"
        resp = self.send(ROUTES[9], "GET", path, 302, allow_redirects=False)
        if resp is None:
            return
        blob = self.send(ROUTES[10], "GET", resp.headers["Location"], 200, auth=False)
        if blob is not None and sha256(blob.content) != item.sha256:
            self.wrong(ROUTES[10], "bytes-differ", f"{item.item_id}: {len(blob.content)} bytes, sha256 differs")

    def run(self, role: str, budget: Budget, pool: Pool) -> None:
        """Iterations of the role's mix until the budget or the time cap says stop."""
        while True:
            if role == "editor":
                if not budget.take(1 + 1 + 3):
                    return
                self.list_pages(budget)
                self.search(pool)
                mine = self.upload(pool)
                if mine and budget.take(1):
                    self.read(mine)
            else:
                if not budget.take(3):
                    return
                self.list_filtered()
                self.search(pool)
                item = pool.pick(self.tenant, self.rng)
                if item:
                    self.label(item, pool)
                if item and budget.take(1):
                    self.read(pool.pick(self.tenant, self.rng) or item)
            item = pool.pick(self.tenant, self.rng)
            if item is None or not budget.take(2):
                return
            self.download(item)


def baseline(base: str, clients: int, seconds: float) -> Recorder:
    """`GET /api/health` from the same number of clients, each on its own connection, for `seconds`."""
    rec = Recorder()
    end = time.monotonic() + seconds

    def loop(_: int) -> None:
        session = requests.Session()
        while time.monotonic() < end:
            started = time.perf_counter()
            try:
                resp = session.get(base + "/api/health", timeout=30)
            except requests.RequestException as exc:
                rec.fail("GET /api/health", time.perf_counter() - started, type(exc).__name__, str(exc))
                continue
            if resp.status_code == 200:
                rec.ok("GET /api/health", time.perf_counter() - started)
            else:
                rec.fail("GET /api/health", time.perf_counter() - started, resp.status_code, resp.text)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(loop, range(clients)))
    rec.elapsed = time.perf_counter() - started
    return rec


def sign_in(base: str, clients: int, datasets: dict[str, str], rec: Recorder, seed: int) -> list[tuple[Client, str]]:
    """(client, role): four in five clients in the first tenant, editors and labelers alternating."""

    def one(n: int) -> tuple[Client, str]:
        tenant = TENANTS[1] if n % 5 == 4 else TENANTS[0]
        role = "editor" if n % 2 == 0 else "labeler"
        return Client(base, f"{role}-{tenant}", tenant, datasets[tenant], rec, seed + n), role

    with ThreadPoolExecutor(min(clients, 8)) as pool:
        return list(pool.map(one, range(clients)))


def run_mix(pairs: list[tuple[Client, str]], budget: Budget, pool: Pool, rec: Recorder) -> None:
    def one(pair: tuple[Client, str]) -> None:
        client, role = pair
        try:
            client.run(role, budget, pool)
        except (ValueError, KeyError, TypeError) as exc:  # a body not as the API promises
            client.wrong("client stopped", type(exc).__name__, repr(exc))

    started = time.perf_counter()
    with ThreadPoolExecutor(len(pairs)) as executor:
        list(executor.map(one, pairs))
    rec.elapsed = time.perf_counter() - started


def check(server: Server, base: str, editors: dict[str, Client], pool: Pool, cap: float) -> tuple[dict, float]:
    """The goal checks, then the index rebuilt from storage (`reindex`, restart) compared with what it showed."""
    started = time.perf_counter()
    uploads = pool.all()
    listed: dict[str, dict] = {}
    problems: dict[str, list[str]] = {"stats": []}
    for editor in editors.values():
        items = list_all(base, editor.auth, editor.dataset_id)
        listed.update(items)
        resp = editor.session.get(f"{base}/api/datasets/{editor.dataset_id}", headers=editor.auth, timeout=60)
        problems["stats"] += stats_problems(resp.json(), items)
    problems["listed"] = listing_problems(uploads, listed)
    problems.update(lookups(base, lambda tenant: editors[tenant].auth, uploads, cap))
    problems["labels"] = label_problems(listed, pool.labels)
    server.stop()
    server.cli("reindex")
    base = server.start()
    rebuilt: dict[str, dict] = {}
    for editor in editors.values():
        rebuilt.update(list_all(base, editor.auth, editor.dataset_id))  # tokens outlive the restart
    problems["reindex"] = reindex_problems(listed, rebuilt, pool.labels)
    return problems, time.perf_counter() - started


def report(rec: Recorder, base_rec: Recorder, budget: Budget, problems: dict, uploads: int, found: list[str]) -> int:
    """Prints the figures and the checks; returns how many problems the checks found (errors included)."""
    stopped = "time cap" if budget.deadline.passed() else "request count"
    sent = len(rec.all_latencies(exclude=(UPLOAD,)))
    print(f"\nmix: {sent} requests in {rec.elapsed:.1f}s (stopped by the {stopped})")
    print_table(rec, [*ROUTES, "client stopped"], UPLOAD, base_rec)
    errors, base_errors = rec.error_count(exclude=(UPLOAD,)), base_rec.error_count()  # a failed upload is its step's
    if errors or base_errors:
        print("errors (status x count, first messages):")
        print_errors(rec)
        print_errors(base_rec)
    unchecked = problems["unchecked"]
    print(f"\ngoal checks over {uploads} completed uploads ({len(unchecked)} not checked before the cap):")
    verdict(errors + base_errors == 0, f"errors: {errors} in the mix, {base_errors} in the baseline")
    for name in ("listed", "searchable", "byte-identical"):
        verdict(
            not problems[name] and not unchecked, f"{name}: {uploads - len(problems[name])}/{uploads}", problems[name]
        )
    print("further checks:")
    labeled = len(problems["labels"])
    verdict(not labeled, f"labels: last acknowledged write shown ({labeled} items otherwise)", problems["labels"])
    verdict(not problems["stats"], "dataset item_count, bytes, label_counts match the listing", problems["stats"])
    verdict(not problems["reindex"], "index agrees with storage (reindex, restart, list again)", problems["reindex"])
    verdict(not found, f"server log: {len(found)} tracebacks or 5xx responses", found)
    listed = sum(len(v) for v in problems.values())
    return errors + base_errors + listed + len(found)


def run(args, server: Server) -> tuple[dict, int]:
    """The mix and its checks against one server: its figures over every request, and the problems found."""
    base = server.start()
    print(f"storage {args.storage} (search index sqlite), {args.clients} clients, up to {args.requests} requests, "
          f"cap {args.max_seconds:.0f}s")  # fmt: skip
    print(f"rate quota raised to EDNA_QUOTA_REQUESTS_PER_MINUTE={QUOTA} (default 15000/min per tenant) "
          "so it does not refuse the load: the quota is a feature, not what this measures")  # fmt: skip
    setup = Recorder()
    editors = {t: Client(base, f"editor-{t}", t, "", setup, args.seed) for t in TENANTS}
    for tenant, editor in editors.items():
        body = {"name": f"load-{tenant}", "label_classes": CLASSES}
        resp = editor.send("setup", "POST", "/api/datasets", 201, json=body)
        if resp is None:
            raise SystemExit(f"could not create a dataset: {dict(setup.messages)}")
        editor.dataset_id = resp.json()["id"]
    pool = Pool()
    for editor in editors.values():
        for _ in range(SEED_ITEMS):
            editor.upload(pool)
    base_rec = baseline(base, args.clients, args.baseline_seconds)
    rec = Recorder()
    pairs = sign_in(base, args.clients, {t: e.dataset_id for t, e in editors.items()}, rec, args.seed)
    budget = Budget(args.requests, Deadline(args.max_seconds))
    run_mix(pairs, budget, pool, rec)
    problems, seconds = check(server, base, editors, pool, args.max_seconds)
    print(f"checks took {seconds:.1f}s")
    if setup.errors:
        print("setup errors:")
        print_errors(setup)
    found = report(rec, base_rec, budget, problems, len(pool.all()), server.problems())
    total = summary(rec.all_latencies(exclude=(UPLOAD,)), rec.elapsed, rec.error_count(exclude=(UPLOAD,)))
    return total, found


def compare(results: dict[str, tuple[dict, int]]) -> None:
    """One line per server, then production against development (the goal: 1.7x or more on 2 cores)."""
    print(f"\n{'server':12} {'req/s':>8} {'p95 ms':>8} {'problems':>8}")
    for name, (total, found) in results.items():
        print(f"{name:12} {total['rps']:8.1f} {total['p95']:8.1f} {found:8d}")
    if {"production", "development"} <= set(results):
        prod, dev = results["production"][0], results["development"][0]
        print(
            f"production / development: throughput {prod['rps'] / dev['rps']:.2f}x,"
            f" p95 {dev['p95'] / prod['p95']:.2f}x lower ({os.cpu_count()} cores)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--requests", type=int, default=6000, help="HTTP requests of the mix, all routes")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="cap of the mix (and of the lookups)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--servers", nargs="+", choices=list(SERVER_FLAGS), default=["development", "production"])
    args = parser.parse_args()

    # Dummy credentials: boto3 here and in the server must never reach AWS.
    dummies = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
    os.environ.update(dummies, AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
    env["EDNA_QUOTA_REQUESTS_PER_MINUTE"] = str(QUOTA)
    results = {}
    for name in args.servers:
        print(f"\n=== {name} server ===")
        results[name] = one_server(args, dict(env), SERVER_FLAGS[name])
    compare(results)


def one_server(args, env: dict[str, str], flags: tuple[str, ...]) -> tuple[dict, int]:
    moto = server = None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        try:
            if args.storage == "s3":
                moto, endpoint, bucket = start_moto(Path(tmp))
                env.update(EDNA_STORAGE="s3", EDNA_S3_BUCKET=bucket, EDNA_S3_ENDPOINT_URL=endpoint)
            server = Server(data_dir, env, flags)
            for tenant in TENANTS:
                for role in ("editor", "labeler"):
                    server.cli("users", "add", f"{role}-{tenant}", "--tenant", tenant, "--role", role,
                               "--password", PASSWORD)  # fmt: skip
            return run(args, server)
        finally:
            if server:
                server.stop()
            stop(moto)


if __name__ == "__main__":
    main()
