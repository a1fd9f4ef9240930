"""Schemas of items and their uploads."""

import marshmallow as ma

from service.adapters.searchindex import SORTS
from service.domain.items import MAX_PARTS


class ItemFilters(ma.Schema):
    """The filters a listing, a search and a bulk accept share."""

    label = ma.fields.Str(validate=ma.validate.Length(1, 256))
    unlabeled = ma.fields.Bool(load_default=False)
    q = ma.fields.Str(validate=ma.validate.Length(1, 256), metadata={"description": "words in filename, label, tags"})
    status = ma.fields.Str(validate=ma.validate.OneOf(["pending", "available"]))
    content_type = ma.fields.Str(validate=ma.validate.Length(1, 255))
    model = ma.fields.Str(validate=ma.validate.Length(1, 64), metadata={"description": "whose predictions"})
    predicted = ma.fields.Str(validate=ma.validate.Length(1, 256), metadata={"description": "predicted class"})
    disagrees = ma.fields.Bool(load_default=False, metadata={"description": "labelled and predicted otherwise"})
    min_score = ma.fields.Float(validate=ma.validate.Range(0, 1), allow_nan=False)
    max_score = ma.fields.Float(validate=ma.validate.Range(0, 1), allow_nan=False)


class ItemListArgs(ItemFilters):
    limit = ma.fields.Int(load_default=50, validate=ma.validate.Range(1, 1000))
    cursor = ma.fields.Str(load_default=None)
    sort = ma.fields.Str(
        load_default="id",
        validate=ma.validate.OneOf(list(SORTS)),
        metadata={
            "description": "id, name, -name, label, -label (unlabelled last both ways), size, -size, created_at,"
            " -created_at; with model: score, -score, margin (least sure first); mistake"
        },
    )


class ItemCountSchema(ma.Schema):
    count = ma.fields.Int(metadata={"description": "items matching the filters"})


class UploadRequestSchema(ma.Schema):
    filename = ma.fields.Str(required=True, metadata={"description": "a plain file name, at most 255 bytes"})
    content_type = ma.fields.Str(required=True, metadata={"description": "media type, e.g. image/png"})
    size = ma.fields.Int(
        required=True, strict=True, validate=ma.validate.Range(min=1), metadata={"description": "bytes"}
    )
    method = ma.fields.Str(
        load_default="PUT",
        validate=ma.validate.OneOf(["PUT", "POST"]),
        metadata={"description": "POST asks for a form-upload policy; large files always go MULTIPART"},
    )
    sha256 = ma.fields.Str(
        load_default=None,
        validate=ma.validate.Regexp(r"^[0-9a-f]{64}$", error="sha256 must be 64 lowercase hex digits"),
        metadata={"description": "the file's SHA-256 (hex), checked at complete where storage allows"},
    )


class PartSchema(ma.Schema):
    part_number = ma.fields.Int(required=True, strict=True, validate=ma.validate.Range(1, MAX_PARTS))
    etag = ma.fields.Str(required=True, validate=ma.validate.Length(1, 128))


class CompleteSchema(ma.Schema):
    parts = ma.fields.List(ma.fields.Nested(PartSchema), validate=ma.validate.Length(1, MAX_PARTS))


class PreviewSchema(ma.Schema):
    thumbnail_url = ma.fields.Str()
    width = ma.fields.Int(allow_none=True)
    height = ma.fields.Int(allow_none=True)


class LabelSourceSchema(ma.Schema):
    kind = ma.fields.Str(metadata={"description": "person or model"})
    by = ma.fields.Str(metadata={"description": "the user, or the model id"})


class ItemPredictionSchema(ma.Schema):
    model_id = ma.fields.Str()
    job_id = ma.fields.Str()
    predicted = ma.fields.Str()
    score = ma.fields.Float(allow_none=True)
    margin = ma.fields.Float(allow_none=True, metadata={"description": "top-1 minus top-2 probability"})
    top = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Float(), metadata={"description": "top-k classes"})


class ItemSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    filename = ma.fields.Str()
    content_type = ma.fields.Str()
    size = ma.fields.Int()
    status = ma.fields.Str()
    label = ma.fields.Str(allow_none=True)
    tags = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    created_at = ma.fields.Str()
    created_by = ma.fields.Str()
    updated_at = ma.fields.Str()
    thumbnail_url = ma.fields.Str(allow_none=True)
    download_url = ma.fields.Str(allow_none=True)
    preview = ma.fields.Nested(PreviewSchema, allow_none=True)
    preview_note = ma.fields.Str(
        allow_none=True, metadata={"description": "why there is no thumbnail, e.g. 'not an image'; null with one"}
    )
    annotations = ma.fields.Int(metadata={"description": "how many boxes the item has"})
    label_source = ma.fields.Nested(LabelSourceSchema, allow_none=True)
    sha256 = ma.fields.Str(allow_none=True, metadata={"description": "announced at upload; null when none was"})
    predictions = ma.fields.List(ma.fields.Nested(ItemPredictionSchema))


class UploadPartSchema(ma.Schema):
    part_number = ma.fields.Int()
    url = ma.fields.Str()


class UploadSchema(ma.Schema):
    method = ma.fields.Str(metadata={"description": "PUT, POST or MULTIPART"})
    url = ma.fields.Str()
    headers = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    fields = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    upload_id = ma.fields.Str()
    part_size = ma.fields.Int()
    parts = ma.fields.List(ma.fields.Nested(UploadPartSchema))


class UploadTicketSchema(ma.Schema):
    item = ma.fields.Nested(ItemSchema)
    upload = ma.fields.Nested(UploadSchema)
