"""Schemas of labels, tags and annotations."""

import marshmallow as ma

from service.domain.annotations import MAX_BOXES
from service.domain.labels import MAX_BULK


class LabelSchema(ma.Schema):
    label = ma.fields.Str(required=True, allow_none=True, metadata={"description": "a class name, or null to clear"})


class TagsSchema(ma.Schema):
    tags = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str(), required=True)


class BulkEntrySchema(ma.Schema):
    item_id = ma.fields.Str(required=True)
    label = ma.fields.Str(required=True, allow_none=True)


class BulkLabelsSchema(ma.Schema):
    labels = ma.fields.List(ma.fields.Nested(BulkEntrySchema), required=True, validate=ma.validate.Length(1, MAX_BULK))


class BulkResultSchema(ma.Schema):
    item_id = ma.fields.Str()
    status = ma.fields.Int(metadata={"description": "200, or the error status of this entry"})
    label = ma.fields.Str(allow_none=True)
    error = ma.fields.Str()


class BulkResultsSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(BulkResultSchema))


class BoxSchema(ma.Schema):
    label = ma.fields.Str(required=True)
    x = ma.fields.Float(required=True, allow_nan=False)
    y = ma.fields.Float(required=True, allow_nan=False)
    w = ma.fields.Float(required=True, allow_nan=False)
    h = ma.fields.Float(required=True, allow_nan=False)


class AnnotationsWriteSchema(ma.Schema):
    boxes = ma.fields.List(ma.fields.Nested(BoxSchema), required=True, validate=ma.validate.Length(max=MAX_BOXES))
    version = ma.fields.Int(
        strict=True,
        validate=ma.validate.Range(min=0),
        metadata={"description": "the version this write is based on (or send If-Match)"},
    )


class AnnotationsSchema(ma.Schema):
    version = ma.fields.Int()
    boxes = ma.fields.List(ma.fields.Nested(BoxSchema))
    updated_by = ma.fields.Str(allow_none=True)
    updated_at = ma.fields.Str(allow_none=True)
