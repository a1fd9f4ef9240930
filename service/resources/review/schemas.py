"""Schemas of pre-annotation and the likely-mistakes list."""

import marshmallow as ma

from service.domain.preannotation import MAX_ITEM_IDS
from service.resources.items.schemas import ItemFilters, ItemSchema


class AcceptSchema(ma.Schema):
    model_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 64))
    item_ids = ma.fields.List(
        ma.fields.Str(validate=ma.validate.Length(1, 64)), validate=ma.validate.Length(1, MAX_ITEM_IDS)
    )
    query = ma.fields.Nested(ItemFilters, load_default=dict, metadata={"description": "list filters (without model)"})
    min_score = ma.fields.Float(validate=ma.validate.Range(0, 1), allow_nan=False)
    dry_run = ma.fields.Bool(load_default=False, metadata={"description": "count the matches, label nothing"})
    overwrite = ma.fields.Bool(load_default=False, metadata={"description": "also replace existing labels"})


class AcceptResultSchema(ma.Schema):
    matched = ma.fields.Int(metadata={"description": "items the request covers (at most 10,000 per request)"})
    labelled = ma.fields.Int()


class MistakeArgs(ma.Schema):
    model = ma.fields.Str(validate=ma.validate.Length(1, 64), metadata={"description": "one model; all when absent"})
    limit = ma.fields.Int(load_default=50, validate=ma.validate.Range(1, 1000))
    cursor = ma.fields.Str(load_default=None)


class MistakeSchema(ma.Schema):
    item_id = ma.fields.Str()
    label = ma.fields.Str()
    suggested = ma.fields.Str(allow_none=True)
    rank_score = ma.fields.Float(metadata={"description": "max other class probability minus the label's"})
    item = ma.fields.Nested(ItemSchema)
