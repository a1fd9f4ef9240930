"""The running service's state: config, adapters and the domain services built over them."""

from __future__ import annotations

from dataclasses import dataclass

from service.adapters.audit import AuditLog
from service.adapters.usage import UsageMeter
from service.bootstrap import (
    Adapters,
    Part,
    build_audit_log,
    build_request_window,
    build_secret_box,
    build_thumbnail_queue,
    build_usage_meter,
    build_webhook_queue,
    tenant_locks,
    webhook_post,
    webhook_url_check,
)
from service.domain.annotations import Annotations
from service.domain.bulk_runs import BulkRuns
from service.domain.comparisons import ComparisonService
from service.domain.dataset_deletions import DatasetDeletions
from service.domain.dataset_map import DatasetMap
from service.domain.datasets import DatasetCatalog
from service.domain.duplicate_runs import DuplicateRuns
from service.domain.embeddings import Embeddings
from service.domain.export import Exporter
from service.domain.indexing import Indexer
from service.domain.items import ItemService, UploadLimits
from service.domain.jobs import JobService
from service.domain.labels import Labeler
from service.domain.mistakes import MistakeFinder
from service.domain.models import ModelCatalog
from service.domain.notifications import SUBSCRIPTIONS_CACHE_SECONDS, Notifier
from service.domain.preannotation import Preannotator
from service.domain.predictions import Predictions
from service.domain.quotas import QuotaBook, Quotas
from service.domain.run_events import RunEvents
from service.domain.similar_queries import SimilarQueries
from service.domain.similarity import Similarity
from service.domain.snapshot_diff import SnapshotDiff
from service.domain.snapshots import Snapshots
from service.domain.upload_batches import UploadBatches
from service.domain.usage import UsageReport
from service.domain.webhook_delivery import Backoff, Deliverer
from service.domain.webhooks import WebhookRegistry
from service.settings import Config


@dataclass
class Edna:
    config: Config
    adapters: Adapters
    datasets: DatasetCatalog
    deletions: DatasetDeletions
    items: ItemService
    uploads: UploadBatches
    indexer: Indexer
    labels: Labeler
    annotations: Annotations
    exporter: Exporter
    models: ModelCatalog
    jobs: JobService
    comparisons: ComparisonService
    quotas: QuotaBook
    usage: UsageReport
    meter: UsageMeter | None
    audit: AuditLog | None
    predictions: Predictions
    preannotator: Preannotator
    mistakes: MistakeFinder
    embeddings: Embeddings
    similarity: Similarity
    queries: SimilarQueries
    duplicates: DuplicateRuns
    bulk: BulkRuns
    maps: DatasetMap
    snapshots: Snapshots
    snapshot_diff: SnapshotDiff
    webhooks: WebhookRegistry
    notifier: Notifier

    @classmethod
    def build(cls, config: Config, adapters: Adapters, part: Part = Part.WHOLE) -> Edna:
        """`part`: what this process does; a production server's workers leave the background work
        (jobs, thumbnails, webhook deliveries) to its runner process."""
        limits = UploadLimits.of(config)
        blobs, index, vectors = adapters.blobs, adapters.index, adapters.vectors
        thumbnails = build_thumbnail_queue(config, part)
        webhooks = WebhookRegistry(blobs, webhook_url_check(config), build_secret_box(config))
        notifier = Notifier(webhooks, build_webhook_queue(config), SUBSCRIPTIONS_CACHE_SECONDS)
        indexer = Indexer(blobs, index, thumbnails, config.max_image_pixels, notifier.emit)
        if part is not Part.WEB:
            backoff = Backoff(config.webhook_max_attempts, config.webhook_retry_base_seconds)
            notifier.queue.serve(Deliverer(webhooks, webhook_post(config), backoff).attempt)
            thumbnails.serve(indexer.make_thumbnail)
        items = ItemService(blobs, index, indexer, limits, vectors, notifier.emit)
        predictions = Predictions(blobs, index)
        embeddings = Embeddings(blobs, vectors)
        runs = RunEvents(blobs, notifier.emit)
        adapters.jobs.finished.extend([predictions.on_run_finished, embeddings.on_run_finished, runs.on_run_finished])
        # The embedded store reports its writes the way S3 reports them to the indexer Lambda.
        listeners = getattr(blobs, "listeners", None)
        if listeners is not None:
            listeners.append(indexer.refresh_key)
        datasets = DatasetCatalog(blobs, index, vectors, tenant_locks(config, part, "datasets"))
        labeler = Labeler(blobs, index, items)
        models = ModelCatalog(blobs, limits)
        defaults = Quotas(
            max_items=config.quota_max_items,
            max_bytes=config.quota_max_bytes,
            max_concurrent_jobs=config.quota_max_concurrent_jobs,
            requests_per_minute=config.quota_requests_per_minute,
        )
        window = build_request_window(config, part)
        quotas = QuotaBook(blobs, index, defaults, window, tenant_locks(config, part, "uploads"))
        jobs = JobService(blobs, adapters.jobs, datasets, models, lambda t: quotas.limits(t).max_concurrent_jobs)
        meter = build_usage_meter(config, blobs)
        similarity = Similarity(vectors, index)
        snapshots = Snapshots(blobs, index, limits.download_ttl)
        snapshots.on_created.append(lambda tenant, snapshot: notifier.emit(tenant, "snapshot.created", snapshot))
        audit = build_audit_log(config, blobs)
        in_process = adapters.jobs.name != "mwaa"  # on AWS a run's record reaches the indexer Lambda as an S3 event
        bulk = BulkRuns(blobs, index, datasets, items, labeler, audit, in_process=in_process)
        return cls(
            config=config,
            adapters=adapters,
            datasets=datasets,
            deletions=DatasetDeletions(blobs, index, vectors, datasets, in_process=in_process),
            items=items,
            uploads=UploadBatches(items, quotas),
            indexer=indexer,
            labels=labeler,
            annotations=Annotations(blobs, index, items),
            exporter=Exporter(blobs, index, items),
            models=models,
            jobs=jobs,
            comparisons=ComparisonService(blobs, jobs, items),
            quotas=quotas,
            usage=UsageReport(meter, quotas, jobs),
            meter=meter,
            audit=audit,
            bulk=bulk,
            predictions=predictions,
            preannotator=Preannotator(index, labeler),
            mistakes=MistakeFinder(blobs, index),
            embeddings=embeddings,
            similarity=similarity,
            queries=SimilarQueries(blobs, limits, adapters.jobs, datasets, models, similarity),
            duplicates=DuplicateRuns(blobs, index, similarity, in_process=in_process),
            maps=DatasetMap(blobs, index, similarity),
            snapshots=snapshots,
            snapshot_diff=SnapshotDiff(blobs, index, snapshots),
            webhooks=webhooks,
            notifier=notifier,
        )

    def wait_for_thumbnails(self, timeout: float) -> bool:
        """Block until the thumbnails queued in this process are made (tests, `seed-demo`, CLI commands)."""
        return self.indexer.thumbnails.wait(timeout)

    def close(self) -> None:
        """Stop the job and thumbnail workers and write what the meter still holds (the app is going away)."""
        self.adapters.jobs.close()
        self.duplicates.close()
        self.bulk.close()
        self.deletions.close()
        self.indexer.thumbnails.close()
        self.notifier.queue.close()
        if self.meter:
            self.meter.close()
        if self.audit:
            self.audit.close()

    @property
    def blobs(self):
        return self.adapters.blobs

    @property
    def vectors(self):
        return self.adapters.vectors
