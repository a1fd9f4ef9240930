"""Schemas of sign-in and the caller."""

import marshmallow as ma


class TokenRequestSchema(ma.Schema):
    username = ma.fields.Str(
        required=True,
        validate=ma.validate.Length(1, 192),
        metadata={"description": "`tenant/username`, or an operator-created user's bare name"},
    )
    password = ma.fields.Str(required=True, validate=ma.validate.Length(1, 1024))


class PasswordChangeSchema(ma.Schema):
    username = ma.fields.Str(required=True, validate=ma.validate.Length(1, 192))
    password = ma.fields.Str(required=True, validate=ma.validate.Length(1, 1024), metadata={"description": "current"})
    new_password = ma.fields.Str(required=True, validate=ma.validate.Length(1, 1024))


class TokenSchema(ma.Schema):
    access_token = ma.fields.Str()
    token_type = ma.fields.Str()
    expires_in = ma.fields.Int()


class MeSchema(ma.Schema):
    user = ma.fields.Str()
    tenant = ma.fields.Str()
    roles = ma.fields.List(ma.fields.Str())
