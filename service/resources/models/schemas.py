"""Schemas of models and their preprocess spec."""

import marshmallow as ma

from service.domain.datasets import MAX_LABEL_CLASSES
from service.resources.items.schemas import CompleteSchema, UploadSchema
from service.vocabulary.names import MAX_DATASET_NAME

__all__ = ["CompleteSchema"]


class InputSpecSchema(ma.Schema):
    width = ma.fields.Int(required=True, strict=True, validate=ma.validate.Range(1, 4096))
    height = ma.fields.Int(required=True, strict=True, validate=ma.validate.Range(1, 4096))
    channels = ma.fields.Int(required=True, strict=True, validate=ma.validate.OneOf([1, 3]))
    scale = ma.fields.Float(load_default=1 / 255, allow_nan=False)
    mean = ma.fields.List(ma.fields.Float(allow_nan=False), validate=ma.validate.Length(1, 3))
    std = ma.fields.List(ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=0, min_inclusive=False)))
    layout = ma.fields.Str(load_default="nchw", validate=ma.validate.OneOf(["flat", "nchw", "nhwc"]))
    resample = ma.fields.Str(load_default="bilinear", validate=ma.validate.OneOf(["box", "bilinear", "nearest"]))

    @ma.post_load
    def defaults(self, data, **kwargs):
        data.setdefault("mean", [0.0] * data["channels"])
        data.setdefault("std", [1.0] * data["channels"])
        if len(data["mean"]) != data["channels"] or len(data["std"]) != data["channels"]:
            raise ma.ValidationError("mean and std need one value per channel")
        return data


class OutputSpecSchema(ma.Schema):
    name = ma.fields.Str(allow_none=True, load_default=None)
    kind = ma.fields.Str(load_default="probabilities", validate=ma.validate.OneOf(["probabilities", "logits"]))


class ModelRegisterSchema(ma.Schema):
    name = ma.fields.Str(required=True, validate=ma.validate.Length(1, MAX_DATASET_NAME))
    format = ma.fields.Str(load_default="onnx", validate=ma.validate.OneOf(["onnx"]))
    class_names = ma.fields.List(
        ma.fields.Str(),
        required=True,
        validate=ma.validate.Length(0, MAX_LABEL_CLASSES),
        metadata={"description": "at least 2; empty for an embedding-only model"},
    )
    input = ma.fields.Nested(InputSpecSchema, required=True, metadata={"description": "how images become tensors"})
    output = ma.fields.Nested(OutputSpecSchema, load_default=None)
    embedding_output = ma.fields.Str(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(1, 256),
        metadata={"description": "the ONNX output of shape [N, D] that gives one embedding per item"},
    )
    size = ma.fields.Int(
        required=True, strict=True, validate=ma.validate.Range(min=1), metadata={"description": "bytes of the .onnx"}
    )


class ModelSchema(ma.Schema):
    id = ma.fields.Str()
    name = ma.fields.Str()
    format = ma.fields.Str()
    class_names = ma.fields.List(ma.fields.Str())
    input = ma.fields.Dict()
    output = ma.fields.Dict(allow_none=True)
    embedding_output = ma.fields.Str(allow_none=True)
    embedding_dims = ma.fields.Int(allow_none=True, metadata={"description": "D of the embeddings, when declared"})
    size = ma.fields.Int()
    status = ma.fields.Str(metadata={"description": "pending, available or invalid"})
    errors = ma.fields.List(ma.fields.Str())
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    updated_at = ma.fields.Str()


class ModelTicketSchema(ma.Schema):
    model = ma.fields.Nested(ModelSchema)
    upload = ma.fields.Nested(UploadSchema)
