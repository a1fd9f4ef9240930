"""Schemas of datasets."""

import marshmallow as ma

from service.domain.datasets import MAX_DESCRIPTION, MAX_LABEL_CLASSES
from service.vocabulary.names import MAX_DATASET_NAME

_classes = ma.fields.List(
    ma.fields.Str(),
    validate=ma.validate.Length(max=MAX_LABEL_CLASSES),
    metadata={"description": "allowed labels"},
)


class DatasetCreateSchema(ma.Schema):
    name = ma.fields.Str(required=True, validate=ma.validate.Length(1, MAX_DATASET_NAME))
    description = ma.fields.Str(load_default="", validate=ma.validate.Length(max=MAX_DESCRIPTION))
    label_classes = _classes


class DatasetUpdateSchema(ma.Schema):
    name = ma.fields.Str(validate=ma.validate.Length(1, MAX_DATASET_NAME))
    description = ma.fields.Str(validate=ma.validate.Length(max=MAX_DESCRIPTION))
    label_classes = _classes

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("give at least one of name, description, label_classes")


class DatasetSchema(ma.Schema):
    id = ma.fields.Str()
    name = ma.fields.Str()
    description = ma.fields.Str()
    label_classes = ma.fields.List(ma.fields.Str())
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    updated_at = ma.fields.Str()
    item_count = ma.fields.Int()
    bytes = ma.fields.Int()
    label_counts = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Int())
