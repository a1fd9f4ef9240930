"""One shard's inference: stream its items, infer mini-batches, write one part per batch, resume after a crash."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edna_engine import outputs as o
from edna_engine.metrics import new_confusion
from edna_engine.model import ORT_ERRORS, Model, is_out_of_memory, verify_model
from edna_engine.params import JobParams
from edna_engine.prefetch import CHUNK, Item, Prefetcher, iter_keys, shard_keys
from edna_engine.preprocess import MAX_IMAGE_PIXELS, BatchBuffer, DecodeError, as_item, decode, normalize_batch
from edna_engine.spec import parse_spec
from edna_engine.storage import Storage
from edna_engine.writer import PartWriter

log = logging.getLogger(__name__)

FETCH_WORKERS = 8  # enough concurrent GETs to hide S3 latency; decoding shares them
MIN_QUEUE = 16
# The progress file is written, and the cancel flag read, at most this often (and at the start and the
# end): per part they were two more storage requests per mini-batch, 3,126 more on S3 for 100,000 items.
REPORT_SECONDS = 1.0


@dataclass
class _Progress:
    """What a shard has written so far: rebuilt from its parts when it resumes."""

    confusion: np.ndarray
    next_part: int = 0
    done: int = 0
    errors: int = 0
    last_key: str | None = None
    seconds: float = 0.0


def load_model(storage: Storage, params: JobParams) -> Model:
    """The job's model and its model.json, from storage: the very bytes the service checked."""
    spec = parse_spec(json.loads(storage.get(params.model_spec_key)))
    model_bytes = storage.get(params.model_key)
    verify_model(model_bytes, params.model_sha256)
    return Model(model_bytes, spec)


def _tally(confusion: np.ndarray, index: dict[str, int], prediction: dict) -> None:
    truth, guess = index.get(prediction.get("label")), index.get(prediction.get("predicted"))
    if truth is not None and guess is not None:
        confusion[truth, guess] += 1


def replay_parts(storage: Storage, params: JobParams, shard: int, index: dict[str, int]) -> _Progress:
    """Replay the parts already written, one at a time, up to the first gap in their numbering."""
    out = params.output_prefix
    state = _Progress(new_confusion(len(index)))
    for key in iter_keys(storage, o.parts_prefix(out, shard)):
        if o.part_batch(key) != state.next_part:
            break
        for line in storage.get(key).splitlines():
            prediction = json.loads(line)
            _tally(state.confusion, index, prediction)
            state.done += 1
            state.errors += 1 if prediction.get("error") else 0
            state.last_key = prediction["key"]
        state.next_part += 1
    previous = o.get_json(storage, o.progress_key(out, shard)) if state.next_part else None
    state.seconds = float(previous.get("seconds", 0.0)) if previous else 0.0
    return state


class ShardRun:
    """The state of one infer_shard call."""

    def __init__(self, storage: Storage, params: JobParams, shard: int, model: Model, total: int, on_progress):
        self.storage, self.params, self.shard, self.model = storage, params, shard, model
        self.spec = model.spec
        self.total = total
        self.on_progress = on_progress
        self.index = {name: i for i, name in enumerate(self.spec.class_names)}
        budget = params.max_memory_mb * 1024 * 1024
        fits = max(1, budget // self.spec.item_bytes)  # max_memory_mb caps batch x preprocessed item bytes
        self.batch = max(1, min(params.batch_size, fits))
        # The prefetch holds `depth` items and (workers + 2) * chunk more: within the same budget, when it can.
        self.chunk = CHUNK if fits >= 2 * CHUNK * (FETCH_WORKERS + 2) else 1
        self.workers = max(1, min(FETCH_WORKERS, fits // (2 * self.chunk) - 2))
        self.depth = max(1, min(max(self.batch, MIN_QUEUE), fits - (self.workers + 2) * self.chunk))
        per_worker = max(1 << 20, budget // (self.workers * 4))  # decoded RGBA pixels per fetch worker
        self.max_pixels = min(MAX_IMAGE_PIXELS, per_worker)
        self.halvings = 0
        self.buffer = BatchBuffer(self.spec.item_shape)
        self.state = replay_parts(storage, params, shard, self.index)
        self.started = time.perf_counter()
        self.cancel_key = o.cancel_key(params.output_prefix)
        self.reported_done: int | None = None
        self.next_report = self.next_cancel_check = self.started

    def load(self, key: str) -> Item:
        """Fetch and decode one item (runs in the prefetch pool): uint8 pixels, normalised per batch."""
        try:
            data = self.storage.get(key)
            label = self.storage.label(key)
        except Exception:
            # An item deleted since the listing is a failed prediction, not a reason to fail (and retry) the shard.
            if self.storage.exists(key):
                raise
            return Item(key, None, None, "the item was deleted while the job ran")
        try:
            return Item(key, label, as_item(decode(data, self.spec, self.max_pixels), self.spec))
        except DecodeError as e:
            return Item(key, label, None, str(e))

    def run(self) -> dict:
        """Stream the shard to its end, or until cancelled; the shard's result."""
        self._report()
        keys = shard_keys(self.storage, self.params.items_prefix, self.params.shards, self.shard, self.state.last_key)
        writer = PartWriter(self._write, self._cancelled)
        try:
            with Prefetcher(keys, self.load, self.depth, self.workers, self.chunk) as items:
                buffer: list[Item] = []
                for item in items:
                    buffer.append(item)
                    if len(buffer) >= self.batch:
                        if not self._flush(buffer, writer):
                            break
                        buffer = []
                else:
                    self._flush(buffer, writer)
        finally:
            # Parts already computed are still written (they are right); an error of its own surfaces here.
            writer.close(raise_error=sys.exc_info()[0] is None)
        if self.reported_done != self.state.done:
            self._report()
        if writer.cancel_seen.is_set():
            log.info("shard %d: cancelled after %d items", self.shard, self.state.done)
            return self._result(cancelled=True)
        result = self._result(cancelled=False)
        o.put_json(self.storage, o.shard_key(self.params.output_prefix, self.shard), result)
        return result

    def _flush(self, buffer: list[Item], writer: PartWriter) -> bool:
        """Infer `buffer` in mini-batches (halved on memory errors) and queue their parts; False once cancelled."""
        start = 0
        while start < len(buffer):
            if writer.cancel_seen.is_set():
                return False
            chunk = buffer[start : start + self.batch]
            try:
                batch = self._predict(chunk)
            except (MemoryError, *ORT_ERRORS) as e:
                if not is_out_of_memory(e):
                    raise
                if self.batch == 1:
                    raise MemoryError(
                        f"shard {self.shard}: out of memory even with a batch of one item ({chunk[0].key}); "
                        "give the task more memory or use a smaller model"
                    ) from e
                self.batch //= 2
                self.halvings += 1
                self.buffer.release()
                log.warning("shard %d: out of memory (%s); batch size halved to %d", self.shard, e, self.batch)
                continue
            writer.submit(batch)
            start += len(chunk)
        return True

    def _predict(self, chunk: list[Item]) -> tuple[list[dict], np.ndarray | None]:
        """The chunk's lines and, for a model with an embedding output, its vectors (zero rows for failed items)."""
        names = self.spec.class_names
        valid = [item for item in chunk if item.array is not None]
        predictions = embeddings = vectors = None
        if valid:
            batch = normalize_batch(self.buffer.fill([item.array for item in valid]), self.spec)
            predictions, embeddings = self.model.run(batch)
        if predictions is not None:
            # Rounded to 6 digits a column at a time: round() per value cost more than the model on small images.
            best, score, margin, top, top_scores = predictions
            columns = (best, *(np.round(c.astype(np.float64), 6) for c in (score, margin)), top)
            columns += (np.round(top_scores.astype(np.float64), 6),)
            guesses = zip(*(column.tolist() for column in columns), strict=True)
        if self.spec.embedding_output is not None:
            vectors = np.zeros((len(chunk), self.model.embedding_dims), dtype=np.float32)
            if embeddings is not None:
                vectors[[n for n, item in enumerate(chunk) if item.array is not None]] = embeddings
        lines = []
        for item in chunk:
            line = {"key": item.key, "label": item.label, "predicted": None, "score": None, "margin": None, "top": {}}
            if item.array is None:
                line["error"] = item.error
            elif predictions is not None:
                i, score, margin, top, top_scores = next(guesses)
                line["predicted"], line["score"], line["margin"] = names[i], score, margin
                line["top"] = dict(zip([names[c] for c in top], top_scores, strict=True))
            lines.append(line)
        return lines, vectors

    def _write(self, batch: tuple[list[dict], np.ndarray | None]) -> None:
        """One atomic part (its vectors first: the part is what a resumed shard counts), then the progress
        that counts it (on the writer's thread)."""
        out, state = self.params.output_prefix, self.state
        lines, vectors = batch
        if vectors is not None:
            matrix = io.BytesIO()
            np.save(matrix, vectors, allow_pickle=False)
            self.storage.put(o.vector_key(out, self.shard, state.next_part), matrix.getvalue())
        body = "".join(json.dumps(line) + "\n" for line in lines).encode()
        self.storage.put(o.part_key(out, self.shard, state.next_part), body)
        state.next_part += 1
        for line in lines:
            _tally(state.confusion, self.index, line)
        state.done += len(lines)
        state.errors += sum(1 for line in lines if "error" in line)
        state.last_key = lines[-1]["key"]
        if time.perf_counter() >= self.next_report:
            self._report()

    def _cancelled(self) -> bool:
        """Whether the job was asked to stop, read from storage at most every REPORT_SECONDS."""
        now = time.perf_counter()
        if now < self.next_cancel_check:
            return False
        self.next_cancel_check = now + REPORT_SECONDS
        return self.storage.exists(self.cancel_key)

    def _seconds(self) -> float:
        return round(self.state.seconds + time.perf_counter() - self.started, 3)

    def _report(self) -> None:
        state = self.state
        progress = {"shard": self.shard, "done": state.done, "total": self.total, "errors": state.errors}
        progress["seconds"] = self._seconds()
        o.put_json(self.storage, o.progress_key(self.params.output_prefix, self.shard), progress)
        self.reported_done, self.next_report = state.done, time.perf_counter() + REPORT_SECONDS
        if self.on_progress is not None:
            self.on_progress(state.done)

    def _result(self, cancelled: bool) -> dict:
        state = self.state
        return {
            "shard": self.shard,
            "items": state.done,
            "errors": state.errors,
            "evaluated": int(state.confusion.sum()),
            "seconds": self._seconds(),
            "parts": state.next_part,
            "batch_size": self.batch,
            "halvings": self.halvings,
            "cancelled": cancelled,
            "confusion": state.confusion.tolist(),
        }


def infer_shard(
    storage: Storage, params: JobParams, shard: int, on_progress: Callable[[int], None] | None = None
) -> dict:
    """Run (or resume) one shard; a shard already finished returns its recorded result."""
    out = params.output_prefix
    if not 0 <= shard < params.shards:
        raise ValueError(f"shard must be between 0 and {params.shards - 1} (got {shard})")
    plan = o.get_json(storage, o.plan_key(out))
    if plan is None:
        raise RuntimeError(f"{o.plan_key(out)} does not exist: run plan first")
    if plan["shards"] != params.shards:
        raise ValueError(f"the job was planned with {plan['shards']} shards, not {params.shards}")
    finished = o.get_json(storage, o.shard_key(out, shard))
    if finished is not None:
        return finished
    if storage.exists(o.cancel_key(out)):
        return {"shard": shard, "cancelled": True}
    run = ShardRun(storage, params, shard, load_model(storage, params), plan["counts"][shard], on_progress)
    return run.run()
