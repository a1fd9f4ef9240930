"""Predictions as item facts: a succeeded job's parts attached to its items in the index.

Job parts in storage stay the truth; the index holds each item's prediction from the latest
succeeded job per (dataset, model). A job's status write is the event that attaches it (S3 events
on AWS, the local runner's hook when it runs the job), and `rebuild` attaches them all again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import Prediction, SearchIndex
from service.domain.finished_jobs import FinishedJobListener
from service.vocabulary import layout

log = logging.getLogger("edna.predictions")


class Predictions(FinishedJobListener):
    def __init__(self, blobs: BlobStore, index: SearchIndex):
        super().__init__(blobs)
        self.index = index

    def attach(self, tenant: str, job_id: str) -> int:
        """Attach a succeeded job's predictions to its items; how many items got one (0 if not succeeded)."""
        found = self.succeeded(tenant, job_id)
        if found is None:
            return 0
        record, finished_at = found
        dataset_id, model_id = record["dataset_id"], record["model_id"]
        rows = self._rows(record["params"]["output_prefix"], model_id, job_id, finished_at)
        attached = self.index.attach_predictions(tenant, dataset_id, model_id, job_id, finished_at, rows)
        log.info("job %s: predictions of model %s attached to %d items", job_id, model_id, attached)
        return attached

    def _rows(self, output_prefix: str, model_id: str, job_id: str, finished_at: float) -> Iterator:
        """(item id, Prediction) of every line a job wrote, part by part (never the whole job at once)."""
        for part in self.blobs.iter_objects(output_prefix + "parts/"):
            for line in self.blobs.get_bytes(part.key).splitlines():
                row = json.loads(line)
                item = layout.parse_item(row.get("key", ""))
                if item is None or row.get("predicted") is None:
                    continue  # an item that failed to load has no prediction
                yield (
                    item.item_id,
                    Prediction(
                        model_id=model_id,
                        job_id=job_id,
                        predicted=row["predicted"],
                        score=row.get("score"),
                        margin=row.get("margin"),
                        probs=row.get("top") or {},
                        finished_at=finished_at,
                    ),
                )

    def rebuild(self, tenant: str, job_ids: Iterable[str]) -> int:
        """Attach, for each (dataset, model), its latest succeeded job of `job_ids` (the tenant's jobs)."""
        latest: dict[tuple[str, str], tuple[float, str]] = {}
        for job_id in job_ids:
            found = self.succeeded(tenant, job_id)
            if found is None:
                continue
            record, finished = found
            pair = (record["dataset_id"], record["model_id"])
            latest[pair] = max(latest.get(pair, (finished, job_id)), (finished, job_id))
        return sum(self.attach(tenant, job_id) for _, job_id in latest.values())
