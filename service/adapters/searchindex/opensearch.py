"""DocumentSearchIndex: the SearchIndex port on Amazon OpenSearch Service (SigV4) or Elasticsearch."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from service.adapters.searchindex import DatasetStats, ItemQuery, ItemRecord, SearchIndex
from service.adapters.searchindex import documents as docs

# Documents per bulk request: a few hundred KB, well under the 10 MB body limit of small domains.
BULK_CHUNK = 500
# Page size when the adapter itself walks results (pending items of a dataset).
PAGE = 500


@dataclass(frozen=True)
class ClientErrors:
    """The exception classes of one client library; the clients' call shapes are otherwise alike."""

    conflict: type[Exception]  # 409: the index holds a later observation
    not_found: type[Exception]  # 404: no such document
    bad_request: type[Exception]  # 400: e.g. the index was created concurrently


class BulkWriteError(RuntimeError):
    """A bulk write failed for a reason other than an older observation (mapping, limits)."""


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
        """Store the record unless a later observation is indexed; True when applied."""
        doc_id = docs.doc_id(record.tenant, record.item_id)
        return self._write(doc_id, docs.to_document(record), record.observed_at)

    def upsert_many(self, records: Iterable[ItemRecord]) -> int:
        """Bulk upsert without refresh (reindex, ingest); returns how many were applied."""
        applied = 0
        it = iter(records)
        while chunk := list(islice(it, BULK_CHUNK)):
            response = self.client.bulk(body=docs.bulk_actions(self.index, chunk))
            for item in response["items"]:
                result = item["index"]
                if result["status"] in (200, 201):
                    applied += 1
                elif result["status"] != 409:
                    raise BulkWriteError(f"{result.get('_id')}: {result.get('error')}")
        return applied

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
        """Up to `limit` live items matching `query`, ordered by item id, after the id `after`."""
        if limit <= 0:
            return []
        body = docs.search_body(tenant, query, limit, after)
        return docs.records_of(self.client.search(index=self.index, body=body))

    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        """Counts of a dataset's available items: total, bytes, per label."""
        response = self.client.search(index=self.index, body=docs.stats_body(tenant, dataset_id))
        return docs.parse_stats(response)

    def holdings(self, tenant: str) -> tuple[int, int]:
        return docs.parse_holdings(self.client.search(index=self.index, body=docs.holdings_body(tenant)))

    def tenants(self) -> list[str]:
        """Every tenant with documents."""
        return docs.parse_tenants(self.client.search(index=self.index, body=docs.tenants_body()))

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
