"""`job.finished` and `comparison.finished`, from whoever sees a job end."""

from __future__ import annotations

import json

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.jobrunner.engine_storage import BlobStoreStorage
from service.domain.notifications import Emit
from service.vocabulary import layout

FINAL = ("succeeded", "failed", "cancelled")


class RunEvents:
    """Heard from the local runner's `finished` hooks, or from the storage events of a job's status on
    AWS (which may come more than once, and for every progress write): a key keeps one event id."""

    def __init__(self, blobs: BlobStore, emit: Emit):
        self.blobs = blobs
        self.emit = emit
        self.storage = BlobStoreStorage(blobs)

    def on_key(self, key: str) -> None:
        job = layout.parse_job_status(key)
        if job is not None:
            self.finished(*job, ended=False)

    def on_run_finished(self, params: dict) -> None:
        job = layout.parse_job_status(params["output_prefix"] + "status.json")
        if job is not None:  # a "find similar" embedding run is not a job of the tenant's
            self.finished(*job, ended=True)

    def _record(self, key: str) -> dict | None:
        try:
            return json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return None

    def _status(self, record: dict) -> str:
        from edna_engine import pipeline

        return pipeline.read_status(self.storage, record["params"]["output_prefix"])["status"]

    def finished(self, tenant: str, job_id: str, ended: bool) -> None:
        """`ended`: the run is over even if the engine's status does not say so (its process died)."""
        record = self._record(layout.job_record(tenant, job_id))
        if record is None:
            return
        status = self._status(record)
        if status not in FINAL:
            if not ended:
                return  # a progress write
            status = "failed"
        comparison_id = record.get("comparison_id")
        data = {"job_id": job_id, "dataset_id": record["dataset_id"], "model_id": record["model_id"], "status": status}
        self.emit(tenant, "job.finished", {**data, "comparison_id": comparison_id}, key=f"job-{job_id}")
        if comparison_id:
            self._comparison(tenant, comparison_id, job_id, status)

    def _comparison(self, tenant: str, comparison_id: str, job_id: str, status: str) -> None:
        comparison = self._record(layout.comparison_record(tenant, comparison_id))
        if comparison is None:
            return
        statuses = [status]
        for sibling in comparison["job_ids"]:
            if sibling != job_id:
                record = self._record(layout.job_record(tenant, sibling))
                statuses.append(self._status(record) if record else "failed")
        if any(s not in FINAL for s in statuses):
            return
        overall = next((s for s in ("failed", "cancelled") if s in statuses), "succeeded")
        data = {"comparison_id": comparison_id, "dataset_id": comparison["dataset_id"], "status": overall}
        key = f"comparison-{comparison_id}"
        self.emit(tenant, "comparison.finished", {**data, "job_ids": comparison["job_ids"]}, key=key)
