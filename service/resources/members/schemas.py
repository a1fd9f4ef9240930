"""Schemas of tenant members."""

import marshmallow as ma

ROLES = ["viewer", "labeler", "editor", "admin"]


class InviteSchema(ma.Schema):
    username = ma.fields.Str(required=True, validate=ma.validate.Length(1, 128))
    email = ma.fields.Email(metadata={"description": "optional contact address of the member"})
    role = ma.fields.Str(required=True, validate=ma.validate.OneOf(ROLES))


class RoleChangeSchema(ma.Schema):
    role = ma.fields.Str(required=True, validate=ma.validate.OneOf(ROLES))


class MemberSchema(ma.Schema):
    username = ma.fields.Str()
    email = ma.fields.Str()
    role = ma.fields.Str()


class InvitedSchema(MemberSchema):
    password = ma.fields.Str(
        allow_none=True, metadata={"description": "one-time password to hand over; it only sets a new password"}
    )
    sign_in_name = ma.fields.Str(metadata={"description": "what the member signs in with"})
