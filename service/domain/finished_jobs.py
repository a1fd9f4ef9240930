"""What turns a finished job's parts into facts (predictions, vectors): heard from a storage write of the
job's status (the indexer Lambda on AWS) or from the local runner's hook, whose job process writes where
no listener hears it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.vocabulary import layout

SUCCEEDED = "succeeded"


class FinishedJobListener(ABC):
    def __init__(self, blobs: BlobStore):
        self.blobs = blobs

    def _json(self, key: str) -> dict | None:
        try:
            return json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return None

    def on_key(self, key: str) -> None:
        """A storage write: when it is a job's status, take that job's facts if it succeeded."""
        job = layout.parse_job_status(key)
        if job is not None:
            self.attach(*job)

    def on_run_finished(self, params: dict) -> None:
        """The local runner's hook."""
        self.on_key(params["output_prefix"] + "status.json")

    def succeeded(self, tenant: str, job_id: str) -> tuple[dict, float] | None:
        """(job record, finish time) of a job that succeeded; None for any other (or unknown) job."""
        record = self._json(layout.job_record(tenant, job_id))
        status = self._json(layout.job_status(tenant, job_id))
        if record is None or status is None or status.get("status") != SUCCEEDED:
            return None
        return record, float(status.get("finished_at") or status.get("updated_at") or 0.0)

    @abstractmethod
    def attach(self, tenant: str, job_id: str) -> int:
        """Take a succeeded job's facts; how many items got one (0 when it did not succeed)."""
