"""Lambda entry points that are not the WSGI app: S3 events and thumbnails to make, delivered through SQS."""

from __future__ import annotations

import functools
import json
import logging

from service.adapters.thumbnailqueue import THUMBNAIL_MESSAGE
from service.adapters.webhookqueue import WebhookQueue
from service.domain.bulk_runs import BulkRuns
from service.domain.dataset_deletions import DatasetDeletions
from service.domain.duplicate_runs import DuplicateRuns
from service.domain.embeddings import Embeddings
from service.domain.events import on_storage_event
from service.domain.indexing import Indexer
from service.domain.notifications import Notifier
from service.domain.predictions import Predictions
from service.domain.run_events import RunEvents
from service.domain.similarity import Similarity
from service.domain.webhook_delivery import Deliverer

log = logging.getLogger("edna.handlers")


@functools.cache
def _indexer() -> Indexer:
    """Built once per Lambda container, from the same config and adapters as the API.

    Thumbnails go to their own queue and Lambda when the stack declares one; without it this
    function makes them itself (it is off the request path either way)."""
    from service.bootstrap import build_blob_store, build_search_index, build_thumbnail_queue
    from service.settings import Config

    config = Config.from_env()
    thumbnails = build_thumbnail_queue(config) if config.thumbnail_queue_url else None
    blobs, emit = build_blob_store(config), _webhooks()[0].emit  # an upload's storage event: item.available
    return Indexer(blobs, build_search_index(config), thumbnails, config.max_image_pixels, emit)


@functools.cache
def _vectors():
    from service.bootstrap import build_vector_index
    from service.settings import Config

    return build_vector_index(Config.from_env())


@functools.cache
def _webhooks() -> tuple[Notifier, Deliverer]:
    """The notifier (events the indexer sees: a job's end) and the deliverer, over the stack's queue."""
    from service.bootstrap import (
        build_blob_store,
        build_secret_box,
        build_webhook_queue,
        webhook_post,
        webhook_url_check,
    )
    from service.domain.notifications import SUBSCRIPTIONS_CACHE_SECONDS
    from service.domain.webhook_delivery import Backoff
    from service.domain.webhooks import WebhookRegistry
    from service.settings import Config

    config = Config.from_env()
    registry = WebhookRegistry(build_blob_store(config), webhook_url_check(config), build_secret_box(config))
    notifier = Notifier(registry, build_webhook_queue(config), SUBSCRIPTIONS_CACHE_SECONDS)
    backoff = Backoff(config.webhook_max_attempts, config.webhook_retry_base_seconds)
    return notifier, Deliverer(registry, webhook_post(config), backoff)


@functools.cache  # once per container, as the indexer it runs beside
def _duplicates(indexer: Indexer) -> DuplicateRuns:
    return DuplicateRuns(indexer.blobs, indexer.index, Similarity(_vectors(), indexer.index), in_process=False)


@functools.cache  # once per container: not a catalog, an audit log and services per batch of events
def _bulk(indexer: Indexer) -> BulkRuns:
    """Bulk runs over the same services as the API's requests (labels, tags, deletes, their webhooks)."""
    from service.bootstrap import build_audit_log
    from service.domain.datasets import DatasetCatalog
    from service.domain.items import ItemService, UploadLimits
    from service.domain.labels import Labeler
    from service.settings import Config

    config = Config.from_env()
    blobs, index, vectors = indexer.blobs, indexer.index, _vectors()
    limits = UploadLimits.of(config)
    items = ItemService(blobs, index, indexer, limits, vectors, indexer.emit)
    datasets = DatasetCatalog(blobs, index, vectors)
    audit = build_audit_log(config, blobs)
    return BulkRuns(blobs, index, datasets, items, Labeler(blobs, index, items), audit, in_process=False)


@functools.cache  # once per container, as the indexer it runs beside
def _deletions(indexer: Indexer) -> DatasetDeletions:
    from service.domain.datasets import DatasetCatalog

    blobs, index, vectors = indexer.blobs, indexer.index, _vectors()
    return DatasetDeletions(blobs, index, vectors, DatasetCatalog(blobs, index, vectors), in_process=False)


def sqs_s3_events(
    event: dict,
    context: object = None,
    indexer: Indexer | None = None,
    predictions: Predictions | None = None,
    embeddings: Embeddings | None = None,
    duplicates: DuplicateRuns | None = None,
    runs: RunEvents | None = None,
    bulk: BulkRuns | None = None,
    deletions: DatasetDeletions | None = None,
) -> dict:
    """SQS batch of S3 notifications; failed messages are reported back for a retry (and, after
    the queue's maxReceiveCount, the dead-letter queue) while the rest of the batch proceeds.
    Called with an indexer (tests), it loads embeddings and runs passes only when given them too."""
    if indexer is None:
        indexer = _indexer()
        embeddings = embeddings or Embeddings(indexer.blobs, _vectors())
        duplicates = duplicates or _duplicates(indexer)
        runs = runs or RunEvents(indexer.blobs, _webhooks()[0].emit)
        bulk = bulk or _bulk(indexer)
        deletions = deletions or _deletions(indexer)
    predictions = predictions or Predictions(indexer.blobs, indexer.index)
    failures = []
    for message in event.get("Records", []):
        try:
            body = json.loads(message["body"])
            if body.get("Event") == "s3:TestEvent":  # sent once when notifications are configured
                continue
            if not isinstance(body.get("Records"), list):  # not an S3 notification: retried, then dead-lettered
                raise ValueError(f"no S3 event records in {message['body'][:200]!r}")
            on_storage_event(body, indexer, predictions, embeddings, duplicates, runs, bulk, deletions)
        except Exception:
            log.exception("storage event %s failed; it will be retried", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId")})
    return {"batchItemFailures": failures}


def sqs_thumbnails(event: dict, context: object = None, indexer: Indexer | None = None) -> dict:
    """SQS batch of `{"key": item object}` messages: each thumbnail is made (or refused: too large, not
    an image) and its item re-indexed; a failed message alone is retried, then dead-lettered."""
    indexer = indexer or _indexer()
    failures = []
    for message in event.get("Records", []):
        try:
            key = json.loads(message["body"])[THUMBNAIL_MESSAGE]
            if not isinstance(key, str):
                raise ValueError(f"no item key in {message['body'][:200]!r}")
            indexer.make_thumbnail(key)
        except Exception:
            log.exception("thumbnail message %s failed; it will be retried", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId")})
    return {"batchItemFailures": failures}


def sqs_webhooks(
    event: dict, context: object = None, deliverer: Deliverer | None = None, queue: WebhookQueue | None = None
) -> dict:
    """SQS batch of webhook deliveries: one attempt each; a retry is sent back to the queue with its delay.
    A message whose attempt could not be logged (storage trouble) is reported back and tried again."""
    if deliverer is None or queue is None:
        notifier, deliverer = _webhooks()
        queue = notifier.queue
    failures = []
    for message in event.get("Records", []):
        try:
            following = deliverer.attempt(json.loads(message["body"]))
            if following is not None:
                queue.send(*following)
        except Exception:
            log.exception("webhook message %s failed; it will be retried", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId")})
    return {"batchItemFailures": failures}


SEARCH_ROLE = "edna_indexer"


def grant_search_access(event: dict, context: object = None, client=None) -> dict:
    """Let other IAM roles (the indexer's) read and write Edna's index on Amazon OpenSearch.

    Fine-grained access control trusts one IAM master, the API's role; only it can map more roles.
    The deploy runs this once through the API function (Zappa's `command` event, from a Pulumi
    `aws.lambda_.Invocation`) with `{"roles": [arn, ...]}`; running it again changes nothing.
    """
    from service.settings import Config

    config = Config.from_env()
    if client is None:
        from service.adapters.searchindex.opensearch import opensearch_index

        client = opensearch_index(config.search_url, index=config.search_index).client
    roles = event.get("roles") or []
    if not roles or not all(isinstance(r, str) and r.startswith("arn:aws:iam::") for r in roles):
        raise ValueError("grant_search_access needs {'roles': [IAM role ARN, ...]}")
    security = "/_plugins/_security/api"
    client.transport.perform_request(
        "PUT",
        f"{security}/roles/{SEARCH_ROLE}",
        body={
            "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
            "index_permissions": [
                {
                    "index_patterns": [f"{config.search_index}*"],
                    "allowed_actions": ["crud", "create_index", "indices_monitor"],
                }
            ],
        },
    )
    client.transport.perform_request("PUT", f"{security}/rolesmapping/{SEARCH_ROLE}", body={"backend_roles": roles})
    log.info("search role %s mapped to %s", SEARCH_ROLE, ", ".join(roles))
    return {"role": SEARCH_ROLE, "backend_roles": roles}


def put_index_templates(event: dict, context: object = None, client=None) -> dict:
    """Install the stack's index templates (infra/search_templates.py) on Amazon OpenSearch.

    Only the master (the API's role) may put templates: the deploy runs this through the API function
    (Zappa's `command` event, from a Pulumi `aws.lambda_.Invocation`) with `{"index_templates": {name:
    body}}`, before the service creates an index they match. Putting the same template again changes nothing.
    """
    from service.settings import Config

    config = Config.from_env()
    templates = event.get("index_templates") or {}
    for name, body in templates.items():
        patterns = body.get("index_patterns") if isinstance(body, dict) else None
        if not patterns or not all(isinstance(p, str) and p.startswith(config.search_index) for p in patterns):
            raise ValueError(f"index template {name!r} must match only indexes named {config.search_index}*")
    if not templates:
        raise ValueError("put_index_templates needs {'index_templates': {name: body, ...}}")
    if client is None:
        from service.adapters.searchindex.opensearch import opensearch_index

        client = opensearch_index(config.search_url, index=config.search_index).client
    for name, body in sorted(templates.items()):
        client.transport.perform_request("PUT", f"/_index_template/{name}", body=body)
    log.info("index templates %s installed", ", ".join(sorted(templates)))
    return {"index_templates": sorted(templates)}
