"""Lambda entry points that are not the WSGI app: S3 events delivered through SQS."""

from __future__ import annotations

import functools
import json
import logging

from service.domain.events import on_storage_event
from service.domain.indexing import Indexer

log = logging.getLogger("edna.handlers")


@functools.cache
def _indexer() -> Indexer:
    """Built once per Lambda container, from the same config and adapters as the API."""
    from service.bootstrap import build_blob_store, build_search_index
    from service.settings import Config

    config = Config.from_env()
    return Indexer(build_blob_store(config), build_search_index(config))


def sqs_s3_events(event: dict, context: object = None, indexer: Indexer | None = None) -> dict:
    """SQS batch of S3 notifications; failed messages are reported back for a retry (and, after
    the queue's maxReceiveCount, the dead-letter queue) while the rest of the batch proceeds."""
    indexer = indexer or _indexer()
    failures = []
    for message in event.get("Records", []):
        try:
            body = json.loads(message["body"])
            if body.get("Event") == "s3:TestEvent":  # sent once when notifications are configured
                continue
            on_storage_event(body, indexer)
        except Exception:
            log.exception("storage event %s failed; it will be retried", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId")})
    return {"batchItemFailures": failures}
