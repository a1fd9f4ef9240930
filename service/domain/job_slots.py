"""Concurrent-job slots: a job starts only after it has taken a slot by a conditional write.

Counting running jobs and then starting one lets simultaneous requests all pass the count. A slot is
an object in the ledger naming the job that holds it; taking it is a create-if-absent or a
replace-if-unchanged write, so of two requests racing for a slot exactly one wins, in one process or
across many (S3 conditional writes; the local store's key lock). A slot frees itself when its job
ends: the next request that finds it held by a finished job takes it over.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from service.adapters.blobstore import BlobStore, ObjectMissing, PreconditionFailed
from service.vocabulary import layout
from service.vocabulary.errors import TooManyRequests

# A slot taken for a job whose record is not written yet counts as held this long (job.json follows
# within one request; a request that died in between gives its slot back after this).
STARTING_SECONDS = 120.0
JOB_RETRY_SECONDS = 30  # a slot frees when a job ends: jobs run for tens of seconds at least


class JobSlots:
    def __init__(self, blobs: BlobStore, is_active: Callable[[str, str], bool | None]):
        """`is_active(tenant, job_id)`: True while queued or running, False once finished, None if no record."""
        self.blobs = blobs
        self.is_active = is_active

    def reserve(self, tenant: str, job_ids: list[str], allowed: int) -> None:
        """Take one slot per job, all or none; 429 naming the figures when they are not free."""
        wanted = list(job_ids)
        taken: list[tuple[str, str]] = []
        busy = 0
        for number in range(allowed):
            if not wanted:
                break
            key = layout.job_slot(tenant, number)
            holder, etag = self._read(key)
            if holder is not None and self._held(tenant, holder):
                busy += 1
                continue
            claim = json.dumps({"job_id": wanted[0], "taken_at": time.time()}).encode()
            try:
                taken.append((key, self.blobs.put_bytes_if(key, claim, "application/json", etag)))
            except PreconditionFailed:
                busy += 1  # another request took it between our read and our write
                continue
            wanted.pop(0)
        if wanted:
            self._give_back(taken)
            more = f", and this needs {len(job_ids)}" if len(job_ids) > 1 else ""
            raise TooManyRequests(
                f"the tenant's concurrent job quota is reached: {busy} of {allowed} jobs are queued or running{more}",
                JOB_RETRY_SECONDS,
            )

    def _read(self, key: str) -> tuple[dict | None, str | None]:
        info = self.blobs.head(key)
        if info is None:
            return None, None
        try:
            return json.loads(self.blobs.get_bytes(key)), info.etag
        except ObjectMissing:
            return None, None

    def _held(self, tenant: str, holder: dict) -> bool:
        job_id = holder.get("job_id")
        if not job_id:
            return False
        active = self.is_active(tenant, job_id)
        if active is None:
            return time.time() - float(holder.get("taken_at", 0)) < STARTING_SECONDS
        return active

    def _give_back(self, taken: list[tuple[str, str]]) -> None:
        free = json.dumps({"job_id": None}).encode()
        for key, etag in taken:
            with contextlib.suppress(PreconditionFailed):  # taken over meanwhile: it is someone else's now
                self.blobs.put_bytes_if(key, free, "application/json", etag)
