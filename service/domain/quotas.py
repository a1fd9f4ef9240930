"""Per-tenant quotas: defaults from the config, overrides an operator sets per tenant in the ledger.
Each check runs before anything is written and refuses with 429 naming the quota and the figure.
Stored bytes are items and models alike."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.requestwindow import RequestWindow
from service.adapters.searchindex import SearchIndex
from service.domain.tenant_locks import TenantLocks
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, TooManyRequests

CACHE_SECONDS = 30.0  # an operator's change reaches every server process within this
MODEL_BYTES_SECONDS = 10.0  # item uploads see a model registered by another process within this
# Space frees only when someone deletes or an operator raises the quota: an hour says "not by waiting",
# and the Python client hands a Retry-After over a minute to its caller at once.
STORAGE_RETRY_SECONDS = 3600


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
    def __init__(
        self,
        blobs: BlobStore,
        index: SearchIndex,
        defaults: Quotas,
        window: RequestWindow,
        locks: TenantLocks | None = None,
    ):
        self.blobs = blobs
        self.index = index
        self.defaults = defaults
        self.window = window
        self._cache: dict[str, tuple[float, Quotas]] = {}
        self._tenants = locks or TenantLocks()  # uploads checked one after another, each seeing those before
        self._model_bytes: dict[str, tuple[float, int]] = {}

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

    @contextlib.contextmanager
    def admitting(self, tenant: str, size: int, fresh: bool = False) -> Iterator[None]:
        """Check an upload of `size` bytes, then hold the tenant's lock while the caller records it as
        pending: simultaneous requests are checked one after another, each seeing the ones before it.
        `fresh` recounts the models' bytes (a model registration) instead of using the last count."""
        with self._tenants.hold(tenant):
            self.check_upload(tenant, size, fresh)
            yield
        if fresh:
            self._model_bytes.pop(tenant, None)

    def held(self, tenant: str, fresh: bool = False) -> tuple[int, int]:
        """(items, bytes) the tenant holds: items and pending uploads from the index, plus its models."""
        items, size = self.index.holdings(tenant)
        return items, size + self.model_bytes(tenant, fresh)

    @contextlib.contextmanager
    def admitting_many(self, tenant: str, sizes: list[int]) -> Iterator[list[TooManyRequests | None]]:
        """`admitting` for a batch of uploads: each, in order, is checked as if those admitted before it
        were already recorded, so a batch passes the quotas no further than the same uploads one by one.
        Yields the refusal of each (None: admitted) while holding the tenant's lock for the recording."""
        with self._tenants.hold(tenant):
            quotas = self.limits(tenant)
            items, held = self.held(tenant)
            verdicts: list[TooManyRequests | None] = []
            for size in sizes:
                refusal = _refusal(quotas, items, held, size)
                if refusal is None:
                    items, held = items + 1, held + size
                verdicts.append(refusal)
            yield verdicts

    def check_upload(self, tenant: str, size: int, fresh: bool = False) -> None:
        items, held = self.held(tenant, fresh)
        refusal = _refusal(self.limits(tenant), items, held, size)
        if refusal is not None:
            raise refusal

    def model_bytes(self, tenant: str, fresh: bool = False) -> int:
        """Bytes of the tenant's model files, and the announced size of those still uploading."""
        cached = self._model_bytes.get(tenant)
        if cached and not fresh and time.monotonic() - cached[0] < MODEL_BYTES_SECONDS:
            return cached[1]
        files: dict[str, int] = {}
        records: set[str] = set()
        prefix = layout.models_prefix(tenant)
        for info in self.blobs.iter_objects(prefix):
            model_id = layout.name_after(prefix, info.key)
            if info.key == layout.model_file(tenant, model_id):
                files[model_id] = info.size
            elif info.key == layout.model_spec(tenant, model_id):
                records.add(model_id)
        total = sum(files.values())
        for model_id in records - set(files):
            with contextlib.suppress(ObjectMissing, ValueError, KeyError):
                record = json.loads(self.blobs.get_bytes(layout.model_spec(tenant, model_id)))
                total += int(record["size"]) if record.get("status") == "pending" else 0
        self._model_bytes[tenant] = (time.monotonic(), total)
        return total

    def admit_request(self, tenant: str) -> None:
        """A fixed one-minute window per tenant, counted across the server's processes."""
        allowed = self.limits(tenant).requests_per_minute
        minute = int(time.time() // 60)
        count = self.window.count(tenant, minute)
        if count > allowed:
            raise TooManyRequests(
                f"the tenant's request quota is reached: {count - 1} of {allowed} requests this minute",
                math.ceil((minute + 1) * 60 - time.time()),  # when the next window opens
            )


def _refusal(quotas: Quotas, items: int, held: int, size: int) -> TooManyRequests | None:
    """Why one more upload of `size` bytes passes the quotas, given what the tenant holds; None if it does not."""
    if items + 1 > quotas.max_items:
        return TooManyRequests(
            f"the tenant's item quota is reached: {items} of {quotas.max_items} items", STORAGE_RETRY_SECONDS
        )
    if held + size > quotas.max_bytes:
        return TooManyRequests(
            f"this upload of {size} bytes would pass the tenant's storage quota: "
            f"{held} of {quotas.max_bytes} bytes are used",
            STORAGE_RETRY_SECONDS,
        )
    return None
