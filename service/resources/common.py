"""What every resource shares: the authorizing blueprint, the caller, pagination."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import marshmallow as ma
from flask import current_app, g, request
from flask_smorest import Blueprint

from service.adapters.identity import InvalidToken
from service.domain import cursor
from service.domain.roles import Principal, Role
from service.edna import Edna

BEARER = [{"bearerAuth": []}]


def edna() -> Edna:
    return current_app.extensions["edna"]


def caller() -> Principal:
    return g.principal


def authenticate() -> Principal:
    """The verified caller of this request; 401 without a valid bearer token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send 'Authorization: Bearer <token>'")
    return edna().adapters.verifier.verify(token.strip())


class ApiBlueprint(Blueprint):
    """A flask-smorest Blueprint whose views declare the least role they need."""

    def requires(self, role: Role) -> Callable:
        """Authenticate and authorize before anything else runs (even body parsing)."""

        def decorator(view: Callable) -> Callable:
            @wraps(view)
            def wrapper(*args, **kwargs):
                principal = authenticate()
                g.principal = principal  # verified: metered and audited even when its role is too low
                principal.require(role)
                edna().quotas.admit_request(principal.tenant)
                return view(*args, **kwargs)

            # The role is published in the OpenAPI document, so clients and tests can read it.
            wrapper = Blueprint.doc(security=BEARER, **{"x-required-role": role.name})(wrapper)
            wrapper = self.alt_response(401, response="UNAUTHORIZED")(wrapper)
            wrapper = self.alt_response(429, response="TOO_MANY_REQUESTS")(wrapper)  # the tenant's quotas
            return self.alt_response(403, response="FORBIDDEN")(wrapper)

        return decorator


class PageArgs(ma.Schema):
    limit = ma.fields.Int(
        load_default=cursor.DEFAULT_LIMIT,
        validate=ma.validate.Range(1, cursor.MAX_LIMIT),
        metadata={"description": f"page size, 1-{cursor.MAX_LIMIT}"},
    )
    cursor = ma.fields.Str(load_default=None, metadata={"description": "next_cursor of the previous page"})


def page(items: list, last: str | None) -> dict:
    """The list body: `{"items", "next_cursor"}`."""
    return {"items": items, "next_cursor": cursor.encode(last) if last else None}


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "next_cursor": ma.fields.Str(allow_none=True),
        },
        name=name,
    )
