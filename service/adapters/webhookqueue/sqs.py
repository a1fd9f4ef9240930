"""SqsWebhookQueue: one SQS message per attempt, drained by the delivery Lambda (`sqs_webhooks`)."""

from __future__ import annotations

import json

import boto3

from service.adapters.webhookqueue import WebhookQueue

MAX_DELAY = 900  # SQS's longest DelaySeconds: a later retry comes this early


class SqsWebhookQueue(WebhookQueue):
    name = "sqs"

    def __init__(self, url: str, client=None):
        self.url = url
        self.client = client or boto3.client("sqs")

    def send(self, message: dict, delay: float = 0.0) -> None:
        delay_seconds = min(MAX_DELAY, max(0, round(delay)))
        self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(message), DelaySeconds=delay_seconds)
