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

from service.adapters.audit import AuditLog, day_of
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
        prefix = layout.audit_day_prefix(tenant, day)
        keys = [
            info.key
            for info in self.blobs.iter_objects(prefix)
            if (after is None or info.key > after) and _may_match(info.key, actor, action)
        ]
        for start in range(0, len(keys), READ_AHEAD):
            batch = keys[start : start + READ_AHEAD]
            for key, raw in zip(batch, self._pool.map(self.blobs.get_bytes, batch), strict=True):
                for line in raw.splitlines():
                    yield key, json.loads(line)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
