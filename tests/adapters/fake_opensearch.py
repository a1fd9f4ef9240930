"""A recording fake of one OpenSearch node for what DocumentSearchIndex uses (HTTP: fake_opensearch_http).

It keeps what matters to the adapter's correctness: external_gte versions with 409 on an older
one, realtime `get` but search and delete_by_query only over refreshed documents, delete_by_query
conflicts on documents rewritten since its snapshot, bulk per-item statuses, JSON round trips.
It refuses query clauses and sort fields it does not know rather than ignoring them.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from service.adapters.searchindex.opensearch import ClientErrors


class FakeError(Exception):
    """An error answer: the status and the server's error type."""

    status = 500

    def __init__(self, kind: str, reason: str = ""):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason = kind, reason


class FakeConflict(FakeError):
    status = 409


class FakeNotFound(FakeError):
    status = 404


class FakeBadRequest(FakeError):
    status = 400


FAKE_ERRORS = ClientErrors(FakeConflict, FakeNotFound, FakeBadRequest)


def _json(value: Any) -> Any:
    # What a server would store and answer: anything not JSON fails here as it would on the wire.
    return json.loads(json.dumps(value))


def analyze(text: str) -> list[str]:
    """The `edna_text` analyzer: split on anything but letters and digits, lowercase."""
    return [t for t in re.split(r"[\W_]+", text.lower()) if t]


class _Index:
    def __init__(self, body: dict[str, Any]):
        self.mapping = body.get("mappings", {}).get("properties", {})
        self.live: dict[str, dict[str, Any]] = {}  # id -> {"source", "version", "seq_no"}
        self.searchable: dict[str, dict[str, Any]] = {}

    def refresh(self) -> None:
        self.searchable = copy.deepcopy(self.live)


class _Indices:
    def __init__(self, node: FakeOpenSearch):
        self._node = node

    def exists(self, index: str) -> bool:
        self._node.calls.append(("indices.exists", {"index": index}))
        return index in self._node.indexes

    def create(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self._node.calls.append(("indices.create", {"index": index, "body": body}))
        if index in self._node.indexes:
            raise FakeBadRequest("resource_already_exists_exception", index)
        self._node.indexes[index] = _Index(_json(body))
        return {"acknowledged": True, "index": index}

    def refresh(self, index: str) -> dict[str, Any]:
        self._node.calls.append(("indices.refresh", {"index": index}))
        self._node.index_named(index).refresh()
        return {"_shards": {"failed": 0}}

    def delete(self, index: str) -> dict[str, Any]:
        self._node.calls.append(("indices.delete", {"index": index}))
        self._node.indexes.pop(index, None)
        return {"acknowledged": True}


class FakeOpenSearch:
    """The client surface DocumentSearchIndex calls; every call is recorded in `calls`."""

    def __init__(self) -> None:
        self.indexes: dict[str, _Index] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.indices = _Indices(self)
        self._seq = 0

    def index_named(self, name: str) -> _Index:
        # A real server would auto-create it with a guessed mapping (item_id as text, unsortable).
        if name not in self.indexes:
            raise FakeNotFound("index_not_found_exception", name)
        return self.indexes[name]

    def _put(self, idx: _Index, doc_id: str, body: Any, version: int | None, version_type: str | None) -> int:
        if version_type != "external_gte" or not isinstance(version, int) or version < 0:
            raise FakeBadRequest("illegal_argument_exception", f"{version_type} {version}")
        held = idx.live.get(doc_id)
        if held is not None and version < held["version"]:
            raise FakeConflict(
                "version_conflict_engine_exception",
                f"[{doc_id}]: current version [{held['version']}] is higher than [{version}]",
            )
        self._seq += 1
        idx.live[doc_id] = {"source": _json(body), "version": version, "seq_no": self._seq}
        return 200 if held else 201

    def index(self, index: str, id: str, body: Any, version=None, version_type=None, refresh=None):
        call = {"index": index, "id": id, "body": body, "version": version, "version_type": version_type}
        self.calls.append(("index", call | {"refresh": refresh}))
        idx = self.index_named(index)
        status = self._put(idx, id, body, version, version_type)
        if refresh in (True, "true", "wait_for"):
            idx.refresh()
        return {"_id": id, "_version": version, "result": "created" if status == 201 else "updated"}

    def get(self, index: str, id: str) -> dict[str, Any]:
        self.calls.append(("get", {"index": index, "id": id}))
        held = self.index_named(index).live.get(id)
        if held is None:
            raise FakeNotFound("not_found", id)
        source = copy.deepcopy(held["source"])
        return {"_index": index, "_id": id, "_version": held["version"], "found": True, "_source": source}

    def bulk(self, body: list[dict[str, Any]], refresh=None) -> dict[str, Any]:
        self.calls.append(("bulk", {"body": body, "refresh": refresh}))
        items = []
        for meta_line, doc in zip(body[::2], body[1::2], strict=True):
            ((action, meta),) = meta_line.items()
            if action != "index":
                raise FakeBadRequest("illegal_argument_exception", action)
            result: dict[str, Any] = {"_index": meta["_index"], "_id": meta["_id"]}
            try:
                idx = self.index_named(meta["_index"])
                version, version_type = meta.get("version"), meta.get("version_type")
                result["status"] = self._put(idx, meta["_id"], doc, version, version_type)
            except FakeError as e:
                result |= {"status": e.status, "error": {"type": e.kind, "reason": e.reason}}
            items.append({"index": result})
        return {"errors": any("error" in i["index"] for i in items), "items": items}

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("search", {"index": index, "body": body}))
        idx = self.index_named(index)
        unknown = set(body) - {"query", "sort", "size", "search_after", "track_total_hits", "aggs"}
        if unknown:
            raise FakeBadRequest("parsing_exception", f"unknown keys {sorted(unknown)}")
        query = body.get("query", {"match_all": {}})
        found = [(i, h) for i, h in idx.searchable.items() if _matches(query, h["source"], idx.mapping)]
        hits = [{"_index": index, "_id": i, "_source": copy.deepcopy(h["source"])} for i, h in found]
        for sort in reversed(body.get("sort", [])):
            ((field, order),) = sort.items()
            # Ascending keyword sorts only: all the adapter needs, and what search_after below assumes.
            if idx.mapping.get(field, {}).get("type") != "keyword" or order != "asc":
                raise FakeBadRequest("illegal_argument_exception", f"cannot sort on [{field}] {order}")
            hits.sort(key=lambda h, f=field: h["_source"].get(f, ""))
        fields = [next(iter(s)) for s in body.get("sort", [])]
        for hit in hits:
            hit["sort"] = [hit["_source"].get(f) for f in fields]
        if "search_after" in body:
            hits = [h for h in hits if h["sort"] > body["search_after"]]
        answer: dict[str, Any] = {"hits": {"hits": hits[: body.get("size", 10)]}}
        if body.get("track_total_hits") is not False:
            answer["hits"]["total"] = {"value": len(found), "relation": "eq"}
        if "aggs" in body:
            answer["aggregations"] = _aggregate(body["aggs"], [h["source"] for _, h in found])
        return answer

    def delete_by_query(self, index: str, body: dict[str, Any], conflicts=None, refresh=None):
        call = {"index": index, "body": body, "conflicts": conflicts, "refresh": refresh}
        self.calls.append(("delete_by_query", call))
        idx = self.index_named(index)
        deleted = conflicted = 0
        for doc_id, seen in list(idx.searchable.items()):
            if not _matches(body["query"], seen["source"], idx.mapping):
                continue
            held = idx.live.get(doc_id)
            if held is None or held["seq_no"] != seen["seq_no"]:
                # Rewritten (or gone) since the snapshot: the server refuses to delete it.
                if conflicts != "proceed":
                    raise FakeConflict("version_conflict_engine_exception", doc_id)
                conflicted += 1
                continue
            del idx.live[doc_id]
            deleted += 1
        if refresh in (True, "true"):
            idx.refresh()
        return {"deleted": deleted, "version_conflicts": conflicted, "failures": []}


def _matches(query: dict[str, Any], src: dict[str, Any], mapping: dict[str, Any]) -> bool:
    ((kind, arg),) = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        if set(arg) - {"filter", "must", "must_not"}:
            raise FakeBadRequest("parsing_exception", f"bool keys {sorted(arg)}")
        positive = arg.get("filter", []) + arg.get("must", [])
        return all(_matches(q, src, mapping) for q in positive) and not any(
            _matches(q, src, mapping) for q in arg.get("must_not", [])
        )
    ((field, value),) = arg.items() if kind != "exists" else [(arg["field"], None)]
    spec = mapping.get(field)
    if spec is None or spec.get("index") is False:
        raise FakeBadRequest("query_shard_exception", f"[{field}] is not an indexed field")
    held = src.get(field)
    if kind == "exists":
        return held is not None and held != []
    if kind == "term":
        return held == value
    if kind == "terms":
        return held in value
    if kind == "range":
        ops = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__}
        return held is not None and all(ops[op](float(held), float(v)) for op, v in value.items())
    if kind == "match_bool_prefix" and spec["type"] == "text":
        terms = analyze(value["query"])
        have = [t for text in (held if isinstance(held, list) else [held]) for t in analyze(text or "")]
        hits = [t in have for t in terms[:-1]] + [any(h.startswith(terms[-1]) for h in have)] if terms else []
        return bool(hits) and (all(hits) if value.get("operator") == "and" else any(hits))
    raise FakeBadRequest("parsing_exception", f"unknown query [{kind}] on [{field}]")


def _aggregate(aggs: dict[str, Any], sources: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        ((kind, arg),) = spec.items()
        values = [s[arg["field"]] for s in sources if s.get(arg["field"]) is not None]
        if kind == "sum":
            out[name] = {"value": float(sum(values))}
        elif kind == "terms":
            counts: dict[Any, int] = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            buckets = [{"key": k, "doc_count": n} for k, n in ranked[: arg.get("size", 10)]]
            other = sum(n for _, n in ranked[arg.get("size", 10) :])
            out[name] = {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}
        else:
            raise FakeBadRequest("parsing_exception", f"unknown aggregation [{kind}]")
    return out
