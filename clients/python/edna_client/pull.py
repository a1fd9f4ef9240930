"""`edna pull`: a dataset (or one of its snapshots) into a folder, in parallel, verified, resumable.

Files already in the folder with the item's sha256 (and size) are kept; every other file is written
beside its target and renamed into place only once its size and checksum are verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from edna_client import transfer
from edna_client.paths import relative_of
from edna_client.progress import Progress
from edna_client.records import Item
from edna_client.session import Session

DOWNLOADED, KEPT = "downloaded", "kept"


@dataclass
class PullReport:
    counts: dict[str, int] = field(default_factory=lambda: {DOWNLOADED: 0, KEPT: 0})
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def listed_items(session: Session, dataset_id: str, snapshot_id: str = "") -> Iterator[Item]:
    """Available items of the dataset, or every item frozen in the snapshot."""
    params = {} if snapshot_id else {"status": "available"}
    for body in session.pages(transfer.item_path(dataset_id, snapshot_id=snapshot_id), **params):
        yield Item.of(body)


def targets(items: list[Item]) -> tuple[list[tuple[Item, PurePosixPath]], list[str]]:
    """Where each item goes; a second item with a name already taken gets its id before the suffix."""
    placed, failures, taken = [], [], set()
    for item in items:
        rel = relative_of(item.filename)
        if rel is None:
            failures.append(f"{item.filename}: not a safe relative path, not written (item {item.id})")
            continue
        if rel in taken:
            rel = rel.with_name(f"{rel.stem}~{item.id}{rel.suffix}")
        taken.add(rel)
        placed.append((item, rel))
    return placed, failures


def pull(
    session: Session,
    dataset_id: str,
    root: Path,
    snapshot_id: str = "",
    workers: int = 8,
    progress: Progress | None = None,
) -> PullReport:
    placed, failures = targets(list(listed_items(session, dataset_id, snapshot_id)))
    report = PullReport(failures=failures)
    progress = progress or Progress("pull", len(placed), sum(item.size for item, _ in placed))
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(rel), partial(_pull_one, session, dataset_id, item, root / rel, snapshot_id)) for item, rel in placed]
    transfer.run_parallel(jobs, workers, progress, report)
    return report


def _pull_one(session: Session, dataset_id: str, item: Item, target: Path, snapshot_id: str) -> tuple[str, int]:
    # Without a checksum a file of the right size may still differ: only a known sha256 keeps it.
    if item.sha256 and target.is_file() and transfer.sha256_of(target) == (item.sha256, item.size):
        return KEPT, item.size
    transfer.download_to(session, dataset_id, item, target, snapshot_id)
    return DOWNLOADED, item.size
