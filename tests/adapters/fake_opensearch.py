"""A recording fake of one OpenSearch node for what DocumentSearchIndex uses (HTTP: fake_opensearch_http).

It keeps what matters to the adapter's correctness: external_gte versions with 409 on an older
one, realtime `get` and `mget` but search and delete_by_query only over refreshed documents,
delete_by_query conflicts on documents rewritten since its snapshot, bulk per-item statuses, JSON
round trips, nested fields (queried, sorted and aggregated only through their path, as a server
requires: elsewhere it would silently match nothing). It refuses query clauses, sorts and
aggregations it does not know rather than ignoring them.

For vectors it knows OpenSearch's `knn_vector` (an index with `index.knn`; the `knn` query, its
`filter` only on engines that filter while searching) and Elasticsearch's `dense_vector` (the
top-level `knn` search with `k` <= `num_candidates`), both by cosine; its k-NN is exact (a fake),
scored as both servers score cosine, (1 + cos) / 2. Vectors of no magnitude are refused, as cosine
fields refuse them; fields a mapping's `_source.excludes` names are searchable but never returned.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import math
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


MAX_WINDOW = 10_000  # index.max_result_window, and the most candidates a k-NN search takes
FILTERING_ENGINES = ("lucene", "faiss")  # the OpenSearch engines that filter while they search


class _Index:
    def __init__(self, body: dict[str, Any]):
        self.mapping = body.get("mappings", {}).get("properties", {})
        self.hidden = body.get("mappings", {}).get("_source", {}).get("excludes", [])
        settings = body.get("settings", {})
        knn = settings.get("index", {}).get("knn", settings.get("index.knn", False))
        for name, spec in self.mapping.items():
            _check_vector_field(name, spec, knn)
        # A nested object's fields by their full name ("predictions.score"), marked with their path.
        for path, spec in list(self.mapping.items()):
            if spec.get("type") == "nested":
                for name, sub in spec["properties"].items():
                    self.mapping[f"{path}.{name}"] = sub | {"nested": path}
        self.live: dict[str, dict[str, Any]] = {}  # id -> {"source", "version", "seq_no"}
        self.searchable: dict[str, dict[str, Any]] = {}

    def refresh(self) -> None:
        self.searchable = copy.deepcopy(self.live)

    def visible(self, source: dict[str, Any], includes: list[str] | None = None) -> dict[str, Any]:
        """A stored source as answers show it: without the mapping's excluded fields, only the asked ones."""
        shown = {k: copy.deepcopy(v) for k, v in source.items() if k not in self.hidden}
        return shown if includes is None else {k: v for k, v in shown.items() if k in includes}

    def check_vectors(self, source: dict[str, Any]) -> None:
        """A document's vectors as a server parses them: the mapped length, a direction for cosine."""
        for name, spec in self.mapping.items():
            if spec.get("type") not in ("knn_vector", "dense_vector") or source.get(name) is None:
                continue
            vector = source[name]
            dims = spec.get("dimension", spec.get("dims"))
            if not isinstance(vector, list) or len(vector) != dims or not all(_is_a(v, "double") for v in vector):
                raise FakeBadRequest("mapper_parsing_exception", f"[{name}] needs {dims} numbers")
            if not math.fsum(v * v for v in vector) > 0:
                raise FakeBadRequest("mapper_parsing_exception", f"[{name}]: cosine needs a vector of some magnitude")


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
        self._node.index_named(index)
        del self._node.indexes[index]
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

    def indexes_matching(self, pattern: str) -> list[_Index]:
        """The indexes a name stands for: a wildcard may match none, a plain name must exist."""
        if "*" not in pattern:
            return [self.index_named(pattern)]
        return [idx for name, idx in self.indexes.items() if fnmatch.fnmatchcase(name, pattern)]

    def _put(self, idx: _Index, doc_id: str, body: Any, version: int | None, version_type: str | None) -> int:
        if version_type != "external_gte" or not isinstance(version, int) or version < 0:
            raise FakeBadRequest("illegal_argument_exception", f"{version_type} {version}")
        idx.check_vectors(body)
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
        idx = self.index_named(index)
        held = idx.live.get(id)
        if held is None:
            raise FakeNotFound("not_found", id)
        source = idx.visible(held["source"])
        return {"_index": index, "_id": id, "_version": held["version"], "found": True, "_source": source}

    def mget(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("mget", {"index": index, "body": body}))
        if set(body) != {"ids"} or not body["ids"]:
            raise FakeBadRequest("action_request_validation_exception", "no documents to get")
        docs = []
        for doc_id in body["ids"]:
            doc: dict[str, Any] = {"_index": index, "_id": doc_id}
            try:  # a server answers a missing index per document, not for the whole request
                idx = self.index_named(index)
            except FakeError as e:
                docs.append(doc | {"error": {"type": e.kind, "reason": e.reason}})
                continue
            held = idx.live.get(doc_id)
            doc["found"] = held is not None
            if held is not None:
                doc |= {"_version": held["version"], "_source": idx.visible(held["source"])}
            docs.append(doc)
        return {"docs": docs}

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
        keys = {"query", "sort", "size", "search_after", "track_total_hits", "aggs", "knn", "_source"}
        unknown = set(body) - keys
        if unknown:
            raise FakeBadRequest("parsing_exception", f"unknown keys {sorted(unknown)}")
        includes = body.get("_source")
        if includes is not None and not (isinstance(includes, list) and all(isinstance(f, str) for f in includes)):
            raise FakeBadRequest("parsing_exception", f"_source {includes}")  # the fake takes a list of fields
        size = body.get("size", 10)
        if size > MAX_WINDOW:
            raise FakeBadRequest("illegal_argument_exception", f"size {size} > index.max_result_window")
        knn = _knn_search(body, idx)
        if knn is not None:
            return _knn_answer(index, idx, knn, size, includes)
        query = body.get("query", {"match_all": {}})
        found = [(i, h) for i, h in idx.searchable.items() if _matches(query, h["source"], idx.mapping)]
        hits = [{"_index": index, "_id": i, "_source": idx.visible(h["source"], includes)} for i, h in found]
        sorts = [_sort_spec(s, idx.mapping) for s in body.get("sort", [])]
        for hit in hits:
            hit["sort"] = [_sort_value(hit["_source"], spec, idx.mapping) for spec in sorts]
        orders = [spec["order"] for spec in sorts]
        hits.sort(key=functools.cmp_to_key(lambda a, b: _compare(a["sort"], b["sort"], orders)))
        if "search_after" in body:
            after = body["search_after"]
            kinds = [idx.mapping[spec["field"]]["type"] for spec in sorts]
            if len(after) != len(sorts) or not all(map(_is_a, after, kinds)):
                raise FakeBadRequest("illegal_argument_exception", f"search_after {after} for sorts {sorts}")
            hits = [h for h in hits if _compare(h["sort"], after, orders) > 0]
        answer: dict[str, Any] = {"hits": {"hits": hits[: body.get("size", 10)]}}
        if body.get("track_total_hits") is not False:
            answer["hits"]["total"] = {"value": len(found), "relation": "eq"}
        if "aggs" in body:
            answer["aggregations"] = _aggregate(body["aggs"], [h["source"] for _, h in found], idx.mapping)
        return answer

    def delete_by_query(self, index: str, body: dict[str, Any], conflicts=None, refresh=None):
        call = {"index": index, "body": body, "conflicts": conflicts, "refresh": refresh}
        self.calls.append(("delete_by_query", call))
        deleted = conflicted = 0
        for idx in self.indexes_matching(index):
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


def _check_vector_field(name: str, spec: dict[str, Any], knn: bool) -> None:
    """Refuse a vector mapping a server would refuse, or one the fake cannot score (not cosine)."""
    kind = spec.get("type")
    if kind == "knn_vector":
        method = spec.get("method", {})
        if knn is not True:
            raise FakeBadRequest("mapper_parsing_exception", f"[{name}]: knn_vector needs index.knn: true")
        if not isinstance(spec.get("dimension"), int) or spec["dimension"] < 1 or method.get("name") != "hnsw":
            raise FakeBadRequest("mapper_parsing_exception", f"[{name}] {spec}")
        if method.get("space_type") != "cosinesimil" or method.get("engine") not in (*FILTERING_ENGINES, "nmslib"):
            raise FakeBadRequest("mapper_parsing_exception", f"[{name}]: the fake scores cosinesimil only")
    elif kind == "dense_vector" and (
        not isinstance(spec.get("dims"), int) or spec["dims"] < 1 or spec.get("similarity") != "cosine"
    ):
        raise FakeBadRequest("mapper_parsing_exception", f"[{name}] {spec}: the fake scores cosine only")


def _knn_search(body: dict[str, Any], idx: _Index) -> dict[str, Any] | None:
    """(field, vector, k, filter) of a k-NN search in either server's form, checked; None for another search."""
    query = body.get("query", {})
    if "knn" in query:  # OpenSearch: the knn query, the whole of the query
        if len(query) != 1 or "knn" in body or "sort" in body:
            raise FakeBadRequest("parsing_exception", "the fake takes a knn query alone")
        ((field, arg),) = query["knn"].items()
        if set(arg) - {"vector", "k", "filter"} or idx.mapping.get(field, {}).get("type") != "knn_vector":
            raise FakeBadRequest("query_shard_exception", f"knn on [{field}]: {sorted(arg)}")
        spec = idx.mapping[field]
        if "filter" in arg and spec["method"]["engine"] not in FILTERING_ENGINES:
            raise FakeBadRequest("illegal_argument_exception", f"engine {spec['method']['engine']} has no filter")
        knn = {"field": field, "vector": arg.get("vector"), "k": arg.get("k"), "filter": arg.get("filter")}
        dims = spec["dimension"]
    elif "knn" in body:  # Elasticsearch: the top-level knn section
        arg = body["knn"]
        if "query" in body or "sort" in body or set(arg) - {"field", "query_vector", "k", "num_candidates", "filter"}:
            raise FakeBadRequest("parsing_exception", f"the fake takes a knn section alone: {sorted(arg)}")
        spec = idx.mapping.get(arg.get("field"), {})
        if spec.get("type") != "dense_vector" or spec.get("index") is False:
            raise FakeBadRequest("illegal_argument_exception", f"[{arg.get('field')}] is not an indexed dense_vector")
        candidates = arg.get("num_candidates")
        if not isinstance(candidates, int) or not isinstance(arg.get("k"), int) or not arg["k"] <= candidates:
            raise FakeBadRequest("illegal_argument_exception", f"k {arg.get('k')} > num_candidates {candidates}")
        if candidates > MAX_WINDOW:
            raise FakeBadRequest("illegal_argument_exception", f"num_candidates {candidates} > {MAX_WINDOW}")
        knn = {"field": arg["field"], "vector": arg.get("query_vector"), "k": arg["k"], "filter": arg.get("filter")}
        dims = spec["dims"]
    else:
        return None
    vector = knn["vector"]
    if not isinstance(vector, list) or len(vector) != dims or not all(_is_a(v, "double") for v in vector):
        raise FakeBadRequest("illegal_argument_exception", f"a query vector of {dims} numbers, not {vector!r:.80}")
    if not isinstance(knn["k"], int) or not 1 <= knn["k"] <= MAX_WINDOW:
        raise FakeBadRequest("illegal_argument_exception", f"k {knn['k']}")
    return knn


def _knn_answer(index: str, idx: _Index, knn: dict[str, Any], size: int, includes: list[str] | None) -> dict[str, Any]:
    """The k documents passing the filter whose vectors are nearest the query (exactly), best first."""
    where = knn["filter"] or {"match_all": {}}
    query = knn["vector"]
    norm = math.sqrt(math.fsum(v * v for v in query))
    scored = []
    for doc_id, held in idx.searchable.items():
        vector = held["source"].get(knn["field"])
        if vector is None or not _matches(where, held["source"], idx.mapping):
            continue
        cosine = (
            math.fsum(a * b for a, b in zip(query, vector, strict=True))
            / norm
            / math.sqrt(math.fsum(v * v for v in vector))
        )
        scored.append(((1 + cosine) / 2, doc_id, held))
    scored.sort(key=lambda s: (-s[0], s[1]))
    scored = scored[: knn["k"]]
    hits = [
        {"_index": index, "_id": doc_id, "_score": score, "_source": idx.visible(held["source"], includes)}
        for score, doc_id, held in scored[:size]
    ]
    return {"hits": {"hits": hits, "total": {"value": len(scored), "relation": "eq"}}}


def _nested(src: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The objects of a nested field, their keys named in full ("predictions.score")."""
    return [{f"{path}.{k}": v for k, v in obj.items()} for obj in src.get(path) or []]


def _sort_spec(sort: dict[str, Any], mapping: dict[str, Any]) -> dict[str, Any]:
    ((field, spec),) = sort.items()
    spec = {"order": spec} if isinstance(spec, str) else dict(spec)
    if set(spec) - {"order", "nested", "missing"} or spec.get("order") not in ("asc", "desc"):
        raise FakeBadRequest("parsing_exception", f"sort {sort}")
    kind = mapping.get(field, {})
    if kind.get("type") not in ("keyword", "double", "long", "integer") or kind.get("doc_values") is False:
        raise FakeBadRequest("illegal_argument_exception", f"cannot sort on [{field}]")
    nested = spec.get("nested")
    if kind.get("nested") != (nested or {}).get("path") or (nested and set(nested) - {"path", "filter"}):
        raise FakeBadRequest("illegal_argument_exception", f"[{field}] sorts with nested {nested}")
    if spec.get("missing", "_last") != "_last":
        raise FakeBadRequest("illegal_argument_exception", f"missing {spec['missing']}")  # the default only
    return spec | {"field": field}


def _sort_value(src: dict[str, Any], spec: dict[str, Any], mapping: dict[str, Any]) -> Any:
    """The value a document sorts by: of a nested field, the least (asc) or greatest (desc) of the
    objects the filter keeps, as a server's default sort mode takes it; None when missing."""
    nested = spec.get("nested")
    if nested is None:
        return src.get(spec["field"])
    objects = [
        o
        for o in _nested(src, nested["path"])
        if _matches(nested.get("filter", {"match_all": {}}), o, mapping, nested["path"])
    ]
    values = [o[spec["field"]] for o in objects if o.get(spec["field"]) is not None]
    if not values:
        return None
    return min(values) if spec["order"] == "asc" else max(values)


def _is_a(value: Any, kind: str) -> bool:
    """Whether a search_after value can stand for a field of this type (null never does)."""
    if kind == "keyword":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(a: list[Any], b: list[Any], orders: list[str]) -> int:
    """Order of two sort keys; a missing value comes last in either direction."""
    for x, y, order in zip(a, b, orders, strict=True):
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1
        return (1 if x > y else -1) * (1 if order == "asc" else -1)
    return 0


def _matches(query: dict[str, Any], src: dict[str, Any], mapping: dict[str, Any], path: str | None = None) -> bool:
    """Whether a document (or, under `path`, one object of that nested field) matches the query."""
    ((kind, arg),) = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        if set(arg) - {"filter", "must", "must_not"}:
            raise FakeBadRequest("parsing_exception", f"bool keys {sorted(arg)}")
        positive = arg.get("filter", []) + arg.get("must", [])
        return all(_matches(q, src, mapping, path) for q in positive) and not any(
            _matches(q, src, mapping, path) for q in arg.get("must_not", [])
        )
    if kind == "nested":
        if set(arg) != {"path", "query"} or mapping.get(arg["path"], {}).get("type") != "nested" or path:
            raise FakeBadRequest("query_shard_exception", f"nested {arg}")
        return any(_matches(arg["query"], obj, mapping, arg["path"]) for obj in _nested(src, arg["path"]))
    ((field, value),) = arg.items() if kind != "exists" else [(arg["field"], None)]
    spec = mapping.get(field)
    unsearchable = ("nested", "binary", "knn_vector", "dense_vector")  # vectors only through a k-NN search
    if spec is None or spec.get("index") is False or spec.get("enabled") is False or spec.get("type") in unsearchable:
        raise FakeBadRequest("query_shard_exception", f"[{field}] is not an indexed field")
    if spec.get("nested") != path:
        # A server answers such a query with no hits at all: refuse it, so a test sees the mistake.
        raise FakeBadRequest("query_shard_exception", f"[{field}] queried outside its nested path {spec.get('nested')}")
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


def _aggregate(
    aggs: dict[str, Any], sources: list[dict[str, Any]], mapping: dict[str, Any], path: str | None = None
) -> dict[str, Any]:
    """sum, max, terms (with sub-aggregations per bucket) and nested (over the objects of a path)."""
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        kinds = set(spec) - {"aggs"}
        if len(kinds) != 1:
            raise FakeBadRequest("parsing_exception", f"aggregation {spec}")
        kind = kinds.pop()
        arg, sub = spec[kind], spec.get("aggs")
        if sub is not None and kind not in ("terms", "nested"):
            raise FakeBadRequest("parsing_exception", f"[{kind}] takes no sub-aggregations")
        if kind == "nested":
            if path is not None:
                raise FakeBadRequest("parsing_exception", "nested within nested")
            objects = [o for s in sources for o in _nested(s, arg["path"])]
            out[name] = {"doc_count": len(objects), **_aggregate(sub or {}, objects, mapping, arg["path"])}
            continue
        if kind not in ("sum", "max", "terms"):
            raise FakeBadRequest("parsing_exception", f"unknown aggregation [{kind}]")
        if mapping.get(arg["field"], {}).get("nested") != path:
            raise FakeBadRequest("parsing_exception", f"[{arg['field']}] outside its nested path")
        values = [s[arg["field"]] for s in sources if s.get(arg["field"]) is not None]
        if kind == "sum":
            out[name] = {"value": float(sum(values))}
        elif kind == "max":
            out[name] = {"value": float(max(values)) if values else None}
        else:
            counts: dict[Any, int] = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            buckets = []
            for key, n in ranked[: arg.get("size", 10)]:
                bucket = {"key": key, "doc_count": n}
                if sub:
                    bucket |= _aggregate(sub, [s for s in sources if s.get(arg["field"]) == key], mapping, path)
                buckets.append(bucket)
            other = sum(n for _, n in ranked[arg.get("size", 10) :])
            out[name] = {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}
    return out
