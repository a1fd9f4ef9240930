"""Inference jobs: `job.json` written by the service, progress and results by the engine beside it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.jobrunner import JobRunner
from service.adapters.jobrunner.engine_storage import BlobStoreStorage
from service.domain.datasets import DatasetCatalog
from service.domain.job_slots import JobSlots
from service.domain.models import AVAILABLE, Model, ModelCatalog
from service.domain.records import records_page
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, Conflict, DomainError, NotFound, Unavailable
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

FINAL = {"succeeded", "failed", "cancelled"}
PREDICTION_SCAN = 1000  # lines read per step while looking for failed ones


@dataclass
class Job:
    id: str
    dataset_id: str
    model_id: str
    model_name: str
    params: dict  # exactly what the engine (DAG or local runner) receives
    runner: str
    run_id: str
    created_by: str
    created_at: str
    comparison_id: str | None = None

    def record(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()


class JobService:
    def __init__(
        self,
        blobs: BlobStore,
        runner: JobRunner,
        datasets: DatasetCatalog,
        models: ModelCatalog,
        allowed: Callable[[str], int],
    ):
        """`allowed(tenant)`: the tenant's concurrent-job quota."""
        self.blobs = blobs
        self.runner = runner
        self.datasets = datasets
        self.models = models
        self.allowed = allowed
        self.slots = JobSlots(blobs, self.active)
        self.storage = BlobStoreStorage(blobs)

    def _save(self, tenant: str, job: Job) -> None:
        self.blobs.put_bytes(layout.job_record(tenant, job.id), job.record(), "application/json")

    def get(self, tenant: str, job_id: str) -> Job:
        if not is_id(job_id):
            raise NotFound("job not found")
        try:
            return Job(**json.loads(self.blobs.get_bytes(layout.job_record(tenant, job_id))))
        except ObjectMissing:
            raise NotFound("job not found") from None

    def startable(self, tenant: str, dataset_id: str, model_id: str) -> Model:
        """The model, if a job of it over the dataset can start (checked before any slot is taken)."""
        self.datasets.get(tenant, dataset_id)
        model = self.models.get(tenant, model_id)
        if model.status != AVAILABLE:
            raise Conflict(f"model {model.name!r} is {model.status}: complete its upload first")
        return model

    def reserve(self, tenant: str, count: int) -> list[str]:
        """Ids for `count` new jobs, each holding a concurrent-job slot (429 when they are not free)."""
        job_ids = [new_id() for _ in range(count)]
        self.slots.reserve(tenant, job_ids, self.allowed(tenant))
        return job_ids

    def start(
        self,
        principal: Principal,
        dataset_id: str,
        model_id: str,
        batch_size: int = 64,
        max_memory_mb: int = 256,
        shards: int = 1,
        comparison_id: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Take a slot (unless `job_id` holds one), write job.json, then hand the runner explicit keys."""
        from edna_engine.params import JobParams

        tenant = principal.tenant
        model = self.startable(tenant, dataset_id, model_id)
        job_id = job_id or self.reserve(tenant, 1)[0]
        params = JobParams(
            job_id=job_id,
            items_prefix=layout.items_prefix(tenant, dataset_id),
            model_key=layout.model_file(tenant, model_id),
            output_prefix=layout.job_prefix(tenant, job_id),
            batch_size=batch_size,
            max_memory_mb=max_memory_mb,
            shards=shards,
            model_sha256=model.sha256,
        ).to_dict()
        job = Job(job_id, dataset_id, model_id, model.name, params, self.runner.name, "", principal.user, now_iso())
        job.comparison_id = comparison_id
        self._save(tenant, job)
        job.run_id = self._submit(job)
        self._save(tenant, job)
        return job

    def active(self, tenant: str, job_id: str) -> bool | None:
        """Whether the job is queued or running; None when it has no record (yet)."""
        try:
            return self.status(self.get(tenant, job_id))["status"] not in FINAL
        except NotFound:
            return None

    def _submit(self, job: Job) -> str:
        from edna_engine import pipeline
        from edna_engine.params import JobParams

        try:
            return self.runner.submit(job.params)
        except DomainError as exc:
            pipeline.fail(self.storage, JobParams.from_dict(job.params), exc.message)
            raise

    def status(self, job: Job) -> dict:
        """The engine's status, corrected by the runner when a run died before the engine could say so."""
        from edna_engine import pipeline

        status = pipeline.read_status(self.storage, job.params["output_prefix"])
        if status["status"] not in FINAL and job.run_id:
            try:
                seen = self.runner.run_state(job.run_id)
            except Unavailable:  # the runner only corrects a run that died: while it is away, storage answers
                seen = None
            if seen == "failed":
                # Read again: a run that failed on its own wrote why before it exited, maybe after the first read.
                status = pipeline.read_status(self.storage, job.params["output_prefix"])
                if status["status"] not in FINAL:
                    status = {**status, "status": "failed", "error": status.get("error") or "the run failed"}
        return status

    def view(self, job: Job) -> dict:
        status = self.status(job)
        return {
            "id": job.id,
            "dataset_id": job.dataset_id,
            "model_id": job.model_id,
            "model_name": job.model_name,
            "comparison_id": job.comparison_id,
            "batch_size": job.params["batch_size"],
            "max_memory_mb": job.params["max_memory_mb"],
            "shards": job.params["shards"],
            "runner": job.runner,
            "created_by": job.created_by,
            "created_at": job.created_at,
            **status,
        }

    def every(self, tenant: str) -> Iterator[Job]:
        """All the tenant's jobs, a page of records at a time."""
        after = None
        while True:
            jobs, after = self.list(tenant, 200, after)
            yield from jobs
            if after is None:
                return

    def list(self, tenant: str, limit: int, after: str | None) -> tuple[list[Job], str | None]:
        return records_page(self.blobs, layout.jobs_prefix(tenant), after, limit, lambda j: self.get(tenant, j))

    def predictions(
        self, tenant: str, job_id: str, position: str | None, limit: int, errors_only: bool = False
    ) -> tuple[list[dict], str | None]:
        """One page of predictions, keys turned into item ids; `errors_only`: the items that failed, with why."""
        from edna_engine import pipeline

        job = self.get(tenant, job_id)
        out = job.params["output_prefix"]
        try:
            if errors_only:
                rows, after = self._errors(out, position, limit)
            else:
                rows, after = pipeline.predictions_page(self.storage, out, position, limit)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        page = []
        for row in rows:
            item = layout.parse_item(row["key"])
            page.append(
                {
                    "item_id": item.item_id if item else None,
                    "filename": item.filename if item else None,
                    "label": row.get("label"),
                    "predicted": row.get("predicted"),
                    "score": row.get("score"),
                    "margin": row.get("margin"),
                    "top": row.get("top") or {},
                    "error": row.get("error"),
                }
            )
        return page, after

    def _errors(self, out: str, position: str | None, limit: int) -> tuple[list[dict], str | None]:
        """Up to `limit` failed lines after `position`, and the position right after the last one."""
        from edna_engine import pipeline

        found: list[dict] = []
        while True:
            rows, after = pipeline.predictions_page(self.storage, out, position, PREDICTION_SCAN)
            failed = [n for n, row in enumerate(rows) if "error" in row]
            wanted = limit - len(found)
            if len(failed) > wanted or (len(failed) == wanted and after is not None):
                # Read the page again up to the last failed line wanted: the position then points right after it.
                rows, after = pipeline.predictions_page(self.storage, out, position, failed[wanted - 1] + 1)
                return found + [row for row in rows if "error" in row], after
            found += [rows[n] for n in failed]
            if after is None:
                return found, None
            position = after

    def cancel(self, tenant: str, job_id: str) -> Job:
        from edna_engine import pipeline
        from edna_engine.params import JobParams

        job = self.get(tenant, job_id)
        current = self.status(job)["status"]
        if current in FINAL:
            raise Conflict(f"the job has already {current}")
        pipeline.cancel(self.storage, JobParams.from_dict(job.params))
        if job.run_id:
            self.runner.cancel(job.params, job.run_id)
        return job

    def resume_unfinished(self) -> int:
        """After a restart of the local runner: submit again every job not finished (the engine resumes)."""
        from service.domain.rebuild import child_names

        resumed = 0
        for tenant in child_names(self.blobs, layout.TENANTS):
            after = None
            while True:
                jobs, after = self.list(tenant, 1000, after)
                for job in jobs:
                    if self.status(job)["status"] not in FINAL:
                        job.run_id = self.runner.submit(job.params)
                        self._save(tenant, job)
                        resumed += 1
                if after is None:
                    break
        return resumed
