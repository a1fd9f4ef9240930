"""The fake OpenSearch node as a REST server, so the real client libraries can be tested against it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from fake_opensearch import FakeBadRequest, FakeError, FakeOpenSearch
from werkzeug.wrappers import Request, Response


def wsgi(node: FakeOpenSearch, seen_headers: list[dict[str, str]] | None = None):
    """The fake as a REST server, so the real client libraries can be tested against it."""

    def app(environ, start_response):
        request = Request(environ)
        if seen_headers is not None:
            seen_headers.append(dict(request.headers))
        args = request.args
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        data = request.get_data(as_text=True)
        try:
            status, answer = 200, _route(node, request.method, parts, args, data)
            if isinstance(answer, tuple):
                status, answer = answer
        except FakeError as e:
            status, answer = e.status, {"error": {"type": e.kind, "reason": e.reason}, "status": e.status}
        # The Elasticsearch client refuses answers without this header (its product check).
        headers = {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}
        body = "" if request.method == "HEAD" else json.dumps(answer)
        return Response(body, status=status, headers=headers)(environ, start_response)

    return app


def _route(node: FakeOpenSearch, method: str, parts: list[str], args, data: str) -> Any:
    refresh = args.get("refresh")
    if parts[-1] == "_bulk":
        return node.bulk([json.loads(line) for line in data.splitlines() if line.strip()], refresh=refresh)
    index = parts[0]
    if len(parts) == 1 and method == "HEAD":
        return (200 if node.indices.exists(index=index) else 404), {}
    if len(parts) == 1 and method == "PUT":
        return node.indices.create(index=index, body=json.loads(data))
    if len(parts) == 1 and method == "DELETE":
        return node.indices.delete(index=index)
    if parts[1:] == ["_refresh"]:
        return node.indices.refresh(index=index)
    if parts[1:] == ["_mget"]:
        return node.mget(index=index, body=json.loads(data))
    if parts[1:] == ["_search"]:
        return node.search(index=index, body=json.loads(data or "{}"))
    if parts[1:] == ["_delete_by_query"]:
        return node.delete_by_query(index, json.loads(data), args.get("conflicts"), refresh)
    if len(parts) == 3 and parts[1] == "_doc" and method in ("PUT", "POST"):
        version = int(args["version"]) if "version" in args else None
        answer = node.index(index, parts[2], json.loads(data), version, args.get("version_type"), refresh)
        return (201 if answer["result"] == "created" else 200), answer
    if len(parts) == 3 and parts[1] == "_doc" and method == "GET":
        return node.get(index=index, id=parts[2])
    raise FakeBadRequest("no_handler_found_exception", f"{method} /{'/'.join(parts)}")
