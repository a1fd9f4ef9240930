"""DocumentVectorIndex: the VectorIndex port on OpenSearch (`knn_vector`) or Elasticsearch (`dense_vector`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from service.adapters.searchindex import documents as text_docs
from service.adapters.searchindex.opensearch import BulkWriteError, ClientErrors, elasticsearch_index, opensearch_index
from service.adapters.vectorindex import VectorIndex, VectorSet, checked_k
from service.adapters.vectorindex import documents as docs
from service.adapters.vectorindex.unit_vectors import Batch, ranked, unit, unit_batches

# Bytes of JSON per bulk request, about: well under the 10 MB body limit of small domains. A vector
# costs ~26 bytes a dimension (its floats as text, and the blob).
BULK_BYTES = 4 * 1024 * 1024
BYTES_PER_DIM = 32
MGET = 1000  # removed-item documents read at once
PAGE = 1000  # removed items per page when a replace looks for those removed while it ran
# Removals this long before a replace began are checked again after it wrote (clocks of the
# processes that remove and replace may differ by this much).
CLOCK_SKEW = 60.0


class DocumentVectorIndex(VectorIndex):
    """Vectors as documents, one index per dimension count; every search filtered to one set.

    `client` is an `opensearchpy.OpenSearch` or an `elasticsearch.Elasticsearch` (both take `body=`,
    all this class uses); `flavour` picks the mapping and the k-NN request of that server.
    """

    def __init__(
        self, client: Any, errors: ClientErrors, base: str = text_docs.DEFAULT_INDEX, *, flavour: str = docs.OPENSEARCH
    ):
        if flavour not in (docs.OPENSEARCH, docs.ELASTICSEARCH):
            raise ValueError(f"flavour must be {docs.OPENSEARCH!r} or {docs.ELASTICSEARCH!r}, not {flavour!r}")
        self.client = client
        self.errors = errors
        self.base = base
        self.flavour = flavour
        self.name = flavour
        self.sets_index = docs.sets_index(base)

    def _ensure(self, index: str, body: dict[str, Any]) -> None:
        """Create the index with its mapping unless it exists (asked each time: indexes may be dropped)."""
        if self.client.indices.exists(index=index):
            return
        try:
            self.client.indices.create(index=index, body=body)
        except self.errors.bad_request:
            if not self.client.indices.exists(index=index):  # not a concurrent creation: a real error
                raise

    def _bulk(self, lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        for item in self.client.bulk(body=lines)["items"]:
            ((_, result),) = item.items()
            if result["status"] not in (200, 201):
                raise BulkWriteError(f"{result.get('_id')}: {result.get('error')}")

    def _delete_by_query(self, index: str, body: dict[str, Any]) -> None:
        with contextlib.suppress(self.errors.not_found):  # no such index: nothing to delete
            self.client.delete_by_query(index=index, body=body, conflicts="proceed", refresh=True)

    def info(self, tenant: str, dataset_id: str, model_id: str) -> VectorSet | None:
        """A realtime get of the set's document: no refresh needed."""
        try:
            found = self.client.get(index=self.sets_index, id=docs.set_id(tenant, dataset_id, model_id))
        except self.errors.not_found:
            return None
        return docs.set_of(found["_source"])

    def sets(self, tenant: str, dataset_id: str) -> dict[str, VectorSet]:
        try:
            answer = self.client.search(index=self.sets_index, body=docs.sets_body(tenant, dataset_id))
        except self.errors.not_found:
            return {}
        found = (docs.set_of(hit["_source"]) for hit in answer["hits"]["hits"])
        return {vs.model_id: vs for vs in found}

    def replace(
        self, tenant: str, dataset_id: str, model_id: str, job_id: str, finished_at: float, batches: Iterable[Batch]
    ) -> int:
        """Bulk-write the job's vectors beside the set's, switch the set's document to this job (its
        version is the finish time: a later job's document refuses it), then drop older jobs' vectors."""
        held = self.info(tenant, dataset_id, model_id)
        if held is not None and (held.finished_at, held.job_id) > (finished_at, job_id):
            return 0
        self._ensure(self.sets_index, docs.sets_index_body())
        started = time.time()
        new = VectorSet(model_id, job_id, finished_at, 0, 0)
        index = None
        for item_ids, rows in unit_batches(batches):
            if index is None:
                new = VectorSet(model_id, job_id, finished_at, 0, rows.shape[1])
                index = docs.vectors_index(self.base, new.dims)
                self._ensure(index, docs.vectors_index_body(self.flavour, new.dims))
            chunk = max(1, BULK_BYTES // (BYTES_PER_DIM * new.dims))
            for start in range(0, len(item_ids), chunk):
                self._write_vectors(
                    tenant, dataset_id, new, index, item_ids[start : start + chunk], rows[start : start + chunk]
                )
        if index is not None:
            self.client.indices.refresh(index=index)
            self._drop_removed_since(tenant, dataset_id, new, index, started - CLOCK_SKEW)
            count = self._count(index, docs.set_filter(tenant, dataset_id, new))
            new = VectorSet(model_id, job_id, finished_at, count, new.dims)
        if not self._write_set(tenant, dataset_id, new):  # a job that finished later switched it meanwhile
            if index is not None:
                self._delete_by_query(index, docs.job_query(tenant, dataset_id, new))
            return 0
        self._delete_by_query(docs.vectors_pattern(self.base), docs.older_query(tenant, dataset_id, new))
        return new.count

    def _write_vectors(
        self, tenant: str, dataset_id: str, vs: VectorSet, index: str, item_ids: list[str], rows: np.ndarray
    ) -> None:
        """One bulk request of vectors, leaving out items removed from the dataset."""
        removed = self._removed(tenant, dataset_id, item_ids)
        lines: list[dict[str, Any]] = []
        for item_id, row in zip(item_ids, rows, strict=True):
            if item_id in removed:
                continue
            meta = {
                "_index": index,
                "_id": docs.vector_id(tenant, dataset_id, vs.model_id, vs.job_id, item_id),
                "version": docs.version_of(vs.finished_at),
                "version_type": "external_gte",
            }
            lines += [{"index": meta}, docs.vector_doc(tenant, dataset_id, vs, item_id, row)]
        self._bulk(lines)

    def _removed(self, tenant: str, dataset_id: str, item_ids: list[str]) -> set[str]:
        """Those of the items removed from the dataset (a realtime read)."""
        removed: set[str] = set()
        it = iter(item_ids)
        while chunk := list(islice(it, MGET)):
            wanted = {docs.removed_id(tenant, dataset_id, i): i for i in chunk}
            answer = self.client.mget(index=self.sets_index, body={"ids": list(wanted)})
            removed.update(wanted[d["_id"]] for d in answer["docs"] if d.get("found"))
        return removed

    def _drop_removed_since(self, tenant: str, dataset_id: str, vs: VectorSet, index: str, since: float) -> None:
        """Items removed while the vectors were written may have been written all the same: drop them."""
        after: str | None = None
        while True:
            body = docs.removed_since_body(tenant, dataset_id, since, PAGE, after)
            hits = self.client.search(index=self.sets_index, body=body)["hits"]["hits"]
            item_ids = [hit["_source"]["item_id"] for hit in hits]
            if item_ids:
                self._delete_by_query(index, docs.job_query(tenant, dataset_id, vs, item_ids))
            if len(item_ids) < PAGE:
                return
            after = item_ids[-1]

    def _count(self, index: str, where: dict[str, Any]) -> int:
        return int(self.client.search(index=index, body=docs.count_body(where))["hits"]["total"]["value"])

    def vector(self, tenant: str, dataset_id: str, model_id: str, item_id: str) -> np.ndarray | None:
        vs = self.info(tenant, dataset_id, model_id)
        if vs is None or not vs.count:
            return None
        doc_id = docs.vector_id(tenant, dataset_id, model_id, vs.job_id, item_id)
        try:
            found = self.client.get(index=docs.vectors_index(self.base, vs.dims), id=doc_id)
        except self.errors.not_found:
            return None
        return docs.decode(found["_source"][docs.BLOB])

    def nearest(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        query: np.ndarray,
        k: int,
        exclude: Collection[str] = (),
    ) -> list[tuple[str, float]]:
        k = checked_k(k)
        vs = self.info(tenant, dataset_id, model_id)
        if vs is None or not vs.dims:
            return []
        query = unit(query, vs.dims)
        if not vs.count:
            return []
        body = docs.nearest_body(
            self.flavour, query, docs.candidates(k), docs.set_filter(tenant, dataset_id, vs, exclude)
        )
        hits = self.client.search(index=docs.vectors_index(self.base, vs.dims), body=body)["hits"]["hits"]
        if not hits:
            return []
        item_ids = np.array([hit["_source"]["item_id"] for hit in hits])
        rows = np.stack([docs.decode(hit["_source"][docs.BLOB]) for hit in hits])
        return ranked(item_ids, rows, np.arange(len(rows)), query, k)

    def scan(
        self, tenant: str, dataset_id: str, model_id: str, batch: int = 8192
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """The set's vectors in item id order, a page (at most MAX_WINDOW) at a time."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        vs = self.info(tenant, dataset_id, model_id)
        if vs is None or not vs.count:
            return
        index, where = docs.vectors_index(self.base, vs.dims), docs.set_filter(tenant, dataset_id, vs)
        size, after = min(batch, docs.MAX_WINDOW), None
        while True:
            hits = self.client.search(index=index, body=docs.scan_body(where, size, after))["hits"]["hits"]
            if hits:
                item_ids = [hit["_source"]["item_id"] for hit in hits]
                yield item_ids, np.stack([docs.decode(hit["_source"][docs.BLOB]) for hit in hits])
                after = item_ids[-1]
            if len(hits) < size:
                return

    def remove_items(self, tenant: str, dataset_id: str, item_ids: Iterable[str]) -> None:
        """Record the removals (a later job's vectors of them are skipped), delete the vectors, recount."""
        item_ids = list(dict.fromkeys(item_ids))
        if not item_ids:
            return
        self._ensure(self.sets_index, docs.sets_index_body())
        at = time.time()
        it = iter(item_ids)
        while chunk := list(islice(it, MGET)):
            lines: list[dict[str, Any]] = []
            for item_id in chunk:
                meta = {
                    "_index": self.sets_index,
                    "_id": docs.removed_id(tenant, dataset_id, item_id),
                    "version": docs.version_of(at),
                    "version_type": "external_gte",
                }
                lines += [{"index": meta}, docs.removed_doc(tenant, dataset_id, item_id, at)]
            self._bulk(lines)
            self._delete_by_query(docs.vectors_pattern(self.base), docs.items_query(tenant, dataset_id, chunk))
        self.client.indices.refresh(index=self.sets_index)
        for vs in self.sets(tenant, dataset_id).values():
            if vs.count:
                self._recount(tenant, dataset_id, vs)

    def _recount(self, tenant: str, dataset_id: str, vs: VectorSet) -> None:
        count = self._count(docs.vectors_index(self.base, vs.dims), docs.set_filter(tenant, dataset_id, vs))
        # Refused when a later job's set replaced this one meanwhile: that one was counted as written.
        self._write_set(tenant, dataset_id, VectorSet(vs.model_id, vs.job_id, vs.finished_at, count, vs.dims))

    def _write_set(self, tenant: str, dataset_id: str, vs: VectorSet) -> bool:
        """Point the set's document at `vs`, unless it names a job that finished later; True if written."""
        try:
            self.client.index(
                index=self.sets_index,
                id=docs.set_id(tenant, dataset_id, vs.model_id),
                body=docs.set_doc(tenant, dataset_id, vs),
                version=docs.version_of(vs.finished_at),
                version_type="external_gte",
                refresh=True,
            )
        except self.errors.conflict:
            return False
        return True

    def remove_dataset(self, tenant: str, dataset_id: str) -> None:
        self._delete_by_query(self.sets_index, docs.scope_query(tenant, dataset_id))
        self._delete_by_query(docs.vectors_pattern(self.base), docs.scope_query(tenant, dataset_id))

    def remove_tenant(self, tenant: str) -> None:
        self._delete_by_query(self.sets_index, docs.scope_query(tenant))
        self._delete_by_query(docs.vectors_pattern(self.base), docs.scope_query(tenant))


def opensearch_vectors(
    url: str,
    *,
    base: str = text_docs.DEFAULT_INDEX,
    region: str = "",
    sigv4: bool = True,
    timeout: float = 10.0,
) -> DocumentVectorIndex:
    """Vectors on OpenSearch beside the items index `base`, with its client (SigV4 for Amazon's)."""
    client = opensearch_index(url, region=region, index=base, sigv4=sigv4, timeout=timeout)
    return DocumentVectorIndex(client.client, client.errors, base, flavour=docs.OPENSEARCH)


def elasticsearch_vectors(
    url: str, *, base: str = text_docs.DEFAULT_INDEX, api_key: str = "", timeout: float = 10.0
) -> DocumentVectorIndex:
    """Vectors on Elasticsearch beside the items index `base`, with its client."""
    client = elasticsearch_index(url, index=base, api_key=api_key, timeout=timeout)
    return DocumentVectorIndex(client.client, client.errors, base, flavour=docs.ELASTICSEARCH)
