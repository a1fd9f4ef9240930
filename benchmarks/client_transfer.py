"""`edna push` and `edna pull` of many small files against raw signed PUT/GET, same parallelism, same run.

Starts a real `python -m service run` (local adapters, temporary data dir), writes `--files` files of
`--size` bytes, then measures files/s of:

1. the baseline upload: request, PUT to the signed URL, complete, from `--workers` threads with plain
   `requests` (no listing, no checksums), into a dataset of its own;
2. `edna push DIR --dataset D --workers W` (the console script, in its own process: start-up, the
   listing, sha256 of every file, then batches of 100: one request for their uploads, a PUT each, one
   complete: two API calls per hundred files where the baseline makes two per file);
3. `edna push` again: every file skipped by checksum (listing and hashing only);
4. the baseline download: list the items, GET each signed URL, write the file, from `--workers` threads;
5. `edna pull --dataset D DIR --workers W` (listing, GET, sha256 and size verified, rename into place).

It prints each figure with the ratio client/baseline (goal >= 0.8) and the peak RSS of each `edna`
process (from wait4, so the server's memory is not counted).

    .venv/bin/python benchmarks/client_transfer.py [--files 10000] [--size 2048] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks.item_requests import serve_bench_tenant  # noqa: E402

EDNA = str(Path(sys.executable).with_name("edna"))


class Raw:
    """The baseline: the signed-URL flow with plain requests, one session per thread."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.auth = {"Authorization": f"Bearer {token}"}
        self.local = threading.local()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
        return self.local.http

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def upload(self, dataset_id: str, path: Path) -> None:
        data = path.read_bytes()
        body = {"filename": path.name, "content_type": "application/octet-stream", "size": len(data)}
        items = f"{self.base}/api/datasets/{dataset_id}/items"
        ticket = self.http.post(items, json=body, headers=self.auth, timeout=60).json()
        upload = ticket["upload"]
        self.http.put(self.url(upload["url"]), data=data, headers=upload["headers"], timeout=60).raise_for_status()
        done = self.http.post(f"{items}/{ticket['item']['id']}/complete", json={}, headers=self.auth, timeout=60)
        done.raise_for_status()

    def listing(self, dataset_id: str) -> list[dict]:
        found, params = [], {"limit": 1000}
        while True:
            page = self.http.get(
                f"{self.base}/api/datasets/{dataset_id}/items", params=params, headers=self.auth, timeout=60
            ).json()
            found += page["items"]
            if not page["next_cursor"]:
                return found
            params["cursor"] = page["next_cursor"]

    def download(self, item: dict, folder: Path) -> None:
        resp = self.http.get(self.url(item["download_url"]), timeout=60)
        resp.raise_for_status()
        (folder / item["filename"]).write_bytes(resp.content)


def timed_pool(work, jobs: list, workers: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, jobs):
            pass
    return time.perf_counter() - started


def run_edna(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one `edna` process."""
    started = time.perf_counter()
    proc = subprocess.Popen([EDNA, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"edna {' '.join(args)} failed ({proc.returncode}): {out}")
    return elapsed, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        source = tmp_path / "source"
        source.mkdir()
        for n in range(args.files):
            (source / f"file-{n:06d}.bin").write_bytes(os.urandom(args.size))
        # The per-tenant request quota (6000/min) would pace both sides: this measures transfers.
        os.environ["EDNA_QUOTA_REQUESTS_PER_MINUTE"] = "1000000"
        proc, base, token, raw_dataset = serve_bench_tenant(tmp_path / "data")
        try:
            raw = Raw(base, token)
            env = {k: v for k, v in os.environ.items() if not k.startswith("EDNA_")}
            env |= {"EDNA_URL": base, "EDNA_USERNAME": "bench", "EDNA_PASSWORD": "bench-password"}
            files = sorted(source.iterdir())
            workers = ["--workers", str(args.workers)]

            raw_push = timed_pool(lambda p: raw.upload(raw_dataset, p), files, args.workers)
            push_s, push_rss, push_out = run_edna(env, "push", str(source), "--dataset", "client", *workers)
            again_s, again_rss, again_out = run_edna(env, "push", str(source), "--dataset", "client", *workers)

            raw_dir = tmp_path / "raw-pull"
            raw_dir.mkdir()
            started = time.perf_counter()  # the listing counts, as in `edna pull`
            listed = raw.listing(raw_dataset)
            timed_pool(lambda item: raw.download(item, raw_dir), listed, args.workers)
            raw_pull = time.perf_counter() - started
            shutil.rmtree(raw_dir)
            pull_s, pull_rss, pull_out = run_edna(
                env, "pull", "--dataset", "client", str(tmp_path / "pulled"), *workers
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    n = args.files
    print(f"{n} files of {args.size} bytes, {args.workers} workers, local blob store")
    print(f"  raw signed PUT flow : {n / raw_push:8.0f} files/s")
    print(
        f"  edna push           : {n / push_s:8.0f} files/s  ratio {raw_push / push_s:.2f}  peak RSS {push_rss:.0f} MiB"
    )
    print(f"      ({push_out})")
    print(
        f"  edna push, again    : {n / again_s:8.0f} files/s  (all skipped by checksum, peak RSS {again_rss:.0f} MiB)"
    )
    print(f"      ({again_out})")
    print(f"  raw signed GET      : {n / raw_pull:8.0f} files/s  (listing included)")
    print(
        f"  edna pull           : {n / pull_s:8.0f} files/s  ratio {raw_pull / pull_s:.2f}  peak RSS {pull_rss:.0f} MiB"
    )
    print(f"      ({pull_out})")


if __name__ == "__main__":
    main()
