"""Near-duplicate passes (`near_duplicates.find_groups`): seconds and peak RSS per item at 10k and 100k items.

For each scenario and size a fill subprocess writes `--dims`-dimensional unit vectors to a raw float32
file: "random" (Gaussian directions) or "clustered" (around 50 random centres with a spread that puts
the cosine of two items of a cluster at about 0.7-0.85). 1% of the items are then planted
near-duplicates: a copy of another item at a cosine drawn from 0.96-0.995, a quarter of them a second
copy of the same source (groups of three). Every run is a fresh subprocess that reads the file a batch
of 8,192 at a time, as `VectorIndex.scan` hands them out, and reports its seconds and its own peak RSS
(VmHWM, /proc/self/status; ru_maxrss as a cross-check):

- stream only: the imports and one pass over the file, holding nothing (the RSS floor);
- LSH: find_groups at `--threshold` ("added" = its peak over the floor, per item);
- exact (the baseline, same run): every pair, as blocked float32 matrix products of 2,048 x 2,048 over
  the whole matrix held in memory, then union-find; up to `--exact-up-to` items, beyond that its time is
  extrapolated from the largest size measured (quadratic).

Precision and recall are over pairs of items put in one group, against the planted groups and, where
the exact pass ran, against its groups (the true answer). Goals printed: precision and recall >= 0.95
and seconds and RSS per item about flat from the smallest size to the largest.

    .venv/bin/python benchmarks/near_duplicates.py [--sizes 10000 100000] [--dims 128] [--threshold 0.95]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline

BATCH = 8192
TILE = 2048
CENTRES = 50
SPREAD = (0.04, 0.055)  # per-cluster noise per dimension at 128 dims: cluster cosines ~0.85-0.7
PLANTED = 0.01
COPY_COSINE = (0.96, 0.995)
GOAL = 0.95


def item_id(n: int) -> str:
    return f"01J{n:023d}"  # as long as the service's ids


def fill(path: Path, scenario: str, items: int, dims: int, seed: int) -> None:
    """The vectors file (raw float32, row-major) and planted.npy: (item, group) of every planted item."""
    rng = np.random.default_rng([seed, items, scenario == "clustered"])
    if scenario == "clustered":
        centres = rng.standard_normal((CENTRES, dims))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        spread = rng.uniform(*SPREAD, CENTRES) * np.sqrt(128 / dims)
        cluster = rng.integers(CENTRES, size=items)
        vectors = centres[cluster] + spread[cluster, None] * rng.standard_normal((items, dims))
    else:
        vectors = rng.standard_normal((items, dims))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    copies = rng.choice(items, int(items * PLANTED), replace=False)
    originals = np.setdiff1d(np.arange(items), copies)
    sources = rng.choice(originals, copies.size, replace=False)
    sources[1::4] = sources[0::4][: sources[1::4].size]  # a quarter: a second copy of the same source
    for copy, source in zip(copies, sources, strict=True):
        away = rng.standard_normal(dims)
        away -= (away @ vectors[source]) * vectors[source]
        away /= np.linalg.norm(away)
        cosine = rng.uniform(*COPY_COSINE)
        vectors[copy] = cosine * vectors[source] + np.sqrt(1 - cosine**2) * away
    vectors.astype(np.float32).tofile(path / "vectors.f32")
    groups = {int(s): [int(s)] for s in sources}
    for copy, source in zip(copies, sources, strict=True):
        groups[int(source)].append(int(copy))
    members = [(m, g) for g, group in enumerate(groups.values()) for m in group]
    np.save(path / "planted.npy", np.array(members, dtype=np.int64))


def stream(path: Path, dims: int, passes: list[int]):
    """batches() over the file: a fresh pass per call, a batch of BATCH rows at a time."""

    def batches():
        passes[0] += 1
        at = 0
        with open(path / "vectors.f32", "rb") as fh:
            while True:
                rows = np.fromfile(fh, dtype=np.float32, count=BATCH * dims).reshape(-1, dims)
                if not len(rows):
                    return
                yield [item_id(n) for n in range(at, at + len(rows))], rows
                at += len(rows)

    return batches


def exact(batches, threshold: float) -> list[list[str]]:
    """The baseline: every pair, the whole matrix in memory, tile by tile; then union-find."""
    ids, parts = [], []
    for batch_ids, rows in batches():
        ids += batch_ids
        parts.append(rows)
    vectors = np.concatenate(parts)
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a in range(0, len(ids), TILE):
        for b in range(a, len(ids), TILE):
            i, j = np.nonzero(vectors[a : a + TILE] @ vectors[b : b + TILE].T >= threshold)
            for x, y in zip((i + a).tolist(), (j + b).tolist(), strict=True):
                if x < y:
                    parent[find(x)] = find(y)
    groups: dict[int, list[str]] = {}
    for n in range(len(ids)):
        groups.setdefault(find(n), []).append(ids[n])
    return [sorted(g) for g in groups.values() if len(g) > 1]


def vm_hwm_kib() -> int:
    """This process's own peak RSS (VmHWM; Linux): unlike ru_maxrss, never the parent's carried over an exec."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def child(method: str, path: Path, dims: int, threshold: float) -> None:
    """One run; prints its figures as JSON and writes its groups to {method}.json beside the data."""
    from service.domain.near_duplicates import find_groups

    passes = [0]
    batches = stream(path, dims, passes)
    started = time.perf_counter()
    groups: list[list[str]] = []
    if method == "lsh":
        items = (path / "vectors.f32").stat().st_size // (4 * dims)  # as the service passes VectorSet.count
        groups = [ids for ids, _ in find_groups(batches, threshold, total=items)]
    elif method == "exact":
        groups = exact(batches, threshold)
    else:  # the floor: one pass, BLAS in use as in the others (its buffers are a fixed cost)
        for _, rows in batches():
            rows @ rows[:1].T
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "passes": passes[0], "groups": len(groups)}
    result["vmhwm_kib"] = vm_hwm_kib()
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (path / f"{method}.json").write_text(json.dumps(groups))
    print(json.dumps(result))


def run_child(method: str, path: Path, args, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--data", str(path)]
    cmd += ["--dims", str(args.dims), "--threshold", str(args.threshold), "--seed", str(args.seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=max(timeout, 1) + 60)
    if done.returncode != 0:
        raise SystemExit(f"{method} child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pairs(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {(a, b) for group in groups for n, a in enumerate(group) for b in group[n + 1 :]}


def scores(found: list[list[str]], truth: list[list[str]]) -> tuple[float, float]:
    """(precision, recall) over the pairs of items grouped together."""
    got, want = pairs(found), pairs(truth)
    hit = len(got & want)
    return (hit / len(got) if got else 1.0), (hit / len(want) if want else 1.0)


def planted_groups(path: Path) -> list[list[str]]:
    members = np.load(path / "planted.npy")
    groups: dict[int, list[str]] = {}
    for item, group in members.tolist():
        groups.setdefault(group, []).append(item_id(item))
    return [sorted(g) for g in groups.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--scenarios", nargs="+", choices=["random", "clustered"], default=["random", "clustered"])
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--exact-up-to", type=int, default=100_000, help="largest size the exact baseline runs at")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop early (with a warning) past this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=["fill", "stream", "lsh", "exact"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "fill":
        fill(args.data, args.scenario, args.items, args.dims, args.seed)
        return
    if args.child:
        child(args.child, args.data, args.dims, args.threshold)
        return

    from service.domain.near_duplicates import tables_for

    deadline = Deadline(args.max_seconds)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edna-duplicates-") as tmp:
        for scenario in args.scenarios:
            for items in sorted(args.sizes):
                if deadline.passed():
                    break
                path = Path(tmp) / f"{scenario}-{items}"
                path.mkdir()
                cmd = [sys.executable, __file__, "--child", "fill", "--data", str(path), "--scenario", scenario]
                cmd += ["--items", str(items), "--dims", str(args.dims), "--seed", str(args.seed)]
                subprocess.run(cmd, check=True, timeout=600)
                runs = {m: run_child(m, path, args, deadline.end - time.monotonic()) for m in ("stream", "lsh")}
                if items <= args.exact_up_to and not deadline.passed():
                    runs["exact"] = run_child("exact", path, args, deadline.end - time.monotonic())
                truth = planted_groups(path)
                for method, run in runs.items():
                    found = json.loads((path / f"{method}.json").read_text())
                    run["planted"] = scores(found, truth)
                    if "exact" in runs:
                        run["exact"] = scores(found, json.loads((path / "exact.json").read_text()))
                rows.append((scenario, items, runs))
    report(args, rows, tables_for)


def report(args, rows, tables_for) -> None:
    print(
        f"find_groups over {args.dims}-dim unit vectors at threshold {args.threshold}, {PLANTED:.0%} planted "
        f"near-duplicates (cosine {COPY_COSINE[0]}-{COPY_COSINE[1]}, a quarter in threes); read {BATCH:,} "
        "at a time from a file; each run a fresh subprocess; RSS = VmHWM"
    )
    head = f"{'seconds':>8} {'s/1k':>7} {'peak MB':>8} {'added MB':>9} {'B/item':>7} {'passes':>6} {'groups':>6}"
    print(f"{'scenario':10} {'items':>8}  {'run':24} {head}  {'precision/recall planted':>24} {'vs exact':>13}")
    exact_rate: dict[str, tuple[int, float]] = {}
    figures: dict[str, dict[int, tuple[float, float]]] = {}  # scenario -> items -> (s per 1k, added bytes)
    for scenario, items, runs in rows:
        floor = runs["stream"]["vmhwm_kib"] / 1024
        bits, tables = tables_for(args.threshold, items)
        for method, run in runs.items():
            name = {"stream": "stream only (RSS floor)", "lsh": f"LSH k={bits} L={tables}", "exact": "exact all pairs"}
            mb = run["vmhwm_kib"] / 1024
            added = mb - floor
            per_item = added * 2**20 / items if method != "stream" else 0.0
            sk = run["seconds"] / items * 1000
            cols = f"{run['seconds']:8.2f} {sk:7.3f} {mb:8.1f} {added:9.1f} {per_item:7.0f}"
            cols += f" {run['passes']:6} {run['groups']:6}"
            score = "{:.3f} / {:.3f}".format(*run["planted"]) if method != "stream" else "-"
            versus = "{:.3f} / {:.3f}".format(*run["exact"]) if "exact" in run and method == "lsh" else "-"
            print(f"{scenario:10} {items:8,}  {name[method]:24} {cols}  {score:>24} {versus:>13}")
            if method == "exact":
                exact_rate[scenario] = (items, run["seconds"])
            if method == "lsh":
                figures.setdefault(scenario, {})[items] = (sk, added * 2**20)
                if "exact" in runs:
                    ratio = runs["exact"]["seconds"] / run["seconds"]
                    print(f"{'':20}  -> LSH is {ratio:.1f}x faster than the exact baseline at {items:,} (measured)")
                elif scenario in exact_rate:
                    size, seconds = exact_rate[scenario]
                    guess = seconds * (items / size) ** 2
                    print(
                        f"{'':20}  -> exact extrapolated from {size:,}: {guess:.0f} s; "
                        f"LSH {guess / run['seconds']:.0f}x faster"
                    )
                precision, recall = run["planted"]
                ok = precision >= GOAL and recall >= GOAL
                print(f"{'':20}  -> goal precision and recall >= {GOAL}: {'ok' if ok else 'MISS'}")
    for scenario, by_size in figures.items():
        (small, (s1, b1)), (large, (s2, b2)) = min(by_size.items()), max(by_size.items())
        if small != large:  # the added RSS is a fixed part (working buffers) plus a part per item: the slope
            print(
                f"{scenario}: from {small:,} to {large:,} items, seconds per 1k items x{s2 / s1:.2f}; "
                f"added RSS per item x{(b2 / large) / (b1 / small):.2f}, of which "
                f"{(b2 - b1) / (large - small):.0f} B per item beyond the fixed part (goal: about flat)"
            )
    print()
    print(
        f"reproduce: .venv/bin/python benchmarks/near_duplicates.py --sizes {' '.join(map(str, args.sizes))} "
        f"--dims {args.dims} --threshold {args.threshold} --exact-up-to {args.exact_up_to} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
