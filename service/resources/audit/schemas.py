"""Schemas of the audit trail."""

import marshmallow as ma

from service.resources.common import PageArgs


class AuditArgs(PageArgs):
    start = ma.fields.Str(data_key="from", metadata={"description": "a date or ISO time; default: 7 days ago"})
    end = ma.fields.Str(data_key="to", metadata={"description": "a date or ISO time (exclusive); default: now"})
    actor = ma.fields.Str(validate=ma.validate.Length(1, 128), metadata={"description": "only this user's entries"})
    action = ma.fields.Str(
        validate=ma.validate.Length(1, 256),
        metadata={"description": "only this route, e.g. `PUT /api/datasets/{dataset_id}/items/{item_id}/label`"},
    )


class AuditEntrySchema(ma.Schema):
    time = ma.fields.Str()
    request_id = ma.fields.Str(metadata={"description": "the server's id of the request (its X-Request-Id answer)"})
    client_request_id = ma.fields.Str(metadata={"description": "the X-Request-Id the client sent, if any"})
    tenant = ma.fields.Str()
    actor = ma.fields.Str()
    action = ma.fields.Str()
    target = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    status = ma.fields.Int()
    outcome = ma.fields.Str(metadata={"description": "ok, refused (4xx) or failed (5xx)"})
    ms = ma.fields.Float(metadata={"description": "how long the request took"})
