"""Schemas of a tenant's usage report."""

import marshmallow as ma


class PeriodArgs(ma.Schema):
    start = ma.fields.Str(
        data_key="from", metadata={"description": "a date or ISO time; default: the 1st of this month"}
    )
    end = ma.fields.Str(data_key="to", metadata={"description": "a date or ISO time (exclusive); default: now"})


class _Requests(ma.Schema):
    total = ma.fields.Int()
    ok = ma.fields.Int(data_key="2xx")
    redirected = ma.fields.Int(data_key="3xx")
    refused = ma.fields.Int(data_key="4xx")
    failed = ma.fields.Int(data_key="5xx")


class _Amount(ma.Schema):
    items = ma.fields.Int()
    bytes = ma.fields.Int()


class _Inference(ma.Schema):
    jobs = ma.fields.Int()
    items = ma.fields.Int()
    seconds = ma.fields.Float()


class UsageSchema(ma.Schema):
    tenant = ma.fields.Str()
    start = ma.fields.Str(data_key="from")
    end = ma.fields.Str(data_key="to")
    requests = ma.fields.Nested(_Requests, metadata={"description": "API requests by status class"})
    uploads = ma.fields.Nested(_Amount, metadata={"description": "uploads completed in the period"})
    stored = ma.fields.Nested(
        _Amount, metadata={"description": "what the tenant holds now: items, pending uploads and model files"}
    )
    inference = ma.fields.Nested(_Inference, metadata={"description": "jobs started in the period that succeeded"})
