"""Embedding jobs: throughput and peak RSS of the engine making embeddings, against a prediction job of the same model.

One ONNX model with two outputs (benchmarks/inference.py's conv trunk -> "embedding" [N, DIMS] -> dense ->
"logits" [N, 10]) over the same synthetic 64x64 RGB PNGs on local disk as benchmarks/inference.py (its
generator and file-backed Storage, and its data directory, so datasets are shared). Three model.json
over the very same bytes, so only what the engine does with the outputs differs:

- prediction: class_names and the "logits" output, no embedding_output (prediction parts only);
- embedding:  class_names [] and embedding_output "embedding" (vector parts, null predictions);
- both:       class_names and embedding_output (prediction parts and vector parts, from one session run).

Each run is the whole job (plan -> infer_shard -> evaluate -> finalize) in a fresh interpreter, so that
its peak RSS (ru_maxrss) is its own; modes are interleaved per repetition and medians reported, with the
ratios to the prediction job measured back to back.

    .venv/bin/python benchmarks/embedding_job.py [--sizes 10000] [--repeat 3] [--dims 128] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks import inference  # noqa: E402  (it puts plugins/ on the path for edna_engine)

MODES = ("prediction", "embedding", "both")
MODEL = "models/embed/model.onnx"


def spec(mode: str) -> dict:
    base = {**inference.SPEC, "output": {"name": "logits", "kind": "logits"}}
    if mode == "embedding":
        return {**base, "class_names": [], "output": None, "embedding_output": "embedding"}
    return {**base, "embedding_output": "embedding"} if mode == "both" else base


def two_output_model(dims: int) -> bytes:
    """inference.conv_model's trunk, then "embedding" [N, dims] and "logits" [N, 10] computed from it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weights(name, *shape):
        return numpy_helper.from_array(rng.normal(0, 0.2, shape).astype(np.float32), name)

    side, classes = inference.SIDE, inference.CLASSES
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["embedding"]),
        helper.make_node("Gemm", ["embedding", "w4", "b4"], ["logits"]),
    ]
    init = [weights("w1", 8, 3, 3, 3), weights("b1", 8), weights("w2", 16, 8, 3, 3), weights("b2", 16)]
    init += [weights("w3", 16, dims), weights("b3", dims), weights("w4", dims, classes), weights("b4", classes)]
    graph = helper.make_graph(
        nodes,
        "bench_embed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, side, side])],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dims]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
        ],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def run_job(root: Path, mode: str) -> dict:
    """The whole job of `mode`'s model.json over the dataset; items, seconds and what it wrote."""
    from edna_engine import outputs as o
    from edna_engine import pipeline
    from edna_engine.params import JobParams

    storage = inference.FileStorage(root)
    spec_key = f"models/embed/{mode}/model.json"
    model_key = f"models/embed/{mode}/model.onnx"
    storage.put(spec_key, json.dumps(spec(mode)).encode())
    (root / model_key).unlink(missing_ok=True)
    (root / model_key).symlink_to(root / MODEL)  # the same bytes for every mode
    out = f"jobs/{uuid.uuid4().hex}/"
    params = JobParams("bench", "items/", model_key, out, inference.BATCH, inference.MAX_MEMORY_MB, 1)
    started = time.perf_counter()
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard)
    pipeline.evaluate(storage, params)
    status = pipeline.finalize(storage, params)
    seconds = time.perf_counter() - started
    vectors = root / o.vectors_prefix(out)
    vector_bytes = sum(p.stat().st_size for p in vectors.iterdir()) if vectors.exists() else 0
    shutil.rmtree(root / out)
    return {"items": status["progress"]["done"], "seconds": seconds, "vector_bytes": vector_bytes}


def worker(mode: str, root: str) -> None:
    result = run_job(Path(root), mode)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(result))


def measure(mode: str, root: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--root", str(root)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"{mode} run failed:\n{e.stderr}") from e
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_all(args, sizes: list[int]) -> dict[tuple[int, str], list[dict]]:
    print(f"Embedding jobs: {inference.SIDE}x{inference.SIDE} RGB PNG on local disk, conv ONNX model with "
          f"a {args.dims}-d embedding and 10 logits, batch {inference.BATCH}, "
          f"max_memory_mb {inference.MAX_MEMORY_MB}")  # fmt: skip
    runs: dict[tuple[int, str], list[dict]] = {}
    for n in sizes:
        root = inference.dataset(n, Path(args.data_dir))
        inference.FileStorage(root).put(MODEL, two_output_model(args.dims))
        for rep in range(args.repeat):  # interleaved: a busy moment on a shared machine hits every mode alike
            for mode in MODES:
                result = measure(mode, root)
                result["rep"], result["rate"] = rep, result["items"] / result["seconds"]
                runs.setdefault((n, mode), []).append(result)
                print(f"  {n:>7,} {mode:<10}  {result['seconds']:7.2f} s  {result['rate']:8,.0f} items/s  "
                      f"peak RSS {result['peak_rss_mb']:6.0f} MB  vectors {result['vector_bytes'] / 1e6:6.1f} MB",
                      flush=True)  # fmt: skip
    return runs


def figures(sizes: list[int], runs: dict) -> dict:
    """Medians per mode, and each mode's throughput and peak RSS relative to the prediction job."""
    result = {}
    for n in sizes:
        modes = {}
        for mode in MODES:
            done = runs[n, mode]
            modes[mode] = {
                "items_per_s": round(statistics.median(r["rate"] for r in done), 1),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in done), 1),
                "vector_bytes_per_item": round(done[0]["vector_bytes"] / done[0]["items"], 1),
            }
            if mode != "prediction":
                modes[mode]["throughput_ratio"] = round(inference.paired(runs, n, mode, "prediction"), 3)
                modes[mode]["rss_ratio"] = round(modes[mode]["peak_rss_mb"] / modes["prediction"]["peak_rss_mb"], 3)
        result[str(n)] = modes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000", help="dataset sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and size (medians are reported)")
    parser.add_argument("--dims", type=int, default=128, help="the embedding's width")
    default_dir = Path(tempfile.gettempdir()) / "edna-bench-inference"  # inference.py's: the same datasets
    parser.add_argument("--data-dir", default=str(default_dir), help="generated datasets, kept for the next run")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
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
        return
    results = figures(sizes, run_all(args, sizes))
    print("Medians; ratios to the prediction job of the same model (throughput: median of back-to-back pairs)")
    for n, modes in results.items():
        for mode in MODES[1:]:
            m = modes[mode]
            print(f"  {int(n):>7,} {mode:<10} {m['items_per_s']:8,.0f} items/s = {m['throughput_ratio']:.2f}x "
                  f"prediction ({modes['prediction']['items_per_s']:,.0f}/s); peak RSS {m['peak_rss_mb']:.0f} MB = "
                  f"{m['rss_ratio']:.2f}x ({modes['prediction']['peak_rss_mb']:.0f} MB); "
                  f"{m['vector_bytes_per_item']:.0f} vector bytes per item")  # fmt: skip


if __name__ == "__main__":
    main()
