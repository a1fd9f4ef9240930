"""Predictions as item facts: a succeeded job's parts attached to its items in the index.

Job parts in storage stay the truth; the index holds each item's prediction from the latest
succeeded job per (dataset, model). A job's status write is the event that attaches it (S3 events
on AWS, the local runner's hook when it runs the job), and `rebuild` attaches them all again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.searchindex import Prediction, SearchIndex
from service.vocabulary import layout

log = logging.getLogger("edna.predictions")

SUCCEEDED = "succeeded"


class Predictions:
    def __init__(self, blobs: BlobStore, index: SearchIndex):
        self.blobs = blobs
        self.index = index

    def _json(self, key: str) -> dict | None:
        try:
            return json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return None

    def on_key(self, key: str) -> None:
        """A storage write: when it is a job's status, attach that job's predictions if it succeeded."""
        job = layout.parse_job_status(key)
        if job is not None:
            self.attach(*job)

    def on_run_finished(self, params: dict) -> None:
        """The local runner's hook: its job process wrote the status where no listener hears it."""
        job = layout.parse_job_status(params["output_prefix"] + "status.json")
        if job is not None:
            self.attach(*job)

    def attach(self, tenant: str, job_id: str) -> int:
        """Attach a succeeded job's predictions to its items; how many items got one (0 if not succeeded)."""
        record = self._json(layout.job_record(tenant, job_id))
        status = self._json(layout.job_status(tenant, job_id))
        if record is None or status is None or status.get("status") != SUCCEEDED:
            return 0
        finished_at = float(status.get("finished_at") or status.get("updated_at") or 0.0)
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
            status = self._json(layout.job_status(tenant, job_id))
            record = self._json(layout.job_record(tenant, job_id))
            if not status or not record or status.get("status") != SUCCEEDED:
                continue
            finished = float(status.get("finished_at") or status.get("updated_at") or 0.0)
            pair = (record["dataset_id"], record["model_id"])
            latest[pair] = max(latest.get(pair, (finished, job_id)), (finished, job_id))
        return sum(self.attach(tenant, job_id) for _, job_id in latest.values())
