"""Schemas of inference jobs."""

import marshmallow as ma

from service.resources.common import PageArgs

_STATUS = "queued, running, succeeded, failed or cancelled"


class JobStartSchema(ma.Schema):
    dataset_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 64))
    model_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 64))
    batch_size = ma.fields.Int(load_default=64, strict=True, validate=ma.validate.Range(1, 4096))
    max_memory_mb = ma.fields.Int(load_default=256, strict=True, validate=ma.validate.Range(16, 4096))
    shards = ma.fields.Int(load_default=1, strict=True, validate=ma.validate.Range(1, 64))


class ProgressSchema(ma.Schema):
    done = ma.fields.Int()
    total = ma.fields.Int()


class JobSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    model_id = ma.fields.Str()
    model_name = ma.fields.Str()
    comparison_id = ma.fields.Str(allow_none=True)
    status = ma.fields.Str(metadata={"description": _STATUS})
    progress = ma.fields.Nested(ProgressSchema)
    metrics = ma.fields.Dict(metadata={"description": "accuracy, macro_f1, per_class, confusion, items_per_second"})
    error = ma.fields.Str()
    batch_size = ma.fields.Int()
    max_memory_mb = ma.fields.Int()
    shards = ma.fields.Int()
    runner = ma.fields.Str()
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()


class PredictionArgs(PageArgs):
    errors = ma.fields.Bool(load_default=False, metadata={"description": "only the items that failed"})


class PredictionSchema(ma.Schema):
    item_id = ma.fields.Str(allow_none=True)
    filename = ma.fields.Str(allow_none=True)
    label = ma.fields.Str(allow_none=True, metadata={"description": "the item's label when the job ran"})
    predicted = ma.fields.Str(allow_none=True)
    score = ma.fields.Float(allow_none=True)
    margin = ma.fields.Float(allow_none=True, metadata={"description": "top-1 minus top-2 probability"})
    top = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Float(), metadata={"description": "top-k classes"})
    error = ma.fields.Str(allow_none=True)
