"""Names of the files the engine writes under a job's output prefix, and JSON in and out of storage."""

from __future__ import annotations

import json
import time

from edna_engine.storage import Storage


def plan_key(out: str) -> str:
    """Shard counts and the start time, written by plan."""
    return f"{out}plan.json"


def status_key(out: str) -> str:
    """The job's status as read_status reports it."""
    return f"{out}status.json"


def metrics_key(out: str) -> str:
    """The merged metrics, written by evaluate."""
    return f"{out}metrics.json"


def cancel_key(out: str) -> str:
    """Present once the job was asked to stop."""
    return f"{out}cancel"


def progress_prefix(out: str) -> str:
    """Where the shards' progress files live."""
    return f"{out}progress/"


def progress_key(out: str, shard: int) -> str:
    """One shard's progress, rewritten after each part."""
    return f"{out}progress/{shard:04d}.json"


def shard_key(out: str, shard: int) -> str:
    """One finished shard's result: counts, seconds, confusion matrix."""
    return f"{out}shards/{shard:04d}.json"


def parts_prefix(out: str, shard: int | None = None) -> str:
    """All parts, or one shard's parts (their names sort by shard, then batch)."""
    return f"{out}parts/" if shard is None else f"{out}parts/{shard:04d}-"


def part_key(out: str, shard: int, batch: int) -> str:
    """One mini-batch's predictions, one JSON object per line."""
    return f"{out}parts/{shard:04d}-{batch:06d}.jsonl"


def vectors_prefix(out: str) -> str:
    """The embeddings of a model with an embedding output: a part beside each part of predictions."""
    return f"{out}vectors/"


def vector_key(out: str, shard: int, batch: int) -> str:
    """One mini-batch's embeddings: numpy.save of float32 (lines of the matching part, D), in line order."""
    return f"{out}vectors/{shard:04d}-{batch:06d}.npy"


def part_batch(key: str) -> int:
    """The batch number in a part's key."""
    return int(key.rsplit("-", 1)[1].split(".", 1)[0])


def put_json(storage: Storage, key: str, value: dict) -> None:
    """Write a small JSON document."""
    storage.put(key, json.dumps(value, separators=(",", ":")).encode())


def get_json(storage: Storage, key: str) -> dict | None:
    """The document, or None when the key holds nothing."""
    if not storage.exists(key):
        return None
    return json.loads(storage.get(key))


def now() -> float:
    """Wall-clock seconds, for timestamps that other processes compare."""
    return round(time.time(), 3)
