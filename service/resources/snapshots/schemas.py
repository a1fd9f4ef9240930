"""Schemas of dataset snapshots, their items and their diffs."""

import marshmallow as ma

from service.domain.export import FORMATS
from service.domain.snapshot_diff import CURRENT
from service.domain.snapshots import MAX_NAME
from service.resources.common import PageArgs


class SnapshotCreateSchema(ma.Schema):
    name = ma.fields.Str(
        validate=ma.validate.Length(1, MAX_NAME),
        metadata={"description": "the dataset's name and the time when absent"},
    )


class SnapshotSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    name = ma.fields.Str()
    created_at = ma.fields.Str()
    created_by = ma.fields.Str()
    item_count = ma.fields.Int()
    bytes = ma.fields.Int()


class SnapshotItemSchema(ma.Schema):
    id = ma.fields.Str()
    filename = ma.fields.Str()
    content_type = ma.fields.Str()
    size = ma.fields.Int()
    label = ma.fields.Str(allow_none=True)
    tags = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    sha256 = ma.fields.Str(metadata={"description": "present when the uploader announced it"})
    download_url = ma.fields.Str(metadata={"description": "a signed GET of the version the snapshot kept"})


class ExportArgs(ma.Schema):
    format = ma.fields.Str(load_default="jsonl", validate=ma.validate.OneOf(sorted(FORMATS)))


class DiffArgs(PageArgs):
    against = ma.fields.Str(
        load_default=CURRENT,
        validate=ma.validate.Length(1, 64),
        metadata={"description": f"another snapshot's id, or `{CURRENT}` (the default) for the dataset as it is now"},
    )


class DiffSchema(ma.Schema):
    added = ma.fields.List(ma.fields.Str(), metadata={"description": "items `against` has and the snapshot had not"})
    removed = ma.fields.List(ma.fields.Str(), metadata={"description": "items the snapshot had and `against` has not"})
    relabelled = ma.fields.List(ma.fields.Str(), metadata={"description": "items on both sides with another label"})
    reannotated = ma.fields.List(ma.fields.Str(), metadata={"description": "items on both sides with other boxes"})
    next_cursor = ma.fields.Str(allow_none=True)
