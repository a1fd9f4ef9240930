"""The AWS path of thumbnails on a real (moto) SQS queue: `complete` and the indexer queue them, and
the thumbnailer Lambda's entry point (`sqs_thumbnails`) makes them, refuses bombs, fails a poison alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import Stack, running_stack

from service.client import EdnaClient
from service.handlers import sqs_thumbnails
from service.vocabulary import layout
from tests.api.test_events import png
from tests.bombs import png_bomb

MAX_RECEIVES = 50  # a bound on draining: these tests put a handful of messages in the queue


@pytest.fixture
def thumbnails(moto_endpoint: str, monkeypatch) -> Iterator[tuple]:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"edna-thumbnails-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)  # the service's SQS client, as a Lambda's would be
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def stack(tmp_path: Path, moto_endpoint: str, thumbnails) -> Iterator[Stack]:
    with running_stack("s3", tmp_path, moto_endpoint, thumbnail_queue_url=thumbnails[1]) as s:
        yield s


def drain(thumbnails) -> list[dict]:
    """Every message now in the queue, as the SQS → Lambda trigger hands them over; deleted."""
    sqs, url = thumbnails
    records: list[dict] = []
    for _ in range(MAX_RECEIVES):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append({"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"the queue still had messages after {MAX_RECEIVES} receives")


def handle(stack: Stack, records: list[dict]) -> list[str]:
    """Run the thumbnailer Lambda's handler over a batch; the ids it reports as failed."""
    result = sqs_thumbnails({"Records": records}, indexer=stack.edna.indexer)
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def upload(client: EdnaClient, dataset_id: str, name: str, data: bytes) -> dict:
    return client.upload(dataset_id, name, data, "image/png")


def get(client: EdnaClient, dataset_id: str, item_id: str) -> dict:
    return client.call("GET", f"/api/datasets/{dataset_id}/items/{item_id}")


def test_complete_queues_the_thumbnail_and_the_handler_makes_it(stack, thumbnails):
    client = stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "queued"})["id"]
    item = upload(client, dataset_id, "cat.png", png(40, 30))
    assert item["status"] == "available" and item["preview"] is None  # `complete` only queued it

    records = drain(thumbnails)
    key = layout.item_object("demo", dataset_id, item["id"], "cat.png")
    assert [json.loads(r["body"]) for r in records] == [{"key": key}]
    assert handle(stack, records) == []
    preview = get(client, dataset_id, item["id"])["preview"]
    assert (preview["width"], preview["height"]) == (40, 30)

    # A replayed message finds the thumbnail of this version: nothing is decoded or written again.
    thumbnail = layout.thumbnail("demo", dataset_id, item["id"])
    s3 = boto3.client("s3", endpoint_url=stack.config.s3_endpoint_url)
    written = s3.head_object(Bucket=stack.config.s3_bucket, Key=thumbnail)["LastModified"]
    assert handle(stack, records) == []
    assert s3.head_object(Bucket=stack.config.s3_bucket, Key=thumbnail)["LastModified"] == written
    assert drain(thumbnails) == []  # and a label change queues nothing: the version is not new
    client.call("PUT", f"/api/datasets/{dataset_id}/items/{item['id']}/tags", json={"tags": {"k": "v"}})
    assert drain(thumbnails) == []


def test_a_bomb_is_refused_and_a_poison_message_fails_alone(stack, thumbnails):
    client = stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "bombs"})["id"]
    bomb = upload(client, dataset_id, "bomb.png", png_bomb())
    normal = upload(client, dataset_id, "fine.png", png(64, 16))
    poison = {"messageId": "poison", "body": json.dumps({"not": "a key"}), "eventSource": "aws:sqs"}

    assert handle(stack, [*drain(thumbnails), poison]) == ["poison"]
    refused = get(client, dataset_id, bomb["id"])
    assert refused["status"] == "available" and refused["preview"] is None
    preview = get(client, dataset_id, normal["id"])["preview"]
    assert (preview["width"], preview["height"]) == (64, 16)
