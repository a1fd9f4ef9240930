"""The job's steps for the DAG and the local runner: plan, infer_shard per shard, evaluate, finalize, fail, cancel."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable

from edna_engine import outputs as o
from edna_engine.errors import public_error
from edna_engine.params import JobParams
from edna_engine.prefetch import iter_keys, shard_of
from edna_engine.spec import parse_spec
from edna_engine.storage import Storage

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
MAX_ERROR = 4000
_POSITION = re.compile(r"(\d{4}-\d{6}\.jsonl):(\d+)")


def _embedding_dims(storage: Storage, out: str) -> int | None:
    """D of the job's vectors, from its first vector part (one mini-batch; None when it wrote none)."""
    import numpy as np

    first = next(iter_keys(storage, o.vectors_prefix(out)), None)
    if first is None:
        return None
    return int(np.load(io.BytesIO(storage.get(first)), allow_pickle=False).shape[1])


def _progress(storage: Storage, out: str) -> dict:
    """Items done, summed over the shards' progress files, out of the planned total."""
    plan = o.get_json(storage, o.plan_key(out))
    done = sum(json.loads(storage.get(key)).get("done", 0) for key in iter_keys(storage, o.progress_prefix(out)))
    return {"done": done, "total": plan["total"] if plan else 0}


def _set_status(storage: Storage, params: JobParams, status: str, **fields) -> dict:
    doc = {"status": status, "job_id": params.job_id, "updated_at": o.now(), **fields}
    o.put_json(storage, o.status_key(params.output_prefix), doc)
    return doc


def plan(storage: Storage, params: JobParams) -> list[int]:
    """Count the items of each shard in one pass over the listing, record the plan, mark the job running."""
    out = params.output_prefix
    parse_spec(json.loads(storage.get(params.model_spec_key)))  # a bad model.json fails here, not in every shard
    if not storage.exists(params.model_key):
        raise ValueError(f"the model {params.model_key} does not exist")
    previous = o.get_json(storage, o.plan_key(out))
    if previous is not None and previous["shards"] != params.shards:
        # Parts already written belong to the old sharding: resuming with another would duplicate items.
        raise ValueError(
            f"{out} was planned with {previous['shards']} shards, not {params.shards}; use a new output prefix"
        )
    counts = [0] * params.shards
    for key in iter_keys(storage, params.items_prefix):
        counts[shard_of(key, params.shards)] += 1
    started_at = previous["started_at"] if previous else o.now()  # a re-planned (resumed) job keeps its start
    doc = {"job_id": params.job_id, "total": sum(counts), "shards": params.shards, "counts": counts}
    o.put_json(storage, o.plan_key(out), {**doc, "started_at": started_at})
    if storage.exists(o.cancel_key(out)):
        _set_status(storage, params, "cancelled", progress=_progress(storage, out))
    else:
        _set_status(storage, params, "running", started_at=started_at)
    return list(range(params.shards))


def infer_shard(
    storage: Storage, params: JobParams, shard: int, on_progress: Callable[[int], None] | None = None
) -> dict:
    """Stream one shard through the model, resuming after the parts already written; the shard's result."""
    # on_progress(done) gets the shard's items done so far: once at the start, then after each part,
    # from the engine's writer thread. A cancelled job returns {"shard", "cancelled": True, ...} and
    # writes no shard result.
    from edna_engine import shard as _shard  # numpy, Pillow, onnxruntime: only where items are processed

    return _shard.infer_shard(storage, params, shard, on_progress)


def evaluate(storage: Storage, params: JobParams) -> dict:
    """Merge the shards' confusion matrices and timings into metrics.json; returns the metrics."""
    import numpy as np

    from edna_engine import shard as _shard
    from edna_engine.metrics import new_confusion, summarize

    out = params.output_prefix
    plan_doc = o.get_json(storage, o.plan_key(out))
    if plan_doc is None:
        raise RuntimeError(f"{o.plan_key(out)} does not exist: run plan first")
    spec = parse_spec(json.loads(storage.get(params.model_spec_key)))
    class_names = spec.class_names
    index = {name: i for i, name in enumerate(class_names)}
    cancelled = storage.exists(o.cancel_key(out))
    confusion = new_confusion(len(class_names))
    items = errors = 0
    seconds = 0.0
    for shard in range(plan_doc["shards"]):
        result = o.get_json(storage, o.shard_key(out, shard))
        if result is None and not cancelled:
            raise RuntimeError(f"shard {shard} has not finished: no {o.shard_key(out, shard)}")
        if result is None:
            # A cancelled shard's metrics come from the parts it wrote before stopping.
            partial = _shard.replay_parts(storage, params, shard, index)
            result = {"items": partial.done, "errors": partial.errors, "seconds": partial.seconds}
            result["confusion"] = partial.confusion
        confusion += np.asarray(result["confusion"], dtype=np.int64)
        items += result["items"]
        errors += result["errors"]
        seconds += result["seconds"]
    # An embedding-only model has nothing to score: its metrics are counts, timings and the vectors' width.
    scores = {**summarize(confusion, class_names), "class_names": list(class_names)} if spec.classifies else {}
    if spec.embedding_output is not None:
        scores["embedding_dims"] = _embedding_dims(storage, out)
    metrics = {
        **scores,
        "items": items,
        "errors": errors,
        "items_per_second": round(items / seconds, 3) if seconds > 0 else None,
        "compute_seconds": round(seconds, 3),
        "wall_seconds": round(max(0.0, o.now() - plan_doc["started_at"]), 3),
        "shards": plan_doc["shards"],
    }
    o.put_json(storage, o.metrics_key(out), metrics)
    return metrics


def finalize(storage: Storage, params: JobParams) -> dict:
    """Mark the job succeeded (or cancelled, if it was) with its metrics and progress; the status document."""
    out = params.output_prefix
    metrics = o.get_json(storage, o.metrics_key(out)) or evaluate(storage, params)
    status = "cancelled" if storage.exists(o.cancel_key(out)) else "succeeded"
    return _set_status(storage, params, status, progress=_progress(storage, out), metrics=metrics, finished_at=o.now())


def fail(storage: Storage, params: JobParams, error: BaseException | str) -> None:
    """Mark the job failed with `error` (a cancelled job stays cancelled); an exception shows as public_error says."""
    out = params.output_prefix
    status = "cancelled" if storage.exists(o.cancel_key(out)) else "failed"
    fields = {"progress": _progress(storage, out), "finished_at": o.now()}
    if status == "failed":
        fields["error"] = public_error(error) if isinstance(error, BaseException) else str(error)[:MAX_ERROR]
    _set_status(storage, params, status, **fields)


def cancel(storage: Storage, params: JobParams) -> None:
    """Ask the job to stop: shards stop between batches; a finished job is left as it is."""
    out = params.output_prefix
    current = o.get_json(storage, o.status_key(out))
    if current is not None and current.get("status") in FINISHED:
        return
    storage.put(o.cancel_key(out), json.dumps({"at": o.now()}).encode())
    _set_status(storage, params, "cancelled", progress=_progress(storage, out))


def read_status(storage: Storage, output_prefix: str) -> dict:
    """`{"status", "progress": {"done", "total"}, "metrics"?, "error"?}`; no status yet means queued."""
    doc = o.get_json(storage, o.status_key(output_prefix))
    if doc is None:
        return {"status": "queued", "progress": {"done": 0, "total": 0}}
    status = doc.get("status", "running")
    if status not in FINISHED and storage.exists(o.cancel_key(output_prefix)):
        status = "cancelled"  # a plan racing the cancel may have written "running" after it
    progress = doc["progress"] if status == "succeeded" and "progress" in doc else _progress(storage, output_prefix)
    result = {"status": status, "progress": progress}
    for name in ("metrics", "error"):
        if name in doc:
            result[name] = doc[name]
    return result


def predictions_page(
    storage: Storage, output_prefix: str, after: str | None, limit: int
) -> tuple[list[dict], str | None]:
    """Up to `limit` predictions after position `after` (parts by name, lines in order), and the next position."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    prefix = o.parts_prefix(output_prefix)
    first, offset = None, 0
    if after:
        match = _POSITION.fullmatch(after)
        if not match or not storage.exists(prefix + match[1]):
            raise ValueError(f"not a position in this job's predictions: {after!r}")
        first, offset = match[1], int(match[2])
    later = iter_keys(storage, prefix, start_after=prefix + first if first else None)
    keys = itertools.chain([prefix + first] if first else [], later)
    page: list[dict] = []
    position = None
    for n, key in enumerate(keys):
        if len(page) == limit:
            return page, position  # the page ended at a part's end and more parts follow
        lines = storage.get(key).splitlines()
        skip = offset if first and n == 0 else 0
        taken = lines[skip : skip + limit - len(page)]
        page.extend(json.loads(line) for line in taken)
        position = f"{key[len(prefix) :]}:{skip + len(taken)}"
        if skip + len(taken) < len(lines):
            return page, position
    return page, None
