"""Schemas of upload batches: many upload requests, many completes, one result per entry."""

import marshmallow as ma

from service.domain.upload_batches import MAX_ENTRIES
from service.resources.items.schemas import ItemSchema, UploadRequestSchema, UploadSchema


class UploadBatchSchema(ma.Schema):
    items = ma.fields.List(
        ma.fields.Nested(UploadRequestSchema),
        required=True,
        validate=ma.validate.Length(1, MAX_ENTRIES),
        metadata={"description": f"1-{MAX_ENTRIES} files, each as the single upload request takes it"},
    )


class UploadResultSchema(ma.Schema):
    index = ma.fields.Int(metadata={"description": "the entry's position in the request"})
    status = ma.fields.Int(metadata={"description": "201, or this entry's error status (400, 413, 429)"})
    item = ma.fields.Nested(ItemSchema)
    upload = ma.fields.Nested(UploadSchema)
    error = ma.fields.Str()


class UploadResultsSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(UploadResultSchema))


class CompleteBatchSchema(ma.Schema):
    item_ids = ma.fields.List(
        ma.fields.Str(validate=ma.validate.Length(1, 64)),
        required=True,
        validate=ma.validate.Length(1, MAX_ENTRIES),
        metadata={"description": "items uploaded by a single PUT or POST (multipart ones complete alone)"},
    )


class CompleteResultSchema(ma.Schema):
    item_id = ma.fields.Str()
    status = ma.fields.Int(metadata={"description": "200, or this entry's error status (400, 404, 409, 422)"})
    item = ma.fields.Nested(ItemSchema)
    error = ma.fields.Str()


class CompleteResultsSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(CompleteResultSchema))
