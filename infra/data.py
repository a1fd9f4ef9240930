"""The data bucket (tenants' items, models and job results) and its events queue for the indexer."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.buckets import PrivateBucket
from infra.config import StackConfig
from infra.documents import document, statement

TENANTS_PREFIX = "tenants/"  # service/vocabulary/layout.py: every tenant's data lives under it
# SQS keeps a message invisible while a Lambda works on it: AWS advises 6x the function timeout.
INDEXER_TIMEOUT_SECONDS = 60
THUMBNAILER_TIMEOUT_SECONDS = 60
WEBHOOKS_TIMEOUT_SECONDS = 60  # a batch of 5 attempts, each bounded by EDNA_WEBHOOK_TIMEOUT_SECONDS twice


class Data(pulumi.ComponentResource):
    def __init__(self, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:web:Data", "data", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.store = PrivateBucket("data", self, bucket_prefix=f"{config.prefix}-data-")
        self.bucket = self.store.bucket
        self.store.seal()
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            "data-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "abort-incomplete-multipart",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": config.noncurrent_version_days},
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.store.versioning]),
        )
        self.events, self.dead_letters = _queue_with_dead_letters("events", INDEXER_TIMEOUT_SECONDS, 5, child)
        # Thumbnails to make: the indexer (and `complete`) send one message per new image version, the
        # thumbnailer Lambda drains them; decoding never happens in a request or in the indexer.
        self.thumbnails, self.thumbnail_dead_letters = _queue_with_dead_letters(
            "thumbnails", THUMBNAILER_TIMEOUT_SECONDS, 3, child
        )
        # Webhook deliveries: the API and the indexer send one message per attempt due, the webhooks
        # Lambda delivers it and sends the retry back with its delay; a request never waits on a receiver.
        self.webhooks, self.webhook_dead_letters = _queue_with_dead_letters(
            "webhooks", WEBHOOKS_TIMEOUT_SECONDS, 3, child
        )
        self.events_policy = aws.sqs.QueuePolicy(
            "events-from-s3",
            queue_url=self.events.url,
            policy=document(
                statement(
                    ["sqs:SendMessage"],
                    [self.events.arn],
                    Principal={"Service": "s3.amazonaws.com"},
                    Condition={"ArnEquals": {"aws:SourceArn": self.bucket.arn}},
                )
            ),
            opts=child,
        )
        self.notifications = aws.s3.BucketNotification(
            "data-events",
            bucket=self.bucket.id,
            queues=[
                {
                    "queue_arn": self.events.arn,
                    "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"],
                    "filter_prefix": TENANTS_PREFIX,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.events_policy]),
        )
        self.register_outputs(
            {"bucket": self.bucket.id, "events_queue": self.events.arn, "thumbnails_queue": self.thumbnails.arn}
        )

    def allow_browser_uploads(self, site_origin: pulumi.Input[str]) -> aws.s3.BucketCorsConfiguration:
        """Browsers PUT (or POST) items to pre-signed URLs from the site's origin, and read the ETag of each part."""
        self.cors = aws.s3.BucketCorsConfiguration(
            "data-cors",
            bucket=self.bucket.id,
            cors_rules=[
                {
                    "allowed_methods": ["GET", "HEAD", "PUT", "POST"],
                    "allowed_origins": [site_origin],
                    "allowed_headers": ["*"],
                    "expose_headers": ["ETag"],
                    "max_age_seconds": 3600,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return self.cors


def _queue_with_dead_letters(
    name: str, consumer_timeout: int, receives: int, opts: pulumi.ResourceOptions
) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
    """An encrypted queue whose messages go to an encrypted dead-letter queue after `receives` tries;
    a message stays hidden for 6 consumer timeouts, so no batch still running is handed out again."""
    dead_letters = aws.sqs.Queue(
        f"{name}-dlq", message_retention_seconds=14 * 24 * 3600, sqs_managed_sse_enabled=True, opts=opts
    )
    queue = aws.sqs.Queue(
        name,
        visibility_timeout_seconds=6 * consumer_timeout,
        message_retention_seconds=4 * 24 * 3600,
        sqs_managed_sse_enabled=True,
        redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": dead_letters.arn, "maxReceiveCount": receives}),
        opts=opts,
    )
    return queue, dead_letters
