"""Per-tenant quotas: defaults from the config, overrides an operator sets per tenant in the ledger.
Each check runs before anything is written and refuses with 429 naming the quota and the figure."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import SearchIndex
from service.domain import layout
from service.domain.errors import BadRequest, TooManyRequests

CACHE_SECONDS = 30.0  # an operator's change reaches every server process within this


@dataclass(frozen=True)
class Quotas:
    max_items: int
    max_bytes: int
    max_concurrent_jobs: int
    requests_per_minute: int

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


class QuotaBook:
    def __init__(self, blobs: BlobStore, index: SearchIndex, defaults: Quotas):
        self.blobs = blobs
        self.index = index
        self.defaults = defaults
        self._cache: dict[str, tuple[float, Quotas]] = {}
        self._lock = threading.Lock()
        self._window: dict[str, tuple[int, int]] = {}  # tenant -> (minute, requests in it)

    def overrides(self, tenant: str) -> dict[str, int]:
        try:
            return json.loads(self.blobs.get_bytes(layout.quotas_record(tenant)))
        except ObjectMissing:
            return {}

    def limits(self, tenant: str) -> Quotas:
        cached = self._cache.get(tenant)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        quotas = dataclasses.replace(self.defaults, **self.overrides(tenant))
        self._cache[tenant] = (time.monotonic(), quotas)
        return quotas

    def set(self, tenant: str, changes: dict[str, int | None]) -> Quotas:
        """An operator's overrides for one tenant; None goes back to the default."""
        unknown = set(changes) - set(Quotas.names())
        if unknown:
            raise BadRequest(f"unknown quota {sorted(unknown)}; known: {', '.join(Quotas.names())}")
        if any(v is not None and (not isinstance(v, int) or v < 0) for v in changes.values()):
            raise BadRequest("a quota is a whole number, 0 or more")
        overrides = {**self.overrides(tenant), **changes}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        self.blobs.put_bytes(
            layout.quotas_record(tenant), json.dumps(overrides, sort_keys=True).encode(), "application/json"
        )
        self._cache.pop(tenant, None)
        return self.limits(tenant)

    def check_upload(self, tenant: str, size: int) -> None:
        quotas = self.limits(tenant)
        items, held = self.index.holdings(tenant)
        if items + 1 > quotas.max_items:
            raise TooManyRequests(f"the tenant's item quota is reached: {items} of {quotas.max_items} items")
        if held + size > quotas.max_bytes:
            raise TooManyRequests(
                f"this upload of {size} bytes would pass the tenant's storage quota: "
                f"{held} of {quotas.max_bytes} bytes are used"
            )

    def check_jobs(self, tenant: str, active: int, wanted: int = 1) -> None:
        allowed = self.limits(tenant).max_concurrent_jobs
        if active + wanted > allowed:
            raise TooManyRequests(
                f"the tenant's concurrent job quota is reached: {active} of {allowed} jobs are queued or running"
                + (f", and this needs {wanted}" if wanted > 1 else "")
            )

    def admit_request(self, tenant: str) -> None:
        """A fixed one-minute window per tenant in this process (API Gateway throttles the whole stage)."""
        allowed = self.limits(tenant).requests_per_minute
        minute = int(time.time() // 60)
        with self._lock:
            start, count = self._window.get(tenant, (minute, 0))
            count = count + 1 if start == minute else 1
            self._window[tenant] = (minute, count)
        if count > allowed:
            raise TooManyRequests(
                f"the tenant's request quota is reached: {count - 1} of {allowed} requests this minute"
            )
