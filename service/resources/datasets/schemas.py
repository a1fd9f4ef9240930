"""Schemas of datasets."""

import marshmallow as ma

from service.domain.datasets import MAX_DESCRIPTION, MAX_LABEL_CLASSES
from service.vocabulary.names import MAX_DATASET_NAME

_classes = ma.fields.List(
    ma.fields.Str(),
    validate=ma.validate.Length(max=MAX_LABEL_CLASSES),
    metadata={"description": "allowed labels"},
)


class ClassRenameSchema(ma.Schema):
    from_ = ma.fields.Str(required=True, data_key="from", validate=ma.validate.Length(1, 256))
    to = ma.fields.Str(required=True, validate=ma.validate.Length(1, 256))


class DatasetCreateSchema(ma.Schema):
    name = ma.fields.Str(required=True, validate=ma.validate.Length(1, MAX_DATASET_NAME))
    description = ma.fields.Str(load_default="", validate=ma.validate.Length(max=MAX_DESCRIPTION))
    label_classes = _classes


class DatasetUpdateSchema(ma.Schema):
    name = ma.fields.Str(validate=ma.validate.Length(1, MAX_DATASET_NAME))
    description = ma.fields.Str(validate=ma.validate.Length(max=MAX_DESCRIPTION))
    label_classes = _classes
    hotkeys = ma.fields.Dict(
        keys=ma.fields.Str(validate=ma.validate.Length(1, 256)),
        values=ma.fields.Str(validate=ma.validate.Length(equal=1)),
        validate=ma.validate.Length(max=MAX_LABEL_CLASSES),
        metadata={"description": "class -> one key that labels with it in labelling mode"},
    )

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("give at least one of name, description, label_classes, hotkeys")


class DatasetPredictionsSchema(ma.Schema):
    model_id = ma.fields.Str()
    model_name = ma.fields.Str(allow_none=True)
    job_id = ma.fields.Str()
    items = ma.fields.Int()


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
    hotkeys = ma.fields.Dict(
        keys=ma.fields.Str(), values=ma.fields.Str(), metadata={"description": "class -> labelling key"}
    )
    predictions = ma.fields.List(
        ma.fields.Nested(DatasetPredictionsSchema),
        metadata={"description": "models whose latest job's predictions are attached to the items"},
    )


class DeletionSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    name = ma.fields.Str(metadata={"description": "the dataset's name"})
    status = ma.fields.Str(metadata={"description": "queued, running, succeeded or failed (DELETE again resumes)"})
    progress = ma.fields.Dict(
        keys=ma.fields.Str(), values=ma.fields.Int(), metadata={"description": "done, total: items removed"}
    )
    error = ma.fields.Str()
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    finished_at = ma.fields.Str()
