"""Storage events (S3's notification format) into index updates and thumbnails."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

from service.domain.bulk_runs import BulkRuns
from service.domain.dataset_deletions import DatasetDeletions
from service.domain.duplicate_runs import DuplicateRuns
from service.domain.embeddings import Embeddings
from service.domain.indexing import Indexer
from service.domain.predictions import Predictions
from service.domain.run_events import RunEvents
from service.vocabulary import layout

log = logging.getLogger("edna.events")


def on_storage_event(
    event: dict,
    indexer: Indexer,
    predictions: Predictions | None = None,
    embeddings: Embeddings | None = None,
    duplicates: DuplicateRuns | None = None,
    runs: RunEvents | None = None,
    bulk: BulkRuns | None = None,
    deletions: DatasetDeletions | None = None,
) -> int:
    """Apply every S3 record of an event (created, removed, tagging); returns how many were items.

    Idempotent and order-tolerant: each record makes the indexer read the object's current state,
    so a duplicate or a late record changes nothing that a newer observation already holds.
    """
    applied = 0
    for record in event.get("Records", []):
        if record.get("eventSource") != "aws:s3":
            continue
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 URL-encodes keys in events
        if layout.parse_job_status(key):
            # A job finished: its predictions become item facts, its embeddings searchable.
            for listener in (predictions, embeddings, runs):  # runs: the job.finished webhooks
                if listener is not None:
                    listener.on_key(key)
            continue
        if layout.parse_duplicates_run(key):
            if duplicates is not None:
                duplicates.on_key(key)  # a near-duplicate pass was asked for: run it here
            continue
        if layout.parse_bulk_run(key):
            if bulk is not None:
                bulk.on_key(key)  # a change to every item a query matched was accepted: run it here
            continue
        if layout.parse_dataset_deletion(key):
            if deletions is not None:
                deletions.on_key(key)  # a dataset's deletion was accepted (or its next slice queued): run it here
            continue
        if layout.parse_model_file(key):
            indexer.refresh_key(key)  # discarded if its model was deleted
            continue
        if layout.parse_item(key) is None:
            continue  # thumbnails, records, job files: not items
        indexer.refresh_key(key)
        applied += 1
    return applied
