"""Streamed inference: peak memory and throughput of the engine against an in-memory baseline and naive load-all.

Synthetic 64x64 RGB PNG datasets (every image distinct, drawn with numpy) sit on local disk behind a
small file-backed Storage; a small convolutional ONNX model (random weights) is built with onnx.helper.
Each run happens in a fresh subprocess so that its peak RSS (ru_maxrss) is its own:

- streamed:  the engine, plan -> infer_shard -> evaluate -> finalize, as the local runner calls it;
- in-memory: every item's bytes preloaded first (not timed), then the same prefetch pool, decode,
             preprocess and session as the engine, without storage, listing, parts or metrics;
- load-all:  naive: read and decode every item into one array, then infer it slice by slice;
- preloaded: for the breakdown only: the streamed engine again, with every item's bytes preloaded
             (not timed), so that streamed/preloaded is the cost of reading from the store and
             preloaded/in-memory the cost of the engine's own listing, labels, parts and metrics.

Goals (issue 4): streamed peak RSS <= 400 MB and within +15 % from the smallest to the largest
dataset; streamed throughput >= 0.9x the in-memory baseline.

With `--json`, progress goes to stderr and stdout is one JSON object (worst streamed peak RSS, its
growth, the streamed/in-memory ratio per size, the goals).

    .venv/bin/python benchmarks/inference.py [--sizes 1000,10000,100000] [--max-seconds 1800] [--json]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import io
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

SIDE, CLASSES, BATCH, MAX_MEMORY_MB = 64, 10, 64, 256
SPEC = {
    "format": "onnx",
    "class_names": [f"c{i}" for i in range(CLASSES)],
    "input": {"width": SIDE, "height": SIDE, "channels": 3, "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.25] * 3,
              "layout": "nchw", "resample": "box"},
    "output": {"name": "logits", "kind": "logits"},
}  # fmt: skip
GOAL_RSS_MB, GOAL_RSS_GROWTH, GOAL_RATIO = 400, 0.15, 0.9
CHUNK = 1000  # items per generated folder, and per generation task


class FileStorage:
    """The engine's Storage on a local directory; keys are relative paths, listed in key order page by page."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folders: set[Path] = set()
        self.temp_names = itertools.count()

    def _walk(self, folder: Path, rel: str, prefix: str, after: str):
        # A folder's keys all start with "name/": sorting entries that way gives whole-key order. Entries
        # wholly before `after` are skipped by bisection, not read.
        with os.scandir(folder) as scan:
            names = sorted(e.name + "/" if e.is_dir() else e.name for e in scan if not e.name.startswith(".tmp-"))
        start = 0
        if after.startswith(rel):
            start = bisect.bisect_right(names, after[len(rel) :])
            if start and names[start - 1].endswith("/") and after[len(rel) :].startswith(names[start - 1]):
                start -= 1  # `after` lies inside that folder: part of it is still to come
        for name in names[start:]:
            key = rel + name
            if not name.endswith("/"):
                if key.startswith(prefix):
                    yield key
            elif key.startswith(prefix) or prefix.startswith(key):
                yield from self._walk(folder / name, key, prefix, after)

    def list_page(self, prefix, start_after=None, token=None, limit=1000):
        keys = list(itertools.islice(self._walk(self.root, "", prefix, token or start_after or ""), limit + 1))
        return (keys[:limit], keys[limit - 1]) if len(keys) > limit else (keys, None)

    def get(self, key):
        # Fewer system calls than Path.read_bytes: each one hands the GIL to the decoding threads and back.
        # Read exactly the file's size: a larger buffer shrunk afterwards stays a memory mapping of its own.
        fd = os.open(os.path.join(self.root, key), os.O_RDONLY)
        try:
            return os.read(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    def put(self, key, data):
        path = self.root / key
        if path.parent not in self.folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.folders.add(path.parent)
        tmp = path.with_name(f".tmp-{os.getpid()}-{next(self.temp_names)}")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: readers see the old object or the new one

    def exists(self, key):
        return os.path.isfile(os.path.join(self.root, key))

    def label(self, key):
        return f"c{int(key.rpartition('/')[2][:-4]) % CLASSES}"  # the truth lives in the name: no I/O


def conv_model() -> bytes:
    """[N, 3, 64, 64] -> conv 3x3/2 (8) -> relu -> conv 3x3/2 (16) -> relu -> global pool -> dense -> [N, 10]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weights(name, *shape):
        return numpy_helper.from_array(rng.normal(0, 0.2, shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"]),
    ]
    init = [weights("w1", 8, 3, 3, 3), weights("b1", 8), weights("w2", 16, 8, 3, 3), weights("b2", 16)]
    init += [weights("w3", 16, CLASSES), weights("b3", CLASSES)]
    graph = helper.make_graph(
        nodes,
        "bench_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _generate_chunk(args: tuple[str, int, int]) -> None:
    """Draw and encode one folder of distinct images: smooth random waves per channel plus noise."""
    from PIL import Image

    root, start, count = args
    rng = np.random.default_rng(start)
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    freq = rng.uniform(0.05, 0.4, (count, 2, 3)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (count, 2, 3)).astype(np.float32)
    waves = np.sin(x[None, :, :, None] * freq[:, None, None, 0] + phase[:, None, None, 0])
    waves *= np.cos(y[None, :, :, None] * freq[:, None, None, 1] + phase[:, None, None, 1])
    images = np.clip(128 + 100 * waves + rng.normal(0, 3, waves.shape), 0, 255).astype(np.uint8)
    folder = Path(root) / "items" / f"{start // CHUNK:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(image, "RGB").save(buf, format="PNG", compress_level=1)
        (folder / f"{start + i:07d}.png").write_bytes(buf.getvalue())


def dataset(n: int, base: Path) -> Path:
    """The n-item dataset and the model on disk, generated once and reused."""
    root = base / f"{n}"
    if (root / "ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    with Pool(os.cpu_count() or 1) as pool:
        pool.map(_generate_chunk, [(str(root), s, min(CHUNK, n - s)) for s in range(0, n, CHUNK)])
    storage = FileStorage(root)
    storage.put("models/conv/model.onnx", conv_model())
    storage.put("models/conv/model.json", json.dumps(SPEC).encode())
    (root / "ready").write_text(str(n))
    print(f"  generated {n:,} PNGs in {time.perf_counter() - started:.1f} s", flush=True)
    return root


# ---- the three runs, each in its own process ------------------------------------------------------------


def run_streamed(root: Path, storage: FileStorage | None = None) -> dict:
    from edna_engine import pipeline
    from edna_engine.params import JobParams

    storage = storage or FileStorage(root)
    out = f"jobs/{uuid.uuid4().hex}/"
    params = JobParams("bench", "items/", "models/conv/model.onnx", out, BATCH, MAX_MEMORY_MB, 1)
    started = time.perf_counter()
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard)
    pipeline.evaluate(storage, params)
    status = pipeline.finalize(storage, params)
    seconds = time.perf_counter() - started
    shutil.rmtree(root / out)
    return {"items": status["progress"]["done"], "seconds": seconds}


class PreloadedStorage(FileStorage):
    """The same store, but items' bytes come from memory."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.blobs = {key: super(PreloadedStorage, self).get(key) for key in _keys(self)}

    def get(self, key):
        blob = self.blobs.get(key)
        return super().get(key) if blob is None else blob


def run_preloaded(root: Path) -> dict:
    return run_streamed(root, PreloadedStorage(root))


def _keys(storage: FileStorage) -> list[str]:
    keys, token = [], None
    while True:
        page, token = storage.list_page("items/", token=token)
        keys += page
        if not token:
            return keys


def run_in_memory(root: Path) -> dict:
    from edna_engine.model import Model
    from edna_engine.prefetch import Item, Prefetcher
    from edna_engine.preprocess import BatchBuffer, as_item, decode, normalize_batch
    from edna_engine.shard import FETCH_WORKERS
    from edna_engine.spec import parse_spec

    storage = FileStorage(root)
    blobs = {key: storage.get(key) for key in _keys(storage)}  # preloaded: not timed
    spec = parse_spec(SPEC)
    started = time.perf_counter()
    model = Model(storage.get("models/conv/model.onnx"), spec)
    done, batch, buffer = 0, [], BatchBuffer(spec.item_shape)

    def load(key):
        return Item(key, None, as_item(decode(blobs[key], spec), spec))

    def infer(batch):
        return len(model.predict(normalize_batch(buffer.fill(batch), spec))[0])

    with Prefetcher(iter(blobs), load, BATCH, FETCH_WORKERS) as items:
        for item in items:
            batch.append(item.array)
            if len(batch) == BATCH:
                done += infer(batch)
                batch = []
    if batch:
        done += infer(batch)
    return {"items": done, "seconds": time.perf_counter() - started}


def run_load_all(root: Path) -> dict:
    from edna_engine.model import Model
    from edna_engine.preprocess import as_item, preprocess
    from edna_engine.spec import parse_spec

    storage = FileStorage(root)
    spec = parse_spec(SPEC)
    started = time.perf_counter()
    keys = _keys(storage)
    data = np.empty((len(keys), 3, SIDE, SIDE), dtype=np.float32)
    for i, key in enumerate(keys):
        data[i] = as_item(preprocess(storage.get(key), spec), spec)
    model = Model(storage.get("models/conv/model.onnx"), spec)
    done = sum(len(model.predict(data[s : s + BATCH])[0]) for s in range(0, len(keys), BATCH))
    return {"items": done, "seconds": time.perf_counter() - started}


MODES = {"streamed": run_streamed, "in-memory": run_in_memory, "load-all": run_load_all, "preloaded": run_preloaded}


def worker(mode: str, root: str) -> None:
    result = MODES[mode](Path(root))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(result))


def measure(mode: str, root: Path, timeout: float) -> dict | None:
    """One run in a fresh interpreter; None when it did not finish in time."""
    cmd = [sys.executable, __file__, "--worker", mode, "--root", str(root)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1.0, timeout), check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"{mode} run failed:\n{e.stderr}") from e
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="dataset sizes, comma-separated")
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop starting runs after this long")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and size (medians are reported)")
    default_dir = Path(tempfile.gettempdir()) / "edna-bench-inference"
    parser.add_argument("--data-dir", default=str(default_dir), help="generated datasets, kept for the next run")
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="progress to stderr; stdout is one JSON object")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.root)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            runs = run_all(args, sizes)
        print(json.dumps(figures(sizes, runs)))
    else:
        report(sizes, run_all(args, sizes))


def run_all(args, sizes: list[int]) -> dict[tuple[int, str], list[dict]]:
    """Every mode at every size, `--repeat` times interleaved, each in a fresh interpreter."""
    deadline = time.monotonic() + args.max_seconds
    print(f"Streamed inference: {SIDE}x{SIDE} RGB PNG on local disk, conv ONNX model, batch {BATCH}, "
          f"max_memory_mb {MAX_MEMORY_MB}, {os.cpu_count()} CPUs")  # fmt: skip
    runs: dict[tuple[int, str], list[dict]] = {}
    for n in sizes:
        if time.monotonic() > deadline:
            print(f"  {n:,} items: skipped, --max-seconds reached")
            continue
        root = dataset(n, Path(args.data_dir))
        for rep in range(args.repeat):  # interleaved: a busy moment on a shared machine hits every mode alike
            for mode in MODES:
                result = measure(mode, root, deadline - time.monotonic())
                if result is None:
                    print(f"  {n:>7,} {mode:<9}  did not finish within --max-seconds")
                    continue
                result["rep"], result["rate"] = rep, result["items"] / result["seconds"]
                runs.setdefault((n, mode), []).append(result)
                print(f"  {n:>7,} {mode:<9}  {result['seconds']:7.2f} s  {result['rate']:8,.0f} items/s  "
                      f"peak RSS {result['peak_rss_mb']:6.0f} MB", flush=True)  # fmt: skip
    return runs


def figures(sizes: list[int], runs: dict) -> dict:
    """What the goals are about: streamed peak RSS (worst, growth) and the streamed/in-memory ratio."""
    done = [n for n in sizes if runs.get((n, "streamed"))]
    rss = [max(r["peak_rss_mb"] for r in runs[n, "streamed"]) for n in done]
    ratios = {n: paired(runs, n, "streamed", "in-memory") for n in done}
    return {
        "goals": {"rss_mb": GOAL_RSS_MB, "rss_growth": GOAL_RSS_GROWTH, "ratio": GOAL_RATIO},
        "sizes": done,
        "streamed_peak_rss_mb": max(rss, default=None),
        "streamed_rss_growth": rss[-1] / rss[0] - 1 if len(rss) >= 2 else None,
        "ratios": {str(n): r for n, r in ratios.items()},
        "worst_ratio": min((r for r in ratios.values() if r is not None), default=None),
        "medians": {
            f"{n} {mode}": {
                "items_per_s": statistics.median(r["rate"] for r in runs[n, mode]),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[n, mode]),
            }
            for n in sizes
            for mode in MODES
            if runs.get((n, mode))
        },
    }


def paired(runs: dict, n: int, top: str, bottom: str) -> float | None:
    """Median over repetitions of top/bottom throughput, each pair measured back to back."""
    bottoms = {r["rep"]: r["rate"] for r in runs.get((n, bottom), [])}
    ratios = [r["rate"] / bottoms[r["rep"]] for r in runs.get((n, top), []) if r["rep"] in bottoms]
    return statistics.median(ratios) if ratios else None


def report(sizes: list[int], runs: dict) -> None:
    print("Median throughput and worst peak RSS per mode")
    for n in sizes:
        cells = []
        for mode in MODES:
            done = runs.get((n, mode))
            if done:
                rate = statistics.median(r["rate"] for r in done)
                cells.append(f"{mode} {rate:,.0f}/s {max(r['peak_rss_mb'] for r in done):.0f} MB")
        print(f"  {n:>7,}: " + "; ".join(cells))
    print("Ratios (median of back-to-back pairs)")
    ratios = []
    for n in sizes:
        ratio = paired(runs, n, "streamed", "in-memory")
        if ratio is None:
            continue
        ratios.append(ratio)
        line = f"  {n:>7,}: streamed/in-memory throughput {ratio:.2f}x"
        reading, bookkeeping = paired(runs, n, "streamed", "preloaded"), paired(runs, n, "preloaded", "in-memory")
        if reading and bookkeeping:
            line += f" = reading the store {reading:.2f}x * engine bookkeeping {bookkeeping:.2f}x"
        rss = {m: max(r["peak_rss_mb"] for r in runs[n, m]) for m in MODES if runs.get((n, m))}
        if "load-all" in rss:
            line += f"; peak RSS load-all/streamed {rss['load-all'] / rss['streamed']:.1f}x"
        print(line)
    rss = [max(r["peak_rss_mb"] for r in runs[n, "streamed"]) for n in sizes if runs.get((n, "streamed"))]
    print("Goals")
    if len(rss) >= 2:
        growth = rss[-1] / rss[0] - 1
        verdict = "PASS" if max(rss) <= GOAL_RSS_MB and growth <= GOAL_RSS_GROWTH else "FAIL"
        print(f"  streamed peak RSS <= {GOAL_RSS_MB} MB and <= +{GOAL_RSS_GROWTH:.0%} from {sizes[0]:,} to "
              f"{sizes[len(rss) - 1]:,} items: max {max(rss):.0f} MB, growth {growth:+.1%}  {verdict}")  # fmt: skip
    if ratios:
        verdict = "PASS" if min(ratios) >= GOAL_RATIO else "FAIL"
        print(f"  streamed throughput >= {GOAL_RATIO}x in-memory: worst size {min(ratios):.2f}x  {verdict}")


if __name__ == "__main__":
    main()
