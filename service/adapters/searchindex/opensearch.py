"""DocumentSearchIndex: the SearchIndex port on Amazon OpenSearch Service (SigV4) or Elasticsearch."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from service.adapters.searchindex import DatasetStats, ItemQuery, ItemRecord, Prediction, SearchIndex
from service.adapters.searchindex import document_totals as totals
from service.adapters.searchindex import documents as docs

# Documents per bulk request: a few hundred KB, well under the 10 MB body limit of small domains.
BULK_CHUNK = 500
# Page size when the adapter itself walks results (pending items of a dataset).
PAGE = 500
# Times a document rewritten for its predictions is read again after a newer observation won the race.
REWRITE_ATTEMPTS = 3
# What a rewrite makes of an item's predictions: the new set, or None to leave the document as it is.
Change = Callable[[ItemRecord], tuple[Prediction, ...] | None]


@dataclass(frozen=True)
class ClientErrors:
    """The exception classes of one client library; the clients' call shapes are otherwise alike."""

    conflict: type[Exception]  # 409: the index holds a later observation
    not_found: type[Exception]  # 404: no such document
    bad_request: type[Exception]  # 400: e.g. the index was created concurrently


class BulkWriteError(RuntimeError):
    """A bulk write failed for a reason other than an older observation (mapping, limits)."""


class IndexReadError(RuntimeError):
    """A document could not be read before it is written again (a missing index, a failed shard)."""


class DocumentSearchIndex(SearchIndex):
    """Items as externally versioned documents: the version is the observation time in µs.

    `client` is an `opensearchpy.OpenSearch` or an `elasticsearch.Elasticsearch`: both take
    keyword arguments with `body=`, which is all this class uses. `refresh` applies to single-item
    writes: "wait_for" lets the API read its own writes; the event indexer may pass False.
    """

    def __init__(
        self,
        client: Any,
        errors: ClientErrors,
        index: str = docs.DEFAULT_INDEX,
        *,
        refresh: str | bool = "wait_for",
        name: str = "opensearch",
    ):
        self.client = client
        self.errors = errors
        self.index = index
        self.refresh = refresh
        self.name = name

    def ensure_index(self) -> bool:
        """Create the index with its mapping unless it exists; True when this call created it."""
        if self.client.indices.exists(index=self.index):
            return False
        try:
            self.client.indices.create(index=self.index, body=docs.index_body())
        except self.errors.bad_request:
            # Another process (a parallel cold start) won the race; anything else is a real error.
            if self.client.indices.exists(index=self.index):
                return False
            raise
        return True

    def upsert(self, record: ItemRecord) -> bool:
        """Store the record unless a later observation is indexed; True when applied. The predictions
        the document holds are carried over: a realtime get, then the write. An attach that lands
        between the two is lost for this item (the write carries the older set) until a reindex."""
        doc_id = docs.doc_id(record.tenant, record.item_id)
        held = self._sources([doc_id]).get(doc_id)
        return self._write(doc_id, docs.to_document(_carrying(record, held)), record.observed_at)

    def upsert_many(self, records: Iterable[ItemRecord]) -> int:
        """Bulk upsert without refresh (reindex, ingest); returns how many were applied. Predictions
        are carried over as in `upsert` (one mget per chunk)."""
        applied = 0
        it = iter(records)
        while chunk := list(islice(it, BULK_CHUNK)):
            held = self._sources([docs.doc_id(r.tenant, r.item_id) for r in chunk])
            chunk = [_carrying(r, held.get(docs.doc_id(r.tenant, r.item_id))) for r in chunk]
            response = self.client.bulk(body=docs.bulk_actions(self.index, chunk))
            for item in response["items"]:
                result = item["index"]
                if result["status"] in (200, 201):
                    applied += 1
                elif result["status"] != 409:
                    raise BulkWriteError(f"{result.get('_id')}: {result.get('error')}")
        return applied

    def _sources(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """doc id -> its mget answer (`_source`, `_version`) for those that exist, read in real time."""
        docs_read = self.client.mget(index=self.index, body={"ids": doc_ids})["docs"]
        failed = next((d for d in docs_read if "error" in d), None)
        if failed is not None:  # writing on would drop the predictions it holds
            raise IndexReadError(f"{failed['_id']}: {failed['error']}")
        return {d["_id"]: d for d in docs_read if d.get("found")}

    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        """One live item of one dataset, or None; a realtime get needs no refresh."""
        try:
            response = self.client.get(index=self.index, id=docs.doc_id(tenant, item_id))
        except self.errors.not_found:
            return None
        source = response["_source"]
        if not docs.is_live(source) or source.get("dataset_id") != dataset_id:
            return None
        return docs.from_document(source)

    def delete(self, tenant: str, dataset_id: str, item_id: str, observed_at: float) -> bool:
        """Leave a tombstone unless a later observation is indexed; True when applied."""
        tomb = docs.tombstone(tenant, dataset_id, item_id, observed_at)
        return self._write(docs.doc_id(tenant, item_id), tomb, observed_at)

    def _write(self, doc_id: str, body: dict[str, Any], observed_at: float) -> bool:
        try:
            self.client.index(
                index=self.index,
                id=doc_id,
                body=body,
                version=docs.version_of(observed_at),
                version_type="external_gte",
                refresh=self.refresh,
            )
        except self.errors.conflict:
            # The index already holds a later observation: this event is stale, not an error.
            return False
        return True

    def delete_dataset(self, tenant: str, dataset_id: str) -> list[ItemRecord]:
        """Forget a dataset's documents; returns its pending items so their uploads can be aborted."""
        # Search and delete_by_query see refreshed documents only: include writes made without refresh.
        self.client.indices.refresh(index=self.index)
        pending: list[ItemRecord] = []
        after: str | None = None
        while True:
            body = docs.pending_body(tenant, dataset_id, PAGE, after)
            page = docs.records_of(self.client.search(index=self.index, body=body))
            pending += page
            if len(page) < PAGE:
                break
            after = page[-1].item_id
        self._delete_by_query(docs.dataset_query(tenant, dataset_id))
        return pending

    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        """Up to `limit` live items matching `query` in its order, after the position `after`."""
        body = docs.search_body(tenant, query, limit, after)  # a malformed position raises before asking
        if limit <= 0:
            return []
        return docs.records_of(self.client.search(index=self.index, body=body))

    def count(self, tenant: str, query: ItemQuery) -> int:
        return docs.parse_count(self.client.search(index=self.index, body=docs.count_body(tenant, query)))

    def attach_predictions(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        job_id: str,
        finished_at: float,
        rows: Iterable[tuple[str, Prediction]],
    ) -> int:
        """Each chunk: read the documents (mget), set the prediction, write each back with its own
        version (`external_gte` takes an equal one); then drop the model's older predictions."""
        attached = 0
        it = iter(rows)
        while chunk := dict(islice(it, BULK_CHUNK)):
            attached += self._rewrite(tenant, dataset_id, list(chunk), _attaching(chunk, model_id, job_id, finished_at))
        # Searches see refreshed documents only: the walk below must not find what was just replaced.
        self.client.indices.refresh(index=self.index)
        after: str | None = None
        while True:
            body = docs.older_body(tenant, dataset_id, model_id, finished_at, PAGE, after)
            ids = [r.item_id for r in docs.records_of(self.client.search(index=self.index, body=body))]
            self._rewrite(tenant, dataset_id, ids, _dropping(model_id, finished_at))
            if len(ids) < PAGE:
                break
            after = ids[-1]
        self.client.indices.refresh(index=self.index)
        return attached

    def _rewrite(self, tenant: str, dataset_id: str, item_ids: list[str], change: Change) -> int:
        """Give the dataset's live items the predictions `change` makes of their record (None: leave
        it), each written at the version it was read at; an item that a newer observation overtook
        meanwhile is read again. Returns how many were written."""
        written = 0
        for _ in range(REWRITE_ATTEMPTS):
            if not item_ids:
                break
            wanted = {docs.doc_id(tenant, item_id): item_id for item_id in item_ids}
            lines: list[dict[str, Any]] = []
            for doc_id, found in self._sources(list(wanted)).items():
                source = found["_source"]
                if not docs.is_live(source) or source.get("dataset_id") != dataset_id:
                    continue
                record = docs.from_document(source)
                predictions = change(record)
                if predictions is None:
                    continue
                record = replace(record, predictions=tuple(sorted(predictions, key=lambda p: p.model_id)))
                meta = {"_index": self.index, "_id": doc_id, "version": found["_version"]}
                lines += [{"index": meta | {"version_type": "external_gte"}}, docs.to_document(record)]
            item_ids = []
            for item in self.client.bulk(body=lines)["items"] if lines else []:
                result = item["index"]
                if result["status"] in (200, 201):
                    written += 1
                elif result["status"] == 409:
                    item_ids.append(wanted[result["_id"]])
                else:
                    raise BulkWriteError(f"{result.get('_id')}: {result.get('error')}")
        return written

    def predicted_models(self, tenant: str, dataset_id: str) -> dict[str, tuple[str, int]]:
        response = self.client.search(index=self.index, body=totals.models_body(tenant, dataset_id))
        return totals.parse_models(response)

    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        """Counts of a dataset's available items: total, bytes, per label."""
        response = self.client.search(index=self.index, body=totals.stats_body(tenant, dataset_id))
        return totals.parse_stats(response)

    def holdings(self, tenant: str) -> tuple[int, int]:
        return totals.parse_holdings(self.client.search(index=self.index, body=totals.holdings_body(tenant)))

    def tenants(self) -> list[str]:
        """Every tenant with documents."""
        return totals.parse_tenants(self.client.search(index=self.index, body=totals.tenants_body()))

    def sweep(self, tenant: str, observed_before: float) -> int:
        """Forget available items and tombstones not observed since `observed_before`."""
        # The rebuild wrote in bulk without refresh; make those later observations visible first.
        self.client.indices.refresh(index=self.index)
        return self._delete_by_query(docs.sweep_query(tenant, observed_before))

    def _delete_by_query(self, body: dict[str, Any]) -> int:
        # "proceed": a document rewritten since the query's snapshot conflicts and is kept,
        # which is right, since it now holds a newer observation.
        response = self.client.delete_by_query(index=self.index, body=body, conflicts="proceed", refresh=True)
        return int(response["deleted"])


def _attaching(rows: dict[str, Prediction], model_id: str, job_id: str, finished_at: float) -> Change:
    def change(record: ItemRecord) -> tuple[Prediction, ...] | None:
        held = record.prediction(model_id)
        if held is not None and held.finished_at > finished_at:
            return None  # a job that finished later has attached its own
        new = rows[record.item_id]
        mine = Prediction(model_id, job_id, new.predicted, new.score, new.margin, dict(new.probs), finished_at)
        return (*(p for p in record.predictions if p.model_id != model_id), mine)

    return change


def _dropping(model_id: str, finished_at: float) -> Change:
    def change(record: ItemRecord) -> tuple[Prediction, ...] | None:
        held = record.prediction(model_id)
        if held is None or held.finished_at >= finished_at:
            return None
        return tuple(p for p in record.predictions if p.model_id != model_id)

    return change


def _carrying(record: ItemRecord, held: dict[str, Any] | None) -> ItemRecord:
    """The record with the predictions its indexed document holds (storage never has them)."""
    source = held["_source"] if held else {}
    if not docs.is_live(source) or source.get("dataset_id") != record.dataset_id:
        return replace(record, predictions=())
    return replace(record, predictions=docs.predictions_of(source))


def opensearch_index(
    url: str,
    *,
    region: str = "",
    index: str = docs.DEFAULT_INDEX,
    sigv4: bool = True,
    refresh: str | bool = "wait_for",
    timeout: float = 10.0,
) -> DocumentSearchIndex:
    """An index on OpenSearch; with `sigv4`, Amazon OpenSearch Service signed with boto3's credentials."""
    from opensearchpy import OpenSearch, RequestsHttpConnection
    from opensearchpy import exceptions as os_errors

    options: dict[str, Any] = {}
    if sigv4:
        import boto3
        from opensearchpy import AWSV4SignerAuth

        session = boto3.Session()
        region = region or os.environ.get("AWS_REGION") or session.region_name or ""
        if not region:
            raise ValueError("A region is needed to sign OpenSearch requests: set AWS_REGION")
        # The botocore credentials object, not a frozen copy: the signer refreshes expiring ones.
        options["http_auth"] = AWSV4SignerAuth(session.get_credentials(), region, "es")
    # Without sigv4, user:password in the URL becomes basic auth (a self-managed cluster).
    client = OpenSearch(
        hosts=[url],
        connection_class=RequestsHttpConnection,
        timeout=timeout,
        max_retries=2,
        retry_on_timeout=True,
        **options,
    )
    errors = ClientErrors(os_errors.ConflictError, os_errors.NotFoundError, os_errors.RequestError)
    return DocumentSearchIndex(client, errors, index, refresh=refresh, name="opensearch")


def elasticsearch_index(
    url: str,
    *,
    index: str = docs.DEFAULT_INDEX,
    api_key: str = "",
    refresh: str | bool = "wait_for",
    timeout: float = 10.0,
) -> DocumentSearchIndex:
    """An index on Elasticsearch; `api_key` (encoded form) or user:password in the URL authenticate."""
    from elasticsearch import BadRequestError, ConflictError, Elasticsearch, NotFoundError

    client = Elasticsearch(
        url,
        api_key=api_key or None,
        request_timeout=timeout,
        max_retries=2,
        retry_on_timeout=True,
    )
    errors = ClientErrors(ConflictError, NotFoundError, BadRequestError)
    return DocumentSearchIndex(client, errors, index, refresh=refresh, name="elasticsearch")
