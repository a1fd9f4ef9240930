"""The audit trail in the data bucket: each entry is its own part,
`ledger/<t>/audit/<day>/<time>-<request id>-<actor hash>-<action hash>.jsonl`.

S3 cannot append, and an entry must be stored before the request that made it answers, so every
mutation writes one small object; names sort by time, so listing a day reads it in order, and
the hashes in the name let a filtered read skip the parts that cannot match without opening them.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from service.adapters.audit import AuditLog, day_of, days
from service.adapters.blobstore import BlobStore
from service.vocabulary import layout

READ_AHEAD = 16


def _hint(value: str) -> str:
    return f"{zlib.crc32(value.encode()):08x}"


def _may_match(key: str, actor: str | None, action: str | None) -> bool:
    """False only when the part's name proves it is another actor's or another action's."""
    parts = key.rsplit("/", 1)[-1].removesuffix(".jsonl").split("-")
    if len(parts) < 4:  # a part named before the hints existed: open it
        return True
    return (actor is None or parts[-2] == _hint(actor)) and (action is None or parts[-1] == _hint(action))


class BlobAuditLog(AuditLog):
    def __init__(self, blobs: BlobStore):
        self.blobs = blobs
        self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="audit-read")

    def append(self, entry: dict) -> None:
        moment = datetime.fromisoformat(entry["time"])
        name = f"{moment.strftime('%H%M%S%f')}-{entry['request_id']}-{_hint(entry['actor'])}-{_hint(entry['action'])}"
        self.blobs.put_bytes(
            layout.audit_part(entry["tenant"], day_of(moment), name),
            (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode(),
            "application/x-ndjson",
        )

    def entries(
        self, tenant: str, day: str, after: str | None, actor: str | None = None, action: str | None = None
    ) -> Iterator[tuple[str, dict]]:
        # Listed page by page from the cursor on and read as listed: a page of the trail costs what it
        # reads, not a listing of the whole day (thousands of parts on a busy one).
        batch: list[str] = []
        for key in self._keys(layout.audit_day_prefix(tenant, day), after):
            if _may_match(key, actor, action):
                batch.append(key)
            if len(batch) == READ_AHEAD:
                yield from self._read(batch)
                batch = []
        yield from self._read(batch)

    def days_held(self, tenant: str, start: datetime, end: datetime) -> Iterator[str]:
        """The days with parts, from one delimited listing: a year's period costs a LIST, not 366."""
        wanted = set(days(start, end))
        prefix = layout.audit_prefix(tenant)
        token = None
        while True:
            page = self.blobs.list_page(prefix, delimiter="/", token=token)
            yield from (day for day in (layout.name_after(prefix, p) for p in page.prefixes) if day in wanted)
            if not page.next_token:
                return
            token = page.next_token

    def _keys(self, prefix: str, after: str | None) -> Iterator[str]:
        token = None
        while True:
            page = self.blobs.list_page(prefix, start_after=after, token=token)
            yield from (info.key for info in page.objects)
            if not page.next_token:
                return
            token = page.next_token

    def _read(self, keys: list[str]) -> Iterator[tuple[str, dict]]:
        for key, raw in zip(keys, self._pool.map(self.blobs.get_bytes, keys), strict=True):
            for line in raw.splitlines():
                yield key, json.loads(line)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
