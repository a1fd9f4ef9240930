"""Comparisons: one job per model on the same dataset, one leaderboard, the items where models disagree."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.domain.items import ItemService
from service.domain.jobs import JobService
from service.domain.records import records_page
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, Conflict, NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

MAX_MODELS = 8
MAX_DISAGREEMENTS = 200  # shown with thumbnails; the count says how many there are in all
PAGE = 1000


@dataclass
class Comparison:
    id: str
    dataset_id: str
    model_ids: list[str]
    job_ids: list[str]
    created_by: str
    created_at: str
    result: dict = field(default_factory=dict)  # leaderboard, confusion, disagreements once every job is done

    def record(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()


def overall_status(statuses: list[str]) -> str:
    for final in ("failed", "cancelled"):
        if final in statuses:
            return final
    if all(s == "succeeded" for s in statuses):
        return "succeeded"
    return "queued" if all(s == "queued" for s in statuses) else "running"


class ComparisonService:
    def __init__(self, blobs: BlobStore, jobs: JobService, items: ItemService):
        self.blobs = blobs
        self.jobs = jobs
        self.items = items

    def _save(self, tenant: str, comparison: Comparison) -> None:
        self.blobs.put_bytes(layout.comparison_record(tenant, comparison.id), comparison.record(), "application/json")

    def get(self, tenant: str, comparison_id: str) -> Comparison:
        if not is_id(comparison_id):
            raise NotFound("comparison not found")
        try:
            return Comparison(**json.loads(self.blobs.get_bytes(layout.comparison_record(tenant, comparison_id))))
        except ObjectMissing:
            raise NotFound("comparison not found") from None

    def start(self, principal: Principal, dataset_id: str, model_ids: list[str], **job_options) -> Comparison:
        if len(set(model_ids)) != len(model_ids) or not 2 <= len(model_ids) <= MAX_MODELS:
            raise BadRequest(f"compare 2 to {MAX_MODELS} different models")
        for model_id in model_ids:  # all checked before any slot is taken or job starts
            model = self.jobs.startable(principal.tenant, dataset_id, model_id)
            if not model.class_names:
                raise Conflict(f"model {model.name!r} has no classes (it only makes embeddings): nothing to compare")
        job_ids = self.jobs.reserve(principal.tenant, len(model_ids))
        comparison = Comparison(new_id(), dataset_id, model_ids, [], principal.user, now_iso())
        for model_id, job_id in zip(model_ids, job_ids, strict=True):
            job = self.jobs.start(
                principal, dataset_id, model_id, comparison_id=comparison.id, job_id=job_id, **job_options
            )
            comparison.job_ids.append(job.id)
        self._save(principal.tenant, comparison)
        return comparison

    def list(self, tenant: str, limit: int, after: str | None) -> tuple[list[Comparison], str | None]:
        prefix = layout.comparisons_prefix(tenant)
        return records_page(self.blobs, prefix, after, limit, lambda c: self.get(tenant, c), suffix=".json")

    def view(self, tenant: str, comparison: Comparison) -> dict:
        jobs = [self.jobs.view(self.jobs.get(tenant, j)) for j in comparison.job_ids]
        status = overall_status([j["status"] for j in jobs])
        if status == "succeeded" and not comparison.result:
            comparison.result = self._result(tenant, comparison, jobs)
            self._save(tenant, comparison)  # the aggregated leaderboard is kept with the comparison
        return {
            "id": comparison.id,
            "dataset_id": comparison.dataset_id,
            "model_ids": comparison.model_ids,
            "job_ids": comparison.job_ids,
            "created_by": comparison.created_by,
            "created_at": comparison.created_at,
            "status": status,
            "progress": {
                "done": sum(j["progress"]["done"] for j in jobs),
                "total": sum(j["progress"]["total"] for j in jobs),
            },
            "jobs": [{"id": j["id"], "model_id": j["model_id"], "status": j["status"]} for j in jobs],
            "leaderboard": comparison.result.get("leaderboard") or leaderboard(jobs),
            "confusion": comparison.result.get("confusion", {}),
            "disagreement_count": comparison.result.get("disagreement_count", 0),
            "disagreements": [
                self._with_preview(tenant, comparison, d) for d in comparison.result.get("disagreements", [])
            ],
        }

    def _result(self, tenant: str, comparison: Comparison, jobs: list[dict]) -> dict:
        predicted: dict[str, dict] = {}
        for job in jobs:
            position = None
            while True:
                rows, position = self.jobs.predictions(tenant, job["id"], position, PAGE)
                for row in rows:
                    entry = predicted.setdefault(row["item_id"], {"label": row["label"], "predictions": {}})
                    entry["predictions"][job["model_id"]] = row["predicted"]
                if position is None:
                    break
        disagreeing = [
            {"item_id": item_id, **entry}
            for item_id, entry in sorted(predicted.items())
            # Among labelled items a disagreement can be settled by the label; unlabelled ones are noise here.
            if entry["label"] is not None and len(set(entry["predictions"].values())) > 1
        ]
        return {
            "leaderboard": leaderboard(jobs),
            "confusion": {
                j["model_id"]: {
                    "class_names": self.jobs.models.get(tenant, j["model_id"]).class_names,
                    "matrix": j["metrics"]["confusion"],
                    "per_class": j["metrics"].get("per_class", {}),
                }
                for j in jobs
                if j.get("metrics")
            },
            "disagreement_count": len(disagreeing),
            "disagreements": disagreeing[:MAX_DISAGREEMENTS],
        }

    def _with_preview(self, tenant: str, comparison: Comparison, disagreement: dict) -> dict:
        try:
            record = self.items.get(tenant, comparison.dataset_id, disagreement["item_id"])
        except NotFound:
            return {**disagreement, "filename": None, "thumbnail_url": None}
        return {
            **disagreement,
            "filename": record.filename,
            "thumbnail_url": self.items.preview(record)["thumbnail_url"],
        }


def leaderboard(jobs: list[dict]) -> list[dict]:
    """Best accuracy first (then macro-F1); models without results yet come last."""
    rows = []
    for job in jobs:
        metrics = job.get("metrics") or {}
        rows.append(
            {
                "model_id": job["model_id"],
                "model_name": job["model_name"],
                "job_id": job["id"],
                "status": job["status"],
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "items_per_second": metrics.get("items_per_second"),
                "evaluated": metrics.get("evaluated"),
            }
        )
    return sorted(rows, key=lambda r: (r["accuracy"] is None, -(r["accuracy"] or 0), -(r["macro_f1"] or 0)))
