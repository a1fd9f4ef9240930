"""Models: an ONNX file uploaded directly to storage, and `model.json` (record + engine spec) beside it."""

from __future__ import annotations

import hashlib
import json
import mmap
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.domain.datasets import label_classes
from service.domain.items import UploadLimits, provenance, sign_upload
from service.domain.records import records_page
from service.domain.timestamps import now_iso
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, Conflict, NotFound, Unprocessable
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

PENDING, AVAILABLE, INVALID = "pending", "available", "invalid"
ONNX_TYPE = "application/octet-stream"
MAX_CHECKED_BYTES = 1024**3  # larger models are not spooled to the API's temp dir to be checked


@dataclass
class Model:
    id: str
    name: str
    format: str
    class_names: list[str]
    input: dict
    output: dict | None
    size: int
    status: str
    created_by: str
    created_at: str
    updated_at: str
    errors: list[str] = field(default_factory=list)
    upload_id: str = ""
    sha256: str = ""  # of the bytes `complete` checked: jobs load only those
    embedding_output: str | None = None  # the output giving one embedding per item, if the model makes them
    embedding_dims: int | None = None  # their length, as the checked graph declares it

    def record(self) -> bytes:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False).encode()

    def spec(self) -> dict:
        """What the engine reads of model.json."""
        spec = {"format": self.format, "class_names": self.class_names, "input": self.input, "output": self.output}
        return {**spec, "embedding_output": self.embedding_output} if self.embedding_output else spec


class _HashingWriter:
    """Writes to `out` and feeds the same bytes to `digest`."""

    def __init__(self, out: BinaryIO, digest):
        self.out, self.digest = out, digest

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        return self.out.write(chunk)


def check_stored(blobs: BlobStore, key: str, spec: dict) -> tuple[int, str, list[str], int | None]:
    """(size, sha256, errors, embedding dims) of the stored model: spooled to a private, unlinked temp
    file and read through an mmap, so the API holds a few pages of it whatever its size."""
    from edna_engine.model_check import declared_embedding_dims, validate_model

    digest = hashlib.sha256()
    with tempfile.TemporaryFile(prefix="edna-model-") as spool:
        blobs.read_into(key, _HashingWriter(spool, digest))
        spool.flush()
        size = spool.tell()
        if size == 0:
            return 0, digest.hexdigest(), validate_model(b"", spec), None
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            errors = validate_model(mapped, spec)
            dims = None if errors else declared_embedding_dims(mapped, spec)
            return size, digest.hexdigest(), errors, dims


class ModelCatalog:
    def __init__(self, blobs: BlobStore, limits: UploadLimits):
        self.blobs = blobs
        self.limits = limits

    def _save(self, tenant: str, model: Model) -> None:
        self.blobs.put_bytes(layout.model_spec(tenant, model.id), model.record(), "application/json")

    def get(self, tenant: str, model_id: str) -> Model:
        if not is_id(model_id):
            raise NotFound("model not found")
        try:
            return Model(**json.loads(self.blobs.get_bytes(layout.model_spec(tenant, model_id))))
        except ObjectMissing:
            raise NotFound("model not found") from None

    def name_of(self, tenant: str, model_id: str) -> str | None:
        """The model's name; None once it was deleted (its predictions may still be attached)."""
        try:
            return self.get(tenant, model_id).name
        except NotFound:
            return None

    def list(self, tenant: str, limit: int, after: str | None) -> tuple[list[Model], str | None]:
        return records_page(self.blobs, layout.models_prefix(tenant), after, limit, lambda m: self.get(tenant, m))

    def register(self, principal: Principal, body: dict) -> tuple[Model, dict]:
        """Record the model as pending and sign the upload of its ONNX file."""
        from edna_engine.spec import spec_errors

        classes = label_classes(body["class_names"])
        embedding_output = body.get("embedding_output")
        if len(classes) < 2 and not (embedding_output and not classes):
            raise BadRequest("a classifier needs at least 2 class_names; only an embedding_output model may have none")
        now = time.time()
        model = Model(
            id=new_id(),
            name=names.dataset_name(body["name"]),
            format=body["format"],
            class_names=classes,
            input=body["input"],
            output=body.get("output"),
            embedding_output=embedding_output,
            size=body["size"],
            status=PENDING,
            created_by=principal.user,
            created_at=now_iso(),
            updated_at=now_iso(),
        )
        errors = spec_errors(model.spec())  # what needs no model file is refused before its upload
        if errors:
            raise BadRequest("the model spec is not valid: " + "; ".join(errors))
        key = layout.model_file(principal.tenant, model.id)
        upload, upload_id = sign_upload(
            self.blobs, self.limits, key, ONNX_TYPE, model.size, "PUT", provenance(principal.user, now)
        )
        model.upload_id = upload_id
        self._save(principal.tenant, model)
        return model, upload

    def complete(self, tenant: str, model_id: str, parts: list[tuple[int, str]] | None) -> Model:
        """The file must be in storage with the announced size, and its graph must fit the spec.

        An invalid file is deleted (the record keeps its errors). A model made available before
        checksums were recorded is checked again, so that its jobs, too, load only checked bytes.
        """
        model = self.get(tenant, model_id)
        if model.status == AVAILABLE and model.sha256:
            return model
        key = layout.model_file(tenant, model_id)
        if model.upload_id:
            if not parts:
                raise BadRequest("a multipart upload needs its parts: [{part_number, etag}, ...]")
            self.blobs.complete_multipart(key, model.upload_id, parts)
            model.upload_id = ""
        info = self.blobs.head(key)
        if info is None:
            raise Conflict("the model file is not in storage yet; upload it to the signed URL, then complete")
        if info.size != model.size:
            raise Unprocessable(f"the stored file has {info.size} bytes, but {model.size} were announced")
        if info.size > MAX_CHECKED_BYTES:
            raise Unprocessable(f"models up to {MAX_CHECKED_BYTES} bytes can be checked and used")
        size, model.sha256, model.errors, model.embedding_dims = check_stored(self.blobs, key, model.spec())
        if size != model.size:
            model.errors = [f"the stored file changed while it was checked ({size} bytes, not {model.size})"]
        model.status = INVALID if model.errors else AVAILABLE
        model.updated_at = now_iso()
        self._save(tenant, model)
        if model.errors:
            self.blobs.delete_many([key])
            raise Unprocessable("the model does not match its spec: " + "; ".join(model.errors))
        return model

    def delete(self, tenant: str, model_id: str) -> None:
        model = self.get(tenant, model_id)
        if model.upload_id:
            self.blobs.abort_multipart(layout.model_file(tenant, model_id), model.upload_id)
        self.blobs.delete_prefix(layout.model_prefix(tenant, model_id))
