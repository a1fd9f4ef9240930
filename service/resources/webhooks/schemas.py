"""Schemas of webhooks and their deliveries."""

import marshmallow as ma

from service.domain.webhooks import EVENT_TYPES, MAX_URL


class WebhookCreateSchema(ma.Schema):
    url = ma.fields.Str(required=True, validate=ma.validate.Length(1, MAX_URL))
    events = ma.fields.List(ma.fields.Str(), required=True, metadata={"description": ", ".join(EVENT_TYPES)})
    description = ma.fields.Str(load_default="", validate=ma.validate.Length(0, 500))


class WebhookChangeSchema(ma.Schema):
    url = ma.fields.Str(validate=ma.validate.Length(1, MAX_URL))
    events = ma.fields.List(ma.fields.Str(), metadata={"description": ", ".join(EVENT_TYPES)})
    description = ma.fields.Str(validate=ma.validate.Length(0, 500))
    active = ma.fields.Bool(metadata={"description": "false: no new deliveries until it is true again"})


class WebhookSchema(ma.Schema):
    id = ma.fields.Str()
    url = ma.fields.Str()
    events = ma.fields.List(ma.fields.Str())
    description = ma.fields.Str()
    active = ma.fields.Bool()
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    updated_at = ma.fields.Str()


class WebhookCreatedSchema(WebhookSchema):
    secret = ma.fields.Str(metadata={"description": "signs the deliveries (Edna-Signature); shown only here"})


class DeliverySchema(ma.Schema):
    id = ma.fields.Str()
    webhook_id = ma.fields.Str()
    event_id = ma.fields.Str()
    type = ma.fields.Str()
    status = ma.fields.Str(metadata={"description": "pending, succeeded or failed"})
    attempts = ma.fields.Int()
    response_code = ma.fields.Int(allow_none=True)
    last_error = ma.fields.Str(allow_none=True)
    next_attempt_at = ma.fields.Str(allow_none=True)
    created_at = ma.fields.Str()
    redelivery_of = ma.fields.Str(allow_none=True)
    event = ma.fields.Dict(metadata={"description": "the body each attempt POSTs"})
