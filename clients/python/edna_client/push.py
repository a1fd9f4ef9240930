"""`edna push`: a folder into a dataset, in parallel, skipping what is already there, resuming what a kill left.

A file is "there" when an available item has its filename and sha256. An item a killed push left
pending with the same filename and sha256 is completed if its bytes reached storage, else deleted
and uploaded again, so a re-run never leaves duplicates.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import requests

from edna_client import transfer
from edna_client.paths import filename_of, local_files
from edna_client.progress import Progress
from edna_client.records import Item
from edna_client.session import ApiError, EdnaError, Session

UPLOADED, SKIPPED, RESUMED = "uploaded", "skipped", "resumed"
BATCH = 100  # files per upload batch at most: two API calls per hundred files, not per file
ROUNDS = 4  # batches per worker at least, so the workers share a small push and its progress moves
# S3's smallest part: no server uploads a file this small in parts, so it can go in a batch.
BATCHED_MAX = 5 * 1024 * 1024
FAILURES = (EdnaError, requests.RequestException, OSError)  # a file's trouble: reported, the others go on


@dataclass
class PushReport:
    counts: dict[str, int] = field(default_factory=lambda: {UPLOADED: 0, SKIPPED: 0, RESUMED: 0})
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Planned:
    """A local file to upload."""

    rel: PurePosixPath
    path: Path
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return filename_of(self.rel)


class _Outcomes:
    """Each file's outcome into the report and the progress line, from any thread."""

    def __init__(self, report: PushReport, progress: Progress):
        self.report, self.progress = report, progress
        self._lock = threading.Lock()

    def ok(self, outcome: str, size: int) -> None:
        with self._lock:
            self.report.counts[outcome] += 1
        self.progress.add(nbytes=size, files=1)

    def failed(self, rel: PurePosixPath, error: object) -> None:
        with self._lock:
            self.report.failures.append(f"{rel}: {error}")
        self.progress.add(failed=1)

    def attempt(self, rel: PurePosixPath, work: Callable[[], None]) -> None:
        try:
            work()
        except FAILURES as exc:
            self.failed(rel, exc)


def push(
    session: Session, dataset_id: str, root: Path, workers: int = 8, progress: Progress | None = None
) -> PushReport:
    """Check every file (skipped or resumed when the dataset has it), then upload the rest: small files in
    batches (one call requests a hundred uploads, one completes them), large ones alone (in parts)."""
    files = local_files(root)
    existing: dict[str, list[Item]] = defaultdict(list)
    for body in session.pages(transfer.item_path(dataset_id)):
        item = Item.of(body)
        existing[item.filename].append(item)
    progress = progress or Progress("push", len(files), sum(p.stat().st_size for _, p in files))
    report = PushReport()
    outcomes = _Outcomes(report, progress)
    with ThreadPoolExecutor(workers) as pool:
        checks = {pool.submit(_check_one, session, dataset_id, rel, path, existing): rel for rel, path in files}
        planned: list[Planned] = []
        for future in as_completed(checks):
            try:
                found = future.result()
            except FAILURES as exc:
                outcomes.failed(checks[future], exc)
                continue
            if isinstance(found, Planned):
                planned.append(found)
            else:
                outcomes.ok(*found)
        small = sorted((p for p in planned if p.size <= BATCHED_MAX), key=lambda p: p.rel)
        size = max(1, min(BATCH, -(-len(small) // (workers * ROUNDS))))
        work = [
            pool.submit(_push_batch, session, dataset_id, small[n : n + size], outcomes)
            for n in range(0, len(small), size)
        ]
        for p in planned:
            if p.size > BATCHED_MAX:
                work.append(
                    pool.submit(outcomes.attempt, p.rel, lambda p=p: _push_alone(session, dataset_id, p, outcomes))
                )
        for future in as_completed(work):
            future.result()  # each reported its own files' outcomes
    progress.close()
    return report


def _check_one(
    session: Session, dataset_id: str, rel: PurePosixPath, path: Path, existing: dict[str, list[Item]]
) -> tuple[str, int] | Planned:
    """(skipped or resumed, bytes), or the file planned for an upload."""
    filename = filename_of(rel)
    digest, size = transfer.sha256_of(path)
    if size == 0:
        raise EdnaError("an empty file cannot be uploaded (items have at least one byte)")
    same = [i for i in existing.get(filename, ()) if i.sha256 == digest]
    if any(i.status == "available" for i in same):
        return SKIPPED, size
    for item in same:  # pending: left by a push that was killed
        if _completed(session, dataset_id, item):
            return RESUMED, size
    return Planned(rel, path, digest, size)


def _push_alone(session: Session, dataset_id: str, planned: Planned, outcomes: _Outcomes) -> None:
    transfer.upload(session, dataset_id, planned.filename, planned.path, planned.sha256, planned.size)
    outcomes.ok(UPLOADED, planned.size)


def _push_batch(session: Session, dataset_id: str, batch: list[Planned], outcomes: _Outcomes) -> None:
    """Request the batch's uploads, send each file, complete those sent. An entry the batch refuses as a
    bad request goes alone: the single route says why, or takes a file the server wants in parts."""
    entries = [
        {"filename": p.filename, "content_type": transfer.content_type_of(p.path), "size": p.size, "sha256": p.sha256}
        for p in batch
    ]
    try:
        results = session.call("POST", transfer.item_path(dataset_id) + "/bulk", json={"items": entries})["results"]
    except FAILURES as exc:
        for p in batch:
            outcomes.failed(p.rel, exc)
        return
    sent: dict[str, Planned] = {}
    for result in results:
        p = batch[result["index"]]
        if result["status"] == 400:
            outcomes.attempt(p.rel, lambda p=p: _push_alone(session, dataset_id, p, outcomes))
        elif result["status"] != 201:
            outcomes.failed(p.rel, f"{result['status']} {result['error']}")
        else:
            try:
                transfer.send(session, result["upload"], p.path)
            except FAILURES as exc:
                outcomes.failed(p.rel, exc)
            else:
                sent[result["item"]["id"]] = p
    if not sent:
        return
    try:
        completed = session.call("POST", transfer.item_path(dataset_id) + "/complete", json={"item_ids": list(sent)})
    except FAILURES as exc:
        for p in sent.values():
            outcomes.failed(p.rel, exc)
        return
    for result in completed["results"]:
        p = sent[result["item_id"]]
        if result["status"] == 200:
            outcomes.ok(UPLOADED, p.size)
        else:
            outcomes.failed(p.rel, f"{result['status']} {result['error']}")


def _completed(session: Session, dataset_id: str, item: Item) -> bool:
    """Complete a pending item whose bytes reached storage; delete it when they did not."""
    path = transfer.item_path(dataset_id, item.id)
    try:
        session.call("POST", path + "/complete", json={})
        return True
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
    session.call("DELETE", path)  # never completed (nothing stored, or a multipart upload without its parts)
    return False
