"""Every figure side by side with Label Studio 1.23.2: the same workload, the same images, one table.

Label Studio is no dependency of Edna: `--install` puts it into its own virtualenv under
build/labelstudio-venv (python3.11 -m venv; pip install label-studio==1.23.2, a few minutes).
Both servers run on loopback from a fresh temp data dir, one after the other, driven by one client
with sequential requests; warm-up calls are excluded. For each N (`--items`, default 1,000 and
10,000) the rows are:

- first start on an empty data dir (Label Studio: its migrations and the user);
- cold start: process spawn until the API answers (median of `--starts`, data already registered);
- idle memory: PSS (shared pages counted once) of the server's whole process tree after that start
  and a few requests;
- register N existing objects: Edna `python -m service import-prefix` of a directory of N PNGs, until
  it says they are imported (the thumbnails it makes next are logged apart: Label Studio makes none);
  Label Studio one import of N task URLs pointing at the same PNGs served on loopback;
- list all in pages of 100: Edna's items route through its cursor; Label Studio's tasks API, and
  its ids-only listing as a second row;
- the floor of one request: the health check without a token, p50 (for reading the rows below);
- set a label p50/p95: Edna's label route; Label Studio creates an annotation;
- filter by label, full-text search: the first page of 100, p50 of `--query-calls` calls each
  (Label Studio: its data manager's filters on annotation results and on the image URL);
- export JSON (Edna: JSON Lines) and CSV: total time, and the server tree's peak PSS meanwhile.

Time rows: ratio = Label Studio / Edna (goal >= 10x); memory rows: Label Studio MB / Edna MB
(goal >= 5x). The table goes to stdout and, with every raw figure, to build/vs_labelstudio.json.

    .venv/bin/python benchmarks/vs_labelstudio.py --install          # once
    .venv/bin/python benchmarks/vs_labelstudio.py [--items 1000 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from local_servers import log, percentile, pss_mb
from vs_labelstudio_edna import EdnaSide
from vs_labelstudio_ls import VENV, LabelStudioSide, install

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TIME_GOAL, MEMORY_GOAL = 10.0, 5.0


def make_images(folder: Path, count: int) -> list[str]:
    """`count` small PNGs (sklearn's 8x8 digits scaled to 32x32), named for their digit; their names."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(count):
        pixels = (digits.images[n % len(digits.images)] * 15).astype("uint8")
        name = f"digit-{n:05d}-{WORDS[digits.target[n % len(digits.target)]]}.png"
        path = folder / name
        if not path.exists():
            Image.fromarray(pixels, "L").resize((32, 32)).save(path)
        names.append(name)
    return names


@contextlib.contextmanager
def serve_files(folder: Path):
    """The images on loopback, for the task URLs Label Studio imports; yields the base URL."""
    handler = partial(QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class PeakRss:
    """The highest PSS of a process tree while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, pss_mb(pid)
        self.done = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, pss_mb(self.pid))

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, pss_mb(self.pid))


def latencies(call, arguments: list, warmup: int = 3) -> list[float]:
    """Milliseconds per sequential call, the first `warmup` calls excluded; any non-2xx stops the run."""
    times = []
    for n, argument in enumerate(arguments):
        started = time.perf_counter()
        answer = call(argument)
        elapsed = (time.perf_counter() - started) * 1000
        status = answer[0] if isinstance(answer, tuple) else answer
        if not 200 <= status < 300:
            raise SystemExit(f"{call.__qualname__}({argument!r}) answered {status}")
        if n >= warmup:
            times.append(elapsed)
    return times


def measure(side, count: int, images: Path, names: list[str], files_url: str, args) -> dict:
    """The whole workload against one server; every raw figure."""
    rng = random.Random(args.seed)
    f: dict = {}
    log(f"{side.name}, {count:,} items: setting up")
    side.setup()
    f["first_start_s"] = side.first_start_s
    f["register_s"] = side.register(images, [f"{files_url}/{name}" for name in names])
    log(f"  registered in {f['register_s']:.2f} s")
    if hasattr(side, "previews_s"):
        f["previews_s"] = side.previews_s
        log(f"  then every thumbnail in {side.previews_s:.2f} s (Label Studio makes none)")
    side.stop()
    starts = []
    for _ in range(args.starts):
        side.stop()
        starts.append(side.start())
    f["cold_starts_s"], f["cold_start_s"] = starts, statistics.median(starts)
    side.sign_in()
    ids = side.list_all()  # warm-up: the first listing after the start
    f["idle_mb"] = pss_mb(side.pid)
    log(f"  started in {f['cold_start_s']:.2f} s, idle {f['idle_mb']:.0f} MB")
    if len(ids) != count:
        raise SystemExit(f"{side.name} listed {len(ids)} items, not {count}")
    started = time.perf_counter()
    side.list_all()
    f["list_all_s"] = time.perf_counter() - started
    if hasattr(side, "list_ids"):
        f["list_all_bytes"] = side.listed_bytes
        side.list_ids()
        started = time.perf_counter()
        listed = side.list_ids()
        f["list_ids_s"] = time.perf_counter() - started
        f["list_ids_bytes"] = side.listed_bytes
        if len(listed) != count:
            raise SystemExit(f"{side.name}'s ids-only listing gave {len(listed)} ids, not {count}")
    log(f"  listed all in {f['list_all_s']:.2f} s; labelling")
    f["health_p50_ms"] = statistics.median(latencies(lambda _: side.health(), range(args.label_calls + 3)))
    pairs = [(rng.choice(ids), rng.choice(WORDS)) for _ in range(args.label_calls + 3)]
    labels = latencies(lambda pair: side.set_label(*pair), pairs)
    f["label_p50_ms"], f["label_p95_ms"] = statistics.median(labels), percentile(labels, 0.95)
    queries = [rng.choice(WORDS) for _ in range(args.query_calls + 3)]
    f["filter_p50_ms"] = statistics.median(latencies(side.filter_by_label, queries))
    f["search_p50_ms"] = statistics.median(latencies(side.search, queries))
    for kind in ("json", "csv"):
        side.export(kind)  # warm-up
        with PeakRss(side.pid) as peak:
            started = time.perf_counter()
            status, size = side.export(kind)
            f[f"export_{kind}_s"] = time.perf_counter() - started
        if status != 200 or not size:
            raise SystemExit(f"{side.name}'s {kind} export answered {status} with {size} bytes")
        f[f"export_{kind}_peak_mb"], f[f"export_{kind}_mb"] = peak.peak, size / 1e6
    log(f"  exported; PSS peak {f['export_csv_peak_mb']:.0f} MB")
    side.stop()
    return f


ROWS = [  # key, label, unit (s, ms: time; MB: memory)
    ("first_start_s", "first start, empty data dir", "s"),
    ("cold_start_s", "cold start to the API answering", "s"),
    ("idle_mb", "idle memory (PSS, process tree)", "MB"),
    ("register_s", "register N existing objects", "s"),
    ("list_all_s", "list all, pages of 100", "s"),
    ("list_ids_s", "list all, LS ids-only listing", "s"),
    ("health_p50_ms", "baseline: health check, p50", "ms"),
    ("label_p50_ms", "set a label, p50", "ms"),
    ("label_p95_ms", "set a label, p95", "ms"),
    ("filter_p50_ms", "filter by label, first 100, p50", "ms"),
    ("search_p50_ms", "full-text search, first 100, p50", "ms"),
    ("export_json_s", "export JSON", "s"),
    ("export_json_peak_mb", "export JSON, server peak PSS", "MB"),
    ("export_csv_s", "export CSV", "s"),
    ("export_csv_peak_mb", "export CSV, server peak PSS", "MB"),
]


BASELINES = {"health_p50_ms"}  # shown to read the other rows by, with no goal of their own


def table(results: dict[int, dict]) -> list[dict]:
    """One row per (N, figure): both values and the ratio LS / Edna, flagged when below its goal."""
    rows = []
    for count, sides in results.items():
        edna, ls = sides["Edna"], sides["Label Studio"]
        for key, label, unit in ROWS:
            mine = edna.get(key, edna["list_all_s"] if key == "list_ids_s" else None)
            ratio = ls[key] / mine
            goal = None if key in BASELINES else MEMORY_GOAL if unit == "MB" else TIME_GOAL
            rows.append(
                {"items": count, "figure": key, "label": label, "unit": unit, "edna": mine, "labelstudio": ls[key],
                 "ratio": ratio, "goal": goal, "below_goal": goal is not None and ratio < goal}
            )  # fmt: skip
    return rows


def print_table(rows: list[dict]) -> None:
    goals = f"time >= {TIME_GOAL:g}x, memory >= {MEMORY_GOAL:g}x"
    print(f"Edna vs Label Studio 1.23.2, one client, sequential requests, loopback. Goals: {goals}")
    print("(ratio = Label Studio / Edna; '<' marks a row below its goal)")
    print(f"{'N':>6}  {'figure':36} {'Edna':>12} {'Label Studio':>14}  {'ratio':>8}")
    for row in rows:
        mark = "<" if row["below_goal"] else "(baseline)" if row["goal"] is None else ""
        print(
            f"{row['items']:>6,}  {row['label']:36} {row['edna']:>9.2f} {row['unit']:2} "
            f"{row['labelstudio']:>11.2f} {row['unit']:2}  {row['ratio']:>7.{1 if row['ratio'] >= 1 else 3}f}x {mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help=f"install Label Studio 1.23.2 into {VENV}")
    parser.add_argument("--items", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--starts", type=int, default=3, help="cold starts timed per server (median)")
    parser.add_argument("--label-calls", type=int, default=200)
    parser.add_argument("--query-calls", type=int, default=30, help="filter and search calls each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BUILD / "vs_labelstudio.json")
    args = parser.parse_args()
    if args.install:
        install()
    if not (VENV / "bin" / "label-studio").exists():
        raise SystemExit(f"Label Studio is not installed in {VENV}: run with --install first")
    results: dict[int, dict] = {}
    for count in args.items:
        images = BUILD / "vs-labelstudio-images" / str(count)
        names = make_images(images, count)
        results[count] = {}
        with serve_files(images) as files_url:
            for make in (partial(EdnaSide, classes=WORDS), partial(LabelStudioSide, classes=WORDS)):
                with tempfile.TemporaryDirectory(dir=BUILD) as data_dir:
                    side = make(Path(data_dir))
                    try:
                        results[count][side.name] = measure(side, count, images, names, files_url, args)
                    finally:
                        side.stop()
    rows = table(results)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    saved = {"args": vars(args) | {"out": str(args.out)}, "raw": results, "rows": rows}
    args.out.write_text(json.dumps(saved, indent=1))
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
