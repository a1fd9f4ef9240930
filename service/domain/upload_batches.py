"""Many uploads in one request: each entry is checked and answered on its own, the batch is admitted
against the tenant's item and byte quotas at once (as the same uploads one by one would be), and its
pending items are indexed in one write. Many completes in one request, each answered on its own.

Files above the multipart threshold stay with the single routes: each answers thousands of part URLs
and completes with its parts, which would make a batch's request and answer unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.adapters.searchindex import ItemRecord
from service.domain.datasets import Dataset
from service.domain.items import ItemService, check_size
from service.domain.quotas import QuotaBook
from service.vocabulary import names
from service.vocabulary.errors import BadRequest, Conflict, NotFound, TooLarge, Unprocessable
from service.vocabulary.roles import Principal

MAX_ENTRIES = 1000  # a batch's answer (an item and a signed URL each) stays well under a megabyte
ENTRY_ERRORS = (BadRequest, NotFound, Conflict, TooLarge, Unprocessable)  # one entry's trouble, not the request's


@dataclass(frozen=True)
class UploadEntry:
    filename: str
    content_type: str
    size: int
    method: str = "PUT"
    sha256: str | None = None


@dataclass(frozen=True)
class EntryResult:
    """An entry's outcome: a record (and its upload) with a success status, or an error status and message."""

    status: int
    record: ItemRecord | None = None
    upload: dict | None = None
    error: str | None = None


class UploadBatches:
    def __init__(self, items: ItemService, quotas: QuotaBook):
        self.items = items
        self.quotas = quotas

    def request(self, principal: Principal, dataset: Dataset, entries: list[UploadEntry]) -> list[EntryResult]:
        """A pending item and a signed URL per admitted entry; the others answer why not (bad name, size, quota)."""
        if len(entries) > MAX_ENTRIES:
            raise BadRequest(f"at most {MAX_ENTRIES} uploads per request")
        results: list[EntryResult | None] = [None] * len(entries)
        checked: list[int] = []
        for n, entry in enumerate(entries):
            try:
                self._check(entry)
            except ENTRY_ERRORS as exc:
                results[n] = EntryResult(exc.status, error=exc.message)
            else:
                checked.append(n)
        pending: list[ItemRecord] = []
        with self.quotas.admitting_many(principal.tenant, [entries[n].size for n in checked]) as refusals:
            for n, refusal in zip(checked, refusals, strict=True):
                if refusal is not None:
                    results[n] = EntryResult(refusal.status, error=refusal.message)
                    continue
                e = entries[n]
                record, upload = self.items.prepare_upload(
                    principal, dataset, e.filename, e.content_type, e.size, e.method, e.sha256
                )
                pending.append(record)
                results[n] = EntryResult(201, record, upload)
            self.items.index.upsert_many(pending)  # inside the quota's lock: the next batch counts these
        return [r for r in results if r is not None]

    def _check(self, entry: UploadEntry) -> None:
        """What the single route checks before the quota, plus the multipart boundary."""
        check_size(self.items.limits, entry.size)
        names.filename(entry.filename)
        names.content_type(entry.content_type)
        threshold = self.items.limits.multipart_threshold
        if entry.size > threshold:
            raise BadRequest(f"files above {threshold} bytes upload in parts: request each alone (POST .../items)")

    def complete(self, tenant: str, dataset_id: str, item_ids: list[str]) -> list[tuple[str, EntryResult]]:
        """Confirm each distinct item's single-transfer upload, as the single complete does."""
        if len(item_ids) > MAX_ENTRIES:
            raise BadRequest(f"at most {MAX_ENTRIES} completes per request")
        results = []
        for item_id in dict.fromkeys(item_ids):
            try:
                record = self.items.complete(tenant, dataset_id, item_id, None)
            except ENTRY_ERRORS as exc:
                results.append((item_id, EntryResult(exc.status, error=exc.message)))
            else:
                results.append((item_id, EntryResult(200, record)))
        return results
