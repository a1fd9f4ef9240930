"""Around every API request: a request id, the tenant's usage counters and, for each mutation,
one audit entry. Counting only touches memory; the audit entry is stored before the answer leaves."""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, request

from service.adapters.usage import REQUESTS

MUTATIONS = {"POST", "PUT", "PATCH", "DELETE"}
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
CREATED_ID = re.compile(rb'"id":\s*"([A-Za-z0-9_-]{1,64})"')
ROUTE_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")  # Flask's <converter:name>
log = logging.getLogger("edna.audit")


@functools.lru_cache(maxsize=1024)
def action_of(method: str, rule: str) -> str:
    """`PUT /api/datasets/{dataset_id}/items/{item_id}/label`: the route as the OpenAPI document names it."""
    return method + " " + ROUTE_ARGUMENT.sub(r"{\1}", rule)


def install(app: Flask) -> None:
    """Request ids, then per request: the usage meter's counts and the audit entry of a change, both
    written by the state of the process serving it (`app.extensions["edna"]`)."""

    @app.before_request
    def start() -> None:
        # The id is the server's own, so no two entries share one; a client's id is kept beside it.
        g.request_id = secrets.token_hex(12)
        offered = request.headers.get("X-Request-Id", "")
        g.client_request_id = offered if REQUEST_ID.fullmatch(offered) else ""
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        principal = g.get("principal")
        edna = app.extensions["edna"]
        if principal is None or edna.meter is None:
            return response
        status = response.status_code
        edna.meter.count(principal.tenant, REQUESTS)
        edna.meter.count(principal.tenant, f"{REQUESTS}_{status // 100}xx")
        if request.method in MUTATIONS and request.url_rule is not None:
            entry = {
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "request_id": g.request_id,
                **({"client_request_id": g.client_request_id} if g.client_request_id else {}),
                "tenant": principal.tenant,
                "actor": principal.user,
                "action": action_of(request.method, request.url_rule.rule),
                "target": dict(request.view_args or {}),
                "status": status,
                "outcome": "ok" if status < 400 else "refused" if status < 500 else "failed",
                "ms": round((time.perf_counter() - g.started) * 1000, 1),
            }
            created = _created_id(response)
            if created and created not in entry["target"].values():  # a 202 about an object in the path
                entry["target"]["created"] = created
            try:
                edna.audit.append(entry)
            except Exception:
                # The change is made and cannot be undone here: the entry goes to the log instead.
                log.exception("audit entry not stored: %s", json.dumps(entry))
        edna.meter.after_request()
        return response


def _created_id(response: Response) -> str | None:
    """The id of what a 201/202 answer created (an item, a dataset, a job...): the body's first
    `"id"` key, which with sorted keys is the created object's (`item` and `model` sort before
    `upload`). Read from the bytes: parsing the whole answer cost more than the rest of the entry."""
    if response.status_code not in (201, 202) or response.is_streamed or not response.is_json:
        return None
    found = CREATED_ID.search(response.get_data())
    return found[1].decode() if found else None
