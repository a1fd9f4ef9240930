""" "Find similar" for an image the user uploads: the image goes to storage through a signed URL, a
one-item job of the embedding model embeds it (where untrusted bytes are parsed: the job runner's
confined process, never the API), and its vector is looked up in the vector index."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from service.adapters.blobstore import BlobStore, ObjectMissing, PreconditionFailed
from service.adapters.jobrunner import JobRunner
from service.adapters.jobrunner.engine_storage import BlobStoreStorage
from service.adapters.searchindex import ItemQuery, ItemRecord
from service.domain.datasets import DatasetCatalog
from service.domain.embeddings import read_matrix
from service.domain.items import UploadLimits, provenance, sign_upload
from service.domain.models import AVAILABLE, Model, ModelCatalog
from service.domain.similarity import MAX_K, Similarity
from service.domain.timestamps import now_iso
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, Conflict, NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

AWAITING_UPLOAD, EMBEDDING, SUCCEEDED, FAILED = "awaiting_upload", "embedding", "succeeded", "failed"
QUERY_BATCH, QUERY_MEMORY_MB = 1, 256


@dataclass
class Query:
    id: str
    model_id: str
    dataset_id: str | None
    k: int
    filename: str
    content_type: str
    size: int
    created_by: str
    created_at: str

    def record(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode()


def embedding_model(models: ModelCatalog, tenant: str, model_id: str) -> Model:
    """An available model that makes embeddings; 409 naming what is missing otherwise."""
    model = models.get(tenant, model_id)
    if model.status != AVAILABLE:
        raise Conflict(f"model {model.name!r} is {model.status}: complete its upload first")
    if not model.embedding_output:
        raise Conflict(f"model {model.name!r} makes no embeddings (its spec names no embedding_output)")
    return model


class SimilarQueries:
    def __init__(
        self,
        blobs: BlobStore,
        limits: UploadLimits,
        runner: JobRunner,
        datasets: DatasetCatalog,
        models: ModelCatalog,
        similarity: Similarity,
    ):
        self.blobs = blobs
        self.limits = limits
        self.runner = runner
        self.datasets = datasets
        self.models = models
        self.similarity = similarity
        self.storage = BlobStoreStorage(blobs)

    def create(self, principal: Principal, body: dict) -> tuple[Query, dict]:
        """Record the query and sign the image's upload (one PUT: a query image is not multipart-sized)."""
        tenant = principal.tenant
        embedding_model(self.models, tenant, body["model_id"])
        if body.get("dataset_id") is not None:
            self.datasets.get(tenant, body["dataset_id"])
        if body["size"] > self.limits.multipart_threshold:
            raise BadRequest(f"a query image must be at most {self.limits.multipart_threshold} bytes")
        now = time.time()
        query = Query(
            id=new_id(),
            model_id=body["model_id"],
            dataset_id=body.get("dataset_id"),
            k=body.get("k", 12),
            filename=names.filename(body["filename"]),
            content_type=names.content_type(body["content_type"]),
            size=body["size"],
            created_by=principal.user,
            created_at=now_iso(),
        )
        if not 1 <= query.k <= MAX_K:
            raise BadRequest(f"k must be between 1 and {MAX_K}")
        key = layout.query_image_prefix(tenant, query.id) + query.filename
        upload, _ = sign_upload(
            self.blobs, self.limits, key, query.content_type, query.size, "PUT", provenance(principal.user, now)
        )
        self.blobs.put_bytes(layout.query_record(tenant, query.id), query.record(), "application/json")
        return query, upload

    def get(self, tenant: str, query_id: str) -> Query:
        if not is_id(query_id):
            raise NotFound("query not found")
        try:
            return Query(**json.loads(self.blobs.get_bytes(layout.query_record(tenant, query_id))))
        except ObjectMissing:
            raise NotFound("query not found") from None

    def result(self, tenant: str, query: Query) -> tuple[str, list[tuple[ItemRecord, float]], str | None]:
        """(status, items most similar first, error): starts the embedding once the image is in storage."""
        from edna_engine import pipeline

        image = self.blobs.head(layout.query_image_prefix(tenant, query.id) + query.filename)
        if image is None:
            return AWAITING_UPLOAD, [], None
        if image.size != query.size:
            return FAILED, [], f"the uploaded image has {image.size} bytes, but {query.size} were announced"
        out = layout.query_embedding_prefix(tenant, query.id)
        self._start(tenant, query, out)
        status = pipeline.read_status(self.storage, out)
        if status["status"] in ("failed", "cancelled"):
            return FAILED, [], status.get("error") or "the embedding job did not finish"
        if status["status"] != "succeeded":
            return EMBEDDING, [], None
        vector = self._vector(out)
        if vector is None:
            return FAILED, [], "the image could not be read as an image this model takes"
        return SUCCEEDED, self._neighbours(tenant, query, vector), None

    def _start(self, tenant: str, query: Query, out: str) -> None:
        """Submit the embedding job once: the request that creates the claim submits it; a run that the
        runner no longer knows (the server restarted) is submitted again and resumes."""
        from edna_engine.params import JobParams

        claim = layout.query_run_claim(tenant, query.id)
        try:
            self.blobs.put_bytes_if(claim, b"{}", "application/json", None)
        except PreconditionFailed:
            if self.runner.run_state(self.runner.run_id_of(query.id)) is not None or self._finished(out):
                return
        model = embedding_model(self.models, tenant, query.model_id)
        params = JobParams(
            job_id=query.id,
            items_prefix=layout.query_image_prefix(tenant, query.id),
            model_key=layout.model_file(tenant, query.model_id),
            output_prefix=out,
            batch_size=QUERY_BATCH,
            max_memory_mb=QUERY_MEMORY_MB,
            model_sha256=model.sha256,
        )
        self.runner.submit(params.to_dict())

    def _finished(self, out: str) -> bool:
        from edna_engine import pipeline

        return pipeline.read_status(self.storage, out)["status"] in pipeline.FINISHED

    def _vector(self, out: str):
        """The image's embedding: the one row of the job's one vector part (None if it failed to load)."""
        parts = list(self.blobs.iter_objects(out + "vectors/"))
        if not parts:
            return None
        lines = self.blobs.get_bytes(out + "parts/" + parts[0].key.rsplit("/", 1)[1].replace(".npy", ".jsonl"))
        if "error" in json.loads(lines.splitlines()[0]):
            return None
        return read_matrix(self.blobs.get_bytes(parts[0].key))[0]

    def _neighbours(self, tenant: str, query: Query, vector) -> list[tuple[ItemRecord, float]]:
        """The k most similar items in the query's dataset, or in every dataset with this model's vectors."""
        if query.dataset_id is not None:
            dataset_ids = [query.dataset_id]
        else:
            dataset_ids = [d.id for d in self.datasets.every(tenant)]
        found: list[tuple[ItemRecord, float]] = []
        for dataset_id in dataset_ids:
            chosen = self.similarity.vectors.info(tenant, dataset_id, query.model_id)
            if chosen is None:
                continue
            found += self.similarity.to_vector(tenant, dataset_id, chosen, vector, query.k, ItemQuery())
        found.sort(key=lambda pair: (-pair[1], pair[0].dataset_id, pair[0].item_id))
        return found[: query.k]
