"""Schemas of similar items, "find similar" queries, near-duplicate passes and the dataset map."""

import marshmallow as ma

from service.domain.similarity import MAX_K
from service.resources.items.schemas import ItemFilters, ItemSchema, UploadSchema

MODEL = ma.fields.Str(validate=ma.validate.Length(1, 64), metadata={"description": "the embedding model"})


class SimilarArgs(ItemFilters):
    """`model` names the embedding model here; prediction filters read `predictions_of`'s predictions."""

    model = MODEL
    k = ma.fields.Int(load_default=12, validate=ma.validate.Range(1, MAX_K))
    predictions_of = ma.fields.Str(
        validate=ma.validate.Length(1, 64), metadata={"description": "whose predictions predicted/disagrees/score read"}
    )


class SimilarItemSchema(ItemSchema):
    item_id = ma.fields.Str()
    similarity = ma.fields.Float(metadata={"description": "cosine similarity of the embeddings, -1 to 1"})


class SimilarItemsSchema(ma.Schema):
    model_id = ma.fields.Str()
    job_id = ma.fields.Str(metadata={"description": "the job whose embeddings were searched"})
    items = ma.fields.List(ma.fields.Nested(SimilarItemSchema))
    missing = ma.fields.Str(metadata={"description": "why there are none: the item has no embedding yet"})


class QueryRequestSchema(ma.Schema):
    model_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 64))
    dataset_id = ma.fields.Str(
        allow_none=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "search one dataset; all when absent or null"},
    )
    k = ma.fields.Int(load_default=12, validate=ma.validate.Range(1, MAX_K))
    filename = ma.fields.Str(required=True, validate=ma.validate.Length(1, 255))
    content_type = ma.fields.Str(required=True, validate=ma.validate.Length(1, 255))
    size = ma.fields.Int(
        required=True, strict=True, validate=ma.validate.Range(min=1), metadata={"description": "bytes"}
    )


class QueryTicketSchema(ma.Schema):
    id = ma.fields.Str()
    upload = ma.fields.Nested(UploadSchema)


class QueryResultSchema(ma.Schema):
    id = ma.fields.Str()
    model_id = ma.fields.Str()
    dataset_id = ma.fields.Str(allow_none=True)
    status = ma.fields.Str(metadata={"description": "awaiting_upload, embedding, succeeded or failed"})
    error = ma.fields.Str()
    items = ma.fields.List(ma.fields.Nested(SimilarItemSchema), metadata={"description": "empty until succeeded"})


class DuplicatesRequestSchema(ma.Schema):
    model_id = ma.fields.Str(validate=ma.validate.Length(1, 64), metadata={"description": "latest set when absent"})
    threshold = ma.fields.Float(
        load_default=0.95,
        validate=ma.validate.Range(0.8, 1.0),
        allow_nan=False,
        metadata={"description": "cosine similarity at or above which two items are near-duplicates"},
    )


class PassProgressSchema(ma.Schema):
    done = ma.fields.Int()
    total = ma.fields.Int()


class GroupSchema(ma.Schema):
    item_ids = ma.fields.List(ma.fields.Str())
    similarity = ma.fields.Float(metadata={"description": "the lowest similarity that joined the group"})


class DuplicatesRunSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    model_id = ma.fields.Str()
    job_id = ma.fields.Str()
    threshold = ma.fields.Float()
    status = ma.fields.Str(metadata={"description": "queued, running, succeeded or failed"})
    progress = ma.fields.Nested(PassProgressSchema)
    group_count = ma.fields.Int(metadata={"description": "how many groups the pass found"})
    error = ma.fields.Str()
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    finished_at = ma.fields.Str()


class DuplicatesPageSchema(DuplicatesRunSchema):
    groups = ma.fields.List(ma.fields.Nested(GroupSchema), metadata={"description": "this page of groups"})
    next_cursor = ma.fields.Str(allow_none=True)


class PageArgs(ma.Schema):
    limit = ma.fields.Int(load_default=50, validate=ma.validate.Range(1, 1000))
    cursor = ma.fields.Str(load_default=None)


class MapArgs(ma.Schema):
    model = MODEL
    limit = ma.fields.Int(load_default=1000, validate=ma.validate.Range(1, 10000))
    cursor = ma.fields.Str(load_default=None)


class MapPointSchema(ma.Schema):
    item_id = ma.fields.Str()
    x = ma.fields.Float()
    y = ma.fields.Float()
    label = ma.fields.Str(allow_none=True)
    predicted = ma.fields.Str(allow_none=True)


class MapPageSchema(ma.Schema):
    model_id = ma.fields.Str()
    job_id = ma.fields.Str()
    total = ma.fields.Int(metadata={"description": "points on the map"})
    items = ma.fields.List(ma.fields.Nested(MapPointSchema))
    next_cursor = ma.fields.Str(allow_none=True)


class EmbeddingSetSchema(ma.Schema):
    model_id = ma.fields.Str()
    model_name = ma.fields.Str(allow_none=True)
    job_id = ma.fields.Str()
    count = ma.fields.Int()
    dims = ma.fields.Int()


class EmbeddingSetsSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EmbeddingSetSchema))
