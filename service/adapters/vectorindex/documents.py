"""Pure OpenSearch/Elasticsearch documents and request bodies of the VectorIndex port (no client here).

Vectors live in one index per dimension count, `{base}-vectors-{dims}`: OpenSearch maps them as a
`knn_vector` (HNSW, Lucene engine: it filters while it searches, so a dataset's k neighbours come
back however small a part of the index the dataset is), Elasticsearch as an indexed `dense_vector`.
Each document also keeps its unit vector as base64 float32 (`blob`): vectors are read back and
candidates scored exactly from it, whatever the server quantises or leaves out of `_source`.
Sets (which job's vectors a (tenant, dataset, model) holds) and removed items are documents of a
small `{base}-vector-sets` index.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from service.adapters.vectorindex import VectorSet

OPENSEARCH = "opensearch"
ELASTICSEARCH = "elasticsearch"
VECTOR = "vector"
BLOB = "blob"
SET = "set"
REMOVED = "removed"
# The most hits one search returns (index.max_result_window) and Elasticsearch's num_candidates cap.
MAX_WINDOW = 10_000
# Neighbours a search asks for beyond k: the exact scores then order them, ties included.
SLACK = 10
MIN_CANDIDATES = 100  # HNSW candidates explored at least (OpenSearch's k, Elasticsearch's num_candidates)
MODELS = 1000  # models with vectors of one dataset: a short list

_KEYWORDS = ("tenant", "dataset_id", "model_id", "item_id", "job_id")


def vectors_index(base: str, dims: int) -> str:
    return f"{base}-vectors-{dims}"


def vectors_pattern(base: str) -> str:
    """Every vector index of the base (not the sets index, whose name does not match)."""
    return f"{base}-vectors-*"


def sets_index(base: str) -> str:
    return f"{base}-vector-sets"


def vectors_index_body(flavour: str, dims: int) -> dict[str, Any]:
    """The body that creates the vector index of `dims` dimensions for OpenSearch or Elasticsearch."""
    if flavour == OPENSEARCH:
        field = {
            "type": "knn_vector",
            "dimension": dims,
            "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
        }
        settings: dict[str, Any] = {"index": {"knn": True}}
    else:
        field = {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine"}
        settings = {}
    mappings = {
        "dynamic": False,
        "_source": {"excludes": [VECTOR]},  # the blob holds it, a quarter of the JSON's size
        "properties": {
            **{name: {"type": "keyword"} for name in _KEYWORDS},
            "finished_at": {"type": "double"},
            BLOB: {"type": "binary"},
            VECTOR: field,
        },
    }
    return {"settings": settings, "mappings": mappings} if settings else {"mappings": mappings}


def sets_index_body() -> dict[str, Any]:
    return {
        "mappings": {
            "dynamic": False,
            "properties": {
                "kind": {"type": "keyword"},  # "set" or "removed"
                **{name: {"type": "keyword"} for name in _KEYWORDS},
                "finished_at": {"type": "double"},
                "removed_at": {"type": "double"},
                "count": {"type": "long"},
                "dims": {"type": "integer"},
            },
        }
    }


def version_of(seconds: float) -> int:
    """External version of a set's documents: its job's finish time in µs, so a later job's wins."""
    return round(seconds * 1_000_000)


def set_id(tenant: str, dataset_id: str, model_id: str) -> str:
    return f"{SET}:{tenant}:{dataset_id}:{model_id}"


def removed_id(tenant: str, dataset_id: str, item_id: str) -> str:
    return f"{REMOVED}:{tenant}:{dataset_id}:{item_id}"


def vector_id(tenant: str, dataset_id: str, model_id: str, job_id: str, item_id: str) -> str:
    """One item's vector of one job: a new job's set is written beside the old one, not over it."""
    return f"{tenant}:{dataset_id}:{model_id}:{job_id}:{item_id}"


def encode(row: np.ndarray) -> str:
    return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode()


def decode(blob: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(blob), dtype="<f4").astype(np.float32)


def vector_doc(tenant: str, dataset_id: str, vs: VectorSet, item_id: str, row: np.ndarray) -> dict[str, Any]:
    scope = {"tenant": tenant, "dataset_id": dataset_id, "model_id": vs.model_id, "job_id": vs.job_id}
    return scope | {"item_id": item_id, "finished_at": vs.finished_at, BLOB: encode(row), VECTOR: row.tolist()}


def set_doc(tenant: str, dataset_id: str, vs: VectorSet) -> dict[str, Any]:
    return {
        "kind": SET,
        "tenant": tenant,
        "dataset_id": dataset_id,
        "model_id": vs.model_id,
        "job_id": vs.job_id,
        "finished_at": vs.finished_at,
        "count": vs.count,
        "dims": vs.dims,
    }


def set_of(source: dict[str, Any]) -> VectorSet:
    return VectorSet(
        source["model_id"], source["job_id"], float(source["finished_at"]), int(source["count"]), int(source["dims"])
    )


def removed_doc(tenant: str, dataset_id: str, item_id: str, at: float) -> dict[str, Any]:
    return {"kind": REMOVED, "tenant": tenant, "dataset_id": dataset_id, "item_id": item_id, "removed_at": at}


def _terms(tenant: str, dataset_id: str | None = None, **more: str) -> list[dict[str, Any]]:
    scope = {"tenant": tenant, "dataset_id": dataset_id, **more}
    return [{"term": {name: value}} for name, value in scope.items() if value is not None]


def scope_query(tenant: str, dataset_id: str | None = None) -> dict[str, Any]:
    """Every document of the tenant (or of one of its datasets), in either index."""
    return {"query": {"bool": {"filter": _terms(tenant, dataset_id)}}}


def set_filter(tenant: str, dataset_id: str, vs: VectorSet, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The vectors of exactly this set: tenant, dataset, model and job are never left out."""
    query: dict[str, Any] = {"filter": _terms(tenant, dataset_id, model_id=vs.model_id, job_id=vs.job_id)}
    if exclude:
        query["must_not"] = [{"terms": {"item_id": sorted(exclude)}}]
    return {"bool": query}


def candidates(k: int) -> int:
    """How many neighbours to ask the server for, to pick k from with the exact scores."""
    return min(MAX_WINDOW, k + max(k, SLACK))


def nearest_body(flavour: str, query: np.ndarray, fetch: int, where: dict[str, Any]) -> dict[str, Any]:
    """An approximate k-NN search filtered as it runs (OpenSearch's `knn` query with a `filter`,
    Elasticsearch's top-level `knn` with one); hits bring their blobs for the exact scores."""
    vector = query.tolist()
    explored = min(MAX_WINDOW, max(fetch, MIN_CANDIDATES))
    body: dict[str, Any] = {"size": fetch, "_source": ["item_id", BLOB]}
    if flavour == OPENSEARCH:
        body["query"] = {"knn": {VECTOR: {"vector": vector, "k": explored, "filter": where}}}
    else:
        body["knn"] = {
            "field": VECTOR,
            "query_vector": vector,
            "k": fetch,
            "num_candidates": explored,
            "filter": where,
        }
    return body


def scan_body(where: dict[str, Any], size: int, after: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": where,
        "size": size,
        "sort": [{"item_id": "asc"}],
        "_source": ["item_id", BLOB],
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [after]
    return body


def count_body(where: dict[str, Any]) -> dict[str, Any]:
    return {"query": where, "size": 0, "track_total_hits": True}


def sets_body(tenant: str, dataset_id: str) -> dict[str, Any]:
    return {"query": {"bool": {"filter": [{"term": {"kind": SET}}, *_terms(tenant, dataset_id)]}}, "size": MODELS}


def older_query(tenant: str, dataset_id: str, vs: VectorSet) -> dict[str, Any]:
    """The set's vectors from jobs that finished no later than this one (not a later job's, which may
    be writing its set right now)."""
    scope = _terms(tenant, dataset_id, model_id=vs.model_id)
    scope.append({"range": {"finished_at": {"lte": vs.finished_at}}})
    return {"query": {"bool": {"filter": scope, "must_not": [{"term": {"job_id": vs.job_id}}]}}}


def job_query(tenant: str, dataset_id: str, vs: VectorSet, item_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """One job's vectors of the set (or only of these items)."""
    scope = _terms(tenant, dataset_id, model_id=vs.model_id, job_id=vs.job_id)
    if item_ids is not None:
        scope.append({"terms": {"item_id": sorted(item_ids)}})
    return {"query": {"bool": {"filter": scope}}}


def items_query(tenant: str, dataset_id: str, item_ids: Collection[str]) -> dict[str, Any]:
    """These items' vectors in every set of the dataset."""
    return {"query": {"bool": {"filter": [*_terms(tenant, dataset_id), {"terms": {"item_id": sorted(item_ids)}}]}}}


def removed_since_body(tenant: str, dataset_id: str, since: float, size: int, after: str | None) -> dict[str, Any]:
    """Items of the dataset removed at or after `since`, a page in item id order."""
    scope = [{"term": {"kind": REMOVED}}, *_terms(tenant, dataset_id), {"range": {"removed_at": {"gte": since}}}]
    body: dict[str, Any] = {
        "query": {"bool": {"filter": scope}},
        "size": size,
        "sort": [{"item_id": "asc"}],
        "_source": ["item_id"],
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [after]
    return body
