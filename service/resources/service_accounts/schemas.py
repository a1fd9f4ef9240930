"""Schemas of applications (service accounts)."""

import marshmallow as ma

ROLES = ["viewer", "labeler", "editor", "admin"]


class ApplicationCreateSchema(ma.Schema):
    name = ma.fields.Str(required=True, validate=ma.validate.Length(1, 200))
    role = ma.fields.Str(required=True, validate=ma.validate.OneOf(ROLES))
    dataset_ids = ma.fields.List(
        ma.fields.Str(validate=ma.validate.Length(1, 64)),
        load_default=None,
        allow_none=True,
        metadata={"description": "limit it to these datasets (roles up to editor); left out: the whole tenant"},
    )
    expires_at = ma.fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "ISO 8601 with a time zone; none: never"}
    )


class ApplicationSchema(ma.Schema):
    id = ma.fields.Str()
    name = ma.fields.Str()
    role = ma.fields.Str()
    client_id = ma.fields.Str()
    dataset_ids = ma.fields.List(ma.fields.Str(), allow_none=True)
    created_at = ma.fields.Float()
    created_by = ma.fields.Str()
    expires_at = ma.fields.Float(allow_none=True)
    last_used_at = ma.fields.Float(allow_none=True)


class ApplicationCreatedSchema(ApplicationSchema):
    client_secret = ma.fields.Str(metadata={"description": "shown once: Edna keeps only what checks it"})
    token_url = ma.fields.Str(metadata={"description": "where the client exchanges its credentials for a token"})


class ServiceTokenRequestSchema(ma.Schema):
    client_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 128))
    client_secret = ma.fields.Str(required=True, validate=ma.validate.Length(1, 256))
