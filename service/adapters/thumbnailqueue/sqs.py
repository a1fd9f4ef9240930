"""SqsThumbnailQueue: one SQS message per thumbnail, drained by the thumbnailer Lambda (`sqs_thumbnails`)."""

from __future__ import annotations

import json

import boto3

from service.adapters.thumbnailqueue import THUMBNAIL_MESSAGE, ThumbnailQueue


class SqsThumbnailQueue(ThumbnailQueue):
    """A failed send raises: the storage event that asked for it is retried by its own queue."""

    name = "sqs"

    def __init__(self, url: str, client=None):
        self.url = url
        self.client = client or boto3.client("sqs")

    def submit(self, key: str) -> bool:
        self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps({THUMBNAIL_MESSAGE: key}))
        return True
