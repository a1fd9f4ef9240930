"""The AWS usage meter: CloudWatch embedded-metric-format lines (a `tenant` dimension) for the
dashboards and alarms, and the same counts rolled up in the data bucket for `GET /api/usage`.

Each process writes only its own shard per tenant and hour (`ledger/<t>/usage/<day>/<HH>-<writer>.json`,
its cumulative counts), so concurrent Lambdas never write the same object; a total sums the
shards. Writes happen after a request at most every `flush_seconds`: a container frozen for good
loses at most that many seconds of counts.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TextIO

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.usage import UsageMeter, hour_of, hour_span
from service.vocabulary import layout

NAMESPACE = "Edna"


class CloudWatchUsageMeter(UsageMeter):
    def __init__(self, blobs: BlobStore, flush_seconds: float = 10.0, out: TextIO | None = None):
        super().__init__()
        self.blobs = blobs
        self.flush_seconds = flush_seconds
        self.out = out or sys.stdout
        self.writer = uuid.uuid4().hex[:12]
        self._shards: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._flushing = threading.Lock()
        self._last = time.monotonic()

    def after_request(self) -> None:
        if time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        with self._flushing:
            self._last = time.monotonic()
            pending = self.take_pending()
            if not pending:
                return
            touched: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
            for (tenant, hour, metric), value in pending.items():
                touched[(tenant, hour)][metric] = value
            try:
                for tenant, hour in touched:
                    if (tenant, hour) not in self._shards:  # new, or set aside as past: start from what is stored
                        stored = self._written(tenant, hour)
                        self._shards[(tenant, hour)].update(stored)
            except Exception:
                self.give_back(pending)
                raise
            # every shard is added to before any write, so a failed write takes back exactly what was added
            for (tenant, hour), deltas in touched.items():
                shard = self._shards[(tenant, hour)]
                for metric, value in deltas.items():
                    shard[metric] += value
            try:
                for tenant, hour in touched:
                    self.blobs.put_bytes(
                        layout.usage_shard(tenant, hour, self.writer),
                        json.dumps(self._shards[(tenant, hour)], sort_keys=True).encode(),
                        "application/json",
                    )
            except Exception:
                for (tenant, hour), deltas in touched.items():  # undo, and keep the counts for next time
                    for metric, value in deltas.items():
                        self._shards[(tenant, hour)][metric] -= value
                self.give_back(pending)
                raise
            for (tenant, hour), deltas in touched.items():
                self._emit(tenant, hour, deltas)
            current = hour_of(datetime.now().astimezone())
            for key in [k for k in self._shards if k[1] < current]:  # a past hour's shard is set aside
                del self._shards[key]

    def _written(self, tenant: str, hour: str) -> dict[str, float]:
        """This writer's shard as stored: counts of an hour can arrive after its shard was set aside."""
        try:
            return json.loads(self.blobs.get_bytes(layout.usage_shard(tenant, hour, self.writer)))
        except ObjectMissing:
            return {}

    def _emit(self, tenant: str, hour: str, deltas: dict[str, float]) -> None:
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["tenant"]],
                        "Metrics": [{"Name": m, "Unit": "Bytes" if m.endswith("bytes") else "Count"} for m in deltas],
                    }
                ],
            },
            "tenant": tenant,
            "hour": hour,
            **deltas,
        }
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()

    def totals(self, tenant: str, start: datetime, end: datetime) -> dict[str, float]:
        self.flush()
        first, last = hour_span(start, end)
        totals: dict[str, float] = defaultdict(float)
        day = datetime.strptime(first[:10], "%Y-%m-%d")
        while day.strftime("%Y-%m-%d") <= last[:10]:
            prefix = layout.usage_day_prefix(tenant, day.strftime("%Y-%m-%d"))
            for info in self.blobs.iter_objects(prefix):
                hour = f"{day.strftime('%Y-%m-%d')}T{info.key[len(prefix) : len(prefix) + 2]}"
                if first <= hour <= last:
                    for metric, value in json.loads(self.blobs.get_bytes(info.key)).items():
                        totals[metric] += value
            day += timedelta(days=1)
        return dict(totals)
