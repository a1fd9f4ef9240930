"""`edna push`: a folder into a dataset, in parallel, skipping what is already there, resuming what a kill left.

A file is "there" when an available item has its filename and sha256. An item a killed push left
pending with the same filename and sha256 is completed if its bytes reached storage, else deleted
and uploaded again, so a re-run never leaves duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from edna_client import transfer
from edna_client.paths import filename_of, local_files
from edna_client.progress import Progress
from edna_client.records import Item
from edna_client.session import ApiError, EdnaError, Session

UPLOADED, SKIPPED, RESUMED = "uploaded", "skipped", "resumed"


@dataclass
class PushReport:
    counts: dict[str, int] = field(default_factory=lambda: {UPLOADED: 0, SKIPPED: 0, RESUMED: 0})
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def push(
    session: Session, dataset_id: str, root: Path, workers: int = 8, progress: Progress | None = None
) -> PushReport:
    files = local_files(root)
    existing: dict[str, list[Item]] = defaultdict(list)
    for body in session.pages(transfer.item_path(dataset_id)):
        item = Item.of(body)
        existing[item.filename].append(item)
    progress = progress or Progress("push", len(files), sum(p.stat().st_size for _, p in files))
    report = PushReport()
    jobs = [(str(rel), partial(_push_one, session, dataset_id, rel, path, existing)) for rel, path in files]
    transfer.run_parallel(jobs, workers, progress, report)
    return report


def _push_one(
    session: Session, dataset_id: str, rel: PurePosixPath, path: Path, existing: dict[str, list[Item]]
) -> tuple[str, int]:
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
    transfer.upload(session, dataset_id, filename, path, digest, size)
    return UPLOADED, size


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
