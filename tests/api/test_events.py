"""Storage events: the index follows what lands in storage, not only what the API was told.

On S3 the events really travel: the moto server sends the bucket's notifications to an SQS queue,
and the test drains the queue into the indexer Lambda's entry point (`sqs_s3_events`), as the
SQS → Lambda trigger would. On the local store the blob store calls the indexer after each write.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import boto3
import pytest
import requests
from conftest import Stack, running_stack, s3_client
from digits import delete_dataset
from PIL import Image

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.client import ApiError, EdnaClient
from service.demo import CLASSES, DIGITS_INPUT
from service.domain.events import on_storage_event
from service.domain.indexing import Indexer
from service.handlers import sqs_s3_events
from service.settings import MiB
from service.vocabulary import layout

TENANT = "demo"  # the tenant of Stack.client()'s tokens
EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"]
MAX_RECEIVES = 200  # a bound on draining: the tests never put that many messages in a queue


def png(width: int = 48, height: int = 32, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def items_path(dataset_id: str) -> str:
    return f"/api/datasets/{dataset_id}/items"


def item_path(dataset_id: str, item_id: str) -> str:
    return f"{items_path(dataset_id)}/{item_id}"


def new_dataset(client: EdnaClient, name: str = "events", **body) -> str:
    return client.call("POST", "/api/datasets", json={"name": name, **body})["id"]


@dataclass
class Sent:
    """An upload sent to storage without `complete`: the API was never told it arrived."""

    dataset_id: str
    item_id: str
    filename: str
    data: bytes

    @property
    def key(self) -> str:
        return layout.item_object(TENANT, self.dataset_id, self.item_id, self.filename)

    @property
    def path(self) -> str:
        return item_path(self.dataset_id, self.item_id)


def send_without_complete(
    client: EdnaClient, dataset_id: str, filename: str, data: bytes, content_type: str = "image/png", size: int = 0
) -> Sent:
    body = {"filename": filename, "content_type": content_type, "size": size or len(data)}
    ticket = client.call("POST", items_path(dataset_id), json=body)
    assert ticket["item"]["status"] == "pending"
    client.transfer(ticket["upload"], data, content_type)
    return Sent(dataset_id, ticket["item"]["id"], ticket["item"]["filename"], data)


def view(item: dict) -> dict:
    """An item as the API shows it, minus what is signed anew or stamped on every observation."""
    return {
        **{k: v for k, v in item.items() if k not in ("download_url", "thumbnail_url", "preview", "updated_at")},
        "has_thumbnail": item["thumbnail_url"] is not None,
        "preview_size": (item["preview"]["width"], item["preview"]["height"]) if item["preview"] else None,
    }


def status_of(client: EdnaClient, path: str) -> int:
    try:
        client.call("GET", path)
    except ApiError as exc:
        return exc.status
    return 200


# -- the AWS path: S3 → SQS → sqs_s3_events ---------------------------------------------------------


@dataclass
class Queue:
    """An SQS queue that receives the stack bucket's notifications, drained by hand."""

    sqs: Any
    url: str
    arn: str
    stack: Stack
    configured: list[dict] = field(default_factory=list)  # what arrived when notifications were set up

    @property
    def bucket(self) -> str:
        return self.stack.config.s3_bucket

    def drain(self) -> list[dict]:
        """Every message now in the queue, as the SQS → Lambda trigger hands them over; deleted."""
        records: list[dict] = []
        for _ in range(MAX_RECEIVES):
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                return records
            for message in messages:
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.arn,
                        "awsRegion": "us-east-1",
                    }
                )
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError(f"the queue still had messages after {MAX_RECEIVES} receives")

    def handle(self, records: list[dict]) -> list[str]:
        """Run the indexer Lambda's handler over a batch; the ids it reports as failed."""
        result = sqs_s3_events({"Records": records}, indexer=self.stack.edna.indexer)
        assert self.stack.edna.wait_for_thumbnails(30)  # the queued ones (on AWS: the thumbnailer Lambda's)
        return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]

    def sync(self) -> list[dict]:
        """Drain and apply until the queue stays empty (the indexer's thumbnails notify too)."""
        seen: list[dict] = []
        for _ in range(10):
            records = self.drain()
            if not records:
                return seen
            assert self.handle(records) == []
            seen += records
        raise AssertionError("storage events kept coming")


def s3_events(records: list[dict]) -> list[tuple[str, str]]:
    """(eventName, raw key as S3 sent it) of every S3 record in a batch, test events left out."""
    out = []
    for record in records:
        body = json.loads(record["body"])
        out += [(r["eventName"], r["s3"]["object"]["key"]) for r in body.get("Records", [])]
    return out


def events_for(records: list[dict], key: str) -> list[str]:
    return [name for name, raw in s3_events(records) if unquote_plus(raw) == key]


@pytest.fixture
def s3_stack(tmp_path: Path, moto_endpoint: str) -> Iterator[Stack]:
    # Unversioned: moto sends no event for a delete marker (S3 sends ObjectRemoved:DeleteMarkerCreated).
    with running_stack("s3", tmp_path, moto_endpoint, versioned=False) as stack:
        yield stack


@pytest.fixture
def queue(s3_stack: Stack, moto_endpoint: str) -> Iterator[Queue]:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"edna-events-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3_client(moto_endpoint).put_bucket_notification_configuration(
        Bucket=s3_stack.config.s3_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": EVENTS,
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": layout.TENANTS}]}},
                }
            ]
        },
    )
    q = Queue(sqs, url, arn, s3_stack)
    q.configured = q.drain()
    yield q
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def s3_dataset(s3_stack: Stack, queue: Queue) -> tuple[EdnaClient, str]:
    client = s3_stack.client("admin")
    dataset_id = new_dataset(client, label_classes=["cat", "dog"])
    queue.sync()  # dataset.json's own event: ignored, but out of the way
    return client, dataset_id


def test_configuring_notifications_sends_one_test_event_that_the_handler_skips(queue):
    assert [json.loads(r["body"]).get("Event") for r in queue.configured] == ["s3:TestEvent"]
    assert queue.handle(queue.configured) == []


def test_an_upload_without_complete_becomes_available_through_its_event(s3_dataset, queue):
    client, dataset_id = s3_dataset
    image = png(40, 30)
    sent = send_without_complete(client, dataset_id, "cat.png", image)
    assert client.call("GET", sent.path)["status"] == "pending"  # nothing told the API yet

    records = queue.drain()
    # Besides ObjectCreated:Put, moto emits ObjectTagging:Put for every PUT (real S3 does not).
    assert "ObjectCreated:Put" in events_for(records, sent.key)
    assert set(events_for(records, sent.key)) <= {"ObjectCreated:Put", "ObjectTagging:Put"}
    assert queue.handle(records) == []

    item = client.call("GET", sent.path)
    assert item["status"] == "available" and item["size"] == len(image)
    assert item["created_by"] == "admin-demo"  # the pending record's author is kept
    assert item["preview"] == {"thumbnail_url": item["thumbnail_url"], "width": 40, "height": 30}
    assert requests.get(item["download_url"], timeout=10).content == image
    assert [i["id"] for i in client.pages(items_path(dataset_id), status="available")] == [sent.item_id]
    assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 1
    # The thumbnail the indexer wrote notifies too; that event is not an item and changes nothing.
    thumbnail = layout.thumbnail(TENANT, dataset_id, sent.item_id)
    assert "ObjectCreated:Put" in events_for(queue.sync(), thumbnail)
    assert view(client.call("GET", sent.path)) == view(item)
    # Completing afterwards is harmless.
    assert view(client.call("POST", f"{sent.path}/complete", json={})) == view(item)


def test_an_upload_of_the_wrong_size_stays_pending_through_its_event(s3_dataset, queue):
    client, dataset_id = s3_dataset
    sent = send_without_complete(client, dataset_id, "short.png", png(), size=len(png()) + 10)
    assert queue.handle(queue.drain()) == []
    assert client.call("GET", sent.path)["status"] == "pending"
    with pytest.raises(ApiError) as err:
        client.call("POST", f"{sent.path}/complete", json={})
    assert err.value.status == 422


def test_url_encoded_keys_are_decoded(s3_dataset, queue):
    client, dataset_id = s3_dataset
    filename = "my cat + dög 100% été.png"
    sent = send_without_complete(client, dataset_id, filename, png(color="blue"))
    records = queue.drain()
    raw = [raw for name, raw in s3_events(records) if name == "ObjectCreated:Put"]
    assert len(raw) == 1
    assert "+" in raw[0] and "%2B" in raw[0] and "%25" in raw[0] and "%2F" in raw[0]  # as S3 sends it
    assert unquote_plus(raw[0]) == sent.key
    assert queue.handle(records) == []
    item = client.call("GET", sent.path)
    assert item["status"] == "available" and item["filename"] == filename
    assert [i["id"] for i in client.pages("/api/search", q="dög")] == [sent.item_id]


def test_tagging_in_storage_reaches_the_index_through_tagging_events(s3_dataset, queue, moto_endpoint):
    """moto emits ObjectTagging:Put for PutObjectTagging and ObjectTagging:Delete for DeleteObjectTagging."""
    client, dataset_id = s3_dataset
    item = client.upload(dataset_id, "tagged.png", png(), "image/png")
    queue.sync()
    key = layout.item_object(TENANT, dataset_id, item["id"], "tagged.png")
    s3 = s3_client(moto_endpoint)
    tagset = [{"Key": "label", "Value": "dog"}, {"Key": "source", "Value": "camera 2"}]
    s3.put_object_tagging(Bucket=queue.bucket, Key=key, Tagging={"TagSet": tagset})
    records = queue.drain()
    assert events_for(records, key) == ["ObjectTagging:Put"]
    assert queue.handle(records) == []
    tagged = client.call("GET", item_path(dataset_id, item["id"]))
    assert tagged["label"] == "dog" and tagged["tags"] == {"source": "camera 2"}
    assert client.call("GET", f"/api/datasets/{dataset_id}")["label_counts"] == {"dog": 1}
    assert [i["id"] for i in client.pages(items_path(dataset_id), q="camera")] == [item["id"]]

    s3.delete_object_tagging(Bucket=queue.bucket, Key=key)
    records = queue.drain()
    assert events_for(records, key) == ["ObjectTagging:Delete"]
    assert queue.handle(records) == []
    untagged = client.call("GET", item_path(dataset_id, item["id"]))
    assert untagged["label"] is None and untagged["tags"] == {}
    assert [i["id"] for i in client.pages(items_path(dataset_id), unlabeled="true")] == [item["id"]]


def test_an_object_deleted_in_storage_leaves_the_index(s3_dataset, queue, moto_endpoint):
    client, dataset_id = s3_dataset
    sent = send_without_complete(client, dataset_id, "gone.png", png())
    queue.sync()
    assert client.call("GET", sent.path)["status"] == "available"

    s3_client(moto_endpoint).delete_object(Bucket=queue.bucket, Key=sent.key)
    records = queue.drain()
    assert events_for(records, sent.key) == ["ObjectRemoved:Delete"]
    assert queue.handle(records) == []
    assert status_of(client, sent.path) == 404
    assert list(client.pages(items_path(dataset_id))) == []
    assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 0


def test_a_replayed_batch_leaves_the_same_state(s3_dataset, queue, moto_endpoint):
    client, dataset_id = s3_dataset
    sent = send_without_complete(client, dataset_id, "twice.png", png(20, 10))
    s3_client(moto_endpoint).put_object_tagging(
        Bucket=queue.bucket, Key=sent.key, Tagging={"TagSet": [{"Key": "label", "Value": "cat"}]}
    )
    batch = queue.drain()
    assert queue.handle(batch) == []
    first = view(client.call("GET", sent.path))
    dataset = client.call("GET", f"/api/datasets/{dataset_id}")
    assert first["status"] == "available" and first["label"] == "cat" and first["has_thumbnail"]

    assert queue.handle(batch) == []
    assert view(client.call("GET", sent.path)) == first
    assert client.call("GET", f"/api/datasets/{dataset_id}") == dataset
    # The replayed events found the thumbnail already made for this version: nothing new was written.
    thumbnail = layout.thumbnail(TENANT, dataset_id, sent.item_id)
    assert events_for(queue.sync(), thumbnail).count("ObjectCreated:Put") == 1  # the first batch's only

    s3_client(moto_endpoint).delete_object(Bucket=queue.bucket, Key=sent.key)
    removal = queue.drain()
    for _ in range(2):
        assert queue.handle(removal) == []
        assert status_of(client, sent.path) == 404
        assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 0


def test_a_late_created_event_does_not_bring_a_deleted_item_back(s3_dataset, queue, moto_endpoint):
    client, dataset_id = s3_dataset
    item = client.upload(dataset_id, "late.png", png(), "image/png")
    key = layout.item_object(TENANT, dataset_id, item["id"], "late.png")
    created = queue.drain()  # held back: delivered late
    assert "ObjectCreated:Put" in events_for(created, key)

    s3_client(moto_endpoint).delete_object(Bucket=queue.bucket, Key=key)
    assert queue.handle(queue.drain()) == []
    assert status_of(client, item_path(dataset_id, item["id"])) == 404

    assert queue.handle(created) == []
    assert status_of(client, item_path(dataset_id, item["id"])) == 404
    assert list(client.pages(items_path(dataset_id))) == []
    assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 0


def replay(client: EdnaClient, dataset_id: str, filename: str) -> tuple[dict, dict, bytes]:
    """An item uploaded and completed, whose upload object its uploader kept: (item, upload, bytes)."""
    data = png()
    body = {"filename": filename, "content_type": "image/png", "size": len(data)}
    ticket = client.call("POST", items_path(dataset_id), json=body)
    client.transfer(ticket["upload"], data, "image/png")
    item = client.call("POST", f"{item_path(dataset_id, ticket['item']['id'])}/complete", json={})
    return item, ticket["upload"], data


@pytest.mark.parametrize("deleted", ["item", "dataset"])
def test_an_upload_url_replayed_after_a_delete_is_discarded_by_its_event(s3_dataset, queue, deleted):
    """S3 cannot revoke the URL (README): the replay lands, and its event deletes it, never indexing it."""
    client, dataset_id = s3_dataset
    item, upload, data = replay(client, dataset_id, "ghost.png")
    key = layout.item_object(TENANT, dataset_id, item["id"], "ghost.png")
    queue.handle(queue.drain())
    if deleted == "item":
        client.call("DELETE", item_path(dataset_id, item["id"]))
    else:
        delete_dataset(client, dataset_id)
    queue.handle(queue.drain())

    client.transfer(upload, data, "image/png")  # accepted: nothing is stored there any more
    assert "ObjectCreated:Put" in events_for(records := queue.drain(), key)
    assert queue.handle(records) == []

    assert queue.stack.edna.blobs.head(key) is None
    assert status_of(client, item_path(dataset_id, item["id"])) == 404
    if deleted == "item":
        assert list(client.pages(items_path(dataset_id))) == []
        assert client.call("GET", f"/api/datasets/{dataset_id}")["item_count"] == 0
    for _ in range(2):  # the tombstone stays: a second replay is discarded as well
        client.transfer(upload, data, "image/png")
        assert queue.handle(queue.drain()) == []
        assert queue.stack.edna.blobs.head(key) is None


def test_an_upload_url_replayed_over_a_completed_item_is_refused(s3_dataset, queue):
    client, dataset_id = s3_dataset
    item, upload, _ = replay(client, dataset_id, "kept.png")
    with pytest.raises(ApiError) as err:
        client.transfer(upload, png(color="blue"), "image/png")
    assert err.value.status == 412
    assert requests.get(client.url(item["download_url"]), timeout=10).content == png()


def test_a_model_upload_url_replayed_after_the_model_was_deleted_is_discarded(s3_dataset, queue):
    client, _ = s3_dataset
    onnx = b"not checked: never completed"
    body = {"name": "gone", "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    ticket = client.call("POST", "/api/models", json=body)
    model_id = ticket["model"]["id"]
    client.call("DELETE", f"/api/models/{model_id}")
    queue.handle(queue.drain())

    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    assert queue.handle(queue.drain()) == []

    assert queue.stack.edna.blobs.head(layout.model_file(TENANT, model_id)) is None


def test_an_upload_deleted_before_its_events_stays_pending(s3_dataset, queue, moto_endpoint):
    """A pending upload whose object came and went: not available, not forgotten (its ticket is valid)."""
    client, dataset_id = s3_dataset
    sent = send_without_complete(client, dataset_id, "flicker.png", png())
    created = queue.drain()
    s3_client(moto_endpoint).delete_object(Bucket=queue.bucket, Key=sent.key)
    removed = queue.drain()
    for batch in (removed, created):  # out of order
        assert queue.handle(batch) == []
        assert client.call("GET", sent.path)["status"] == "pending"
    with pytest.raises(ApiError) as err:
        client.call("POST", f"{sent.path}/complete", json={})
    assert err.value.status == 409


def test_multipart_completion_events_converge_on_the_completed_item(s3_dataset, queue):
    """A multipart completion emits ObjectCreated:CompleteMultipartUpload and (moto) an extra Put."""
    client, dataset_id = s3_dataset
    data = b"\x00\x01" * (3 * MiB + 17)
    item = client.upload(dataset_id, "big.bin", data, "application/octet-stream")
    key = layout.item_object(TENANT, dataset_id, item["id"], "big.bin")
    records = queue.drain()
    assert "ObjectCreated:CompleteMultipartUpload" in events_for(records, key)
    assert queue.handle(records) == []
    assert queue.handle(records) == []
    assert view(client.call("GET", item_path(dataset_id, item["id"]))) == view(item)


def test_a_poison_message_fails_alone(s3_dataset, queue, moto_endpoint):
    client, dataset_id = s3_dataset
    annotated = client.upload(dataset_id, "annotated.png", png(), "image/png")
    queue.sync()
    # A corrupt annotation sidecar, written behind the API's back: refreshing its item raises.
    sidecar = layout.annotations_record(TENANT, dataset_id, annotated["id"])
    s3 = s3_client(moto_endpoint)
    s3.put_object(Bucket=queue.bucket, Key=sidecar, Body=b"{not json", ContentType="application/json")
    broken = queue.drain()
    sent = send_without_complete(client, dataset_id, "fine.png", png(color="green"))
    good = queue.drain()
    garbage = {**good[0], "messageId": str(uuid.uuid4()), "body": "this is not JSON"}
    assert "ObjectCreated:Put" in events_for(broken, sidecar)
    assert len(broken) == len(events_for(broken, sidecar))  # every message of `broken` is the sidecar's

    failed = queue.handle([*broken, *good, garbage])
    assert sorted(failed) == sorted([*(r["messageId"] for r in broken), garbage["messageId"]])
    assert client.call("GET", sent.path)["status"] == "available"  # the rest of the batch was applied

    # Once the sidecar is repaired, the retried message goes through.
    document = {"version": 1, "boxes": [{"label": "cat", "x": 1, "y": 1, "w": 5, "h": 5}]}
    s3.put_object(Bucket=queue.bucket, Key=sidecar, Body=json.dumps(document).encode())
    queue.drain()
    assert queue.handle(broken) == []
    assert client.call("GET", item_path(dataset_id, annotated["id"]))["annotations"] == 1


def test_a_record_without_its_s3_part_fails_its_message_only(s3_dataset, queue):
    client, dataset_id = s3_dataset
    sent = send_without_complete(client, dataset_id, "ok.png", png())
    good = queue.drain()
    malformed = {
        **good[0],
        "messageId": str(uuid.uuid4()),
        "body": json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
    }
    assert queue.handle([malformed, *good]) == [malformed["messageId"]]
    assert client.call("GET", sent.path)["status"] == "available"


# -- the local path: the blob store notifies the indexer itself --------------------------------------


@pytest.fixture
def local_dataset(local_stack: Stack) -> tuple[EdnaClient, str]:
    client = local_stack.client("admin")
    return client, new_dataset(client, label_classes=["cat", "dog"])


def test_local_upload_without_complete_is_available_at_once(local_stack, local_dataset):
    client, dataset_id = local_dataset
    image = png(64, 16)
    sent = send_without_complete(client, dataset_id, "now é+.png", image)
    item = client.call("GET", sent.path)
    assert item["status"] == "available" and item["size"] == len(image) and item["filename"] == "now é+.png"
    assert local_stack.edna.wait_for_thumbnails(30)  # the PUT only queued it
    item = client.call("GET", sent.path)
    assert item["preview"]["width"] == 64 and item["preview"]["height"] == 16
    assert requests.get(client.url(item["download_url"]), timeout=10).content == image
    assert view(client.call("POST", f"{sent.path}/complete", json={})) == view(client.call("GET", sent.path))


def test_local_tags_written_in_storage_reach_the_api(local_stack, local_dataset):
    client, dataset_id = local_dataset
    sent = send_without_complete(client, dataset_id, "tagme.png", png())
    local_stack.edna.blobs.put_tags(sent.key, {"label": "cat", "season": "winter"})
    item = client.call("GET", sent.path)
    assert item["label"] == "cat" and item["tags"] == {"season": "winter"}
    assert client.call("GET", f"/api/datasets/{dataset_id}")["label_counts"] == {"cat": 1}
    assert [i["id"] for i in client.pages(items_path(dataset_id), label="cat")] == [sent.item_id]
    assert [i["id"] for i in client.pages("/api/search", q="winter")] == [sent.item_id]

    local_stack.edna.blobs.put_tags(sent.key, {})
    item = client.call("GET", sent.path)
    assert item["label"] is None and item["tags"] == {}

    local_stack.edna.blobs.delete_many([sent.key])
    assert status_of(client, sent.path) == 404


# -- on_storage_event itself --------------------------------------------------------------------------


def s3_record(name: str, key: str) -> dict:
    return {"eventSource": "aws:s3", "eventName": name, "s3": {"object": {"key": quote_plus(key)}}}


def index_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM items ORDER BY item_id").fetchall()


def stored_objects(blobs: LocalBlobStore) -> list[tuple[str, str]]:
    return [(o.key, o.etag) for o in blobs.iter_objects(layout.TENANTS)]


@pytest.mark.parametrize("event_name", ["ObjectCreated:Put", "ObjectTagging:Put", "ObjectRemoved:Delete"])
def test_events_for_keys_that_are_not_items_change_nothing(tmp_path, event_name):
    blobs = LocalBlobStore(tmp_path / "blobs")  # no listeners: only the events below reach the indexer
    index = SqliteSearchIndex(tmp_path / "index.db")
    indexer = Indexer(blobs, index)
    dataset_id, item_id = "01aaaaaaaaaaaaaaaaaaaaaaaa", "01bbbbbbbbbbbbbbbbbbbbbbbb"
    item = layout.ItemKey(TENANT, dataset_id, item_id, "one.png")
    blobs.put_bytes(layout.dataset_record(TENANT, dataset_id), b"{}", "application/json")
    blobs.put_bytes(item.object_key, png(), "image/png")
    blobs.put_tags(item.object_key, {"label": "cat"})
    assert indexer.refresh(item).thumbnail
    thumbnail = layout.thumbnail(TENANT, dataset_id, item_id)
    assert blobs.head(thumbnail) is not None
    rows, objects = index_rows(tmp_path / "index.db"), stored_objects(blobs)

    keys = [
        thumbnail,
        layout.dataset_record(TENANT, dataset_id),
        layout.thumbnails_prefix(TENANT, dataset_id) + "other.webp",
        layout.item_prefix(TENANT, dataset_id, item_id),  # a "folder" marker, not an object
        f"tenants/{TENANT}/jobs/j1/job.json",
        "outside/the/layout.png",
    ]
    applied = on_storage_event({"Records": [s3_record(event_name, k) for k in keys]}, indexer)
    if not event_name.startswith("ObjectRemoved"):
        assert applied == 0
    assert index_rows(tmp_path / "index.db") == rows
    assert stored_objects(blobs) == objects
    assert index.get(TENANT, dataset_id, item_id).label == "cat"


def test_records_from_other_sources_are_ignored(tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    indexer = Indexer(blobs, SqliteSearchIndex(tmp_path / "index.db"))
    item = layout.ItemKey(TENANT, "01aaaaaaaaaaaaaaaaaaaaaaaa", "01bbbbbbbbbbbbbbbbbbbbbbbb", "x.png")
    blobs.put_bytes(layout.dataset_record(TENANT, item.dataset_id), b"{}", "application/json")
    blobs.put_bytes(item.object_key, png(), "image/png")
    record = {**s3_record("ObjectCreated:Put", item.object_key), "eventSource": "aws:sqs"}
    assert on_storage_event({"Records": [record]}, indexer) == 0
    assert indexer.index.get(item.tenant, item.dataset_id, item.item_id) is None
    assert on_storage_event({"Records": [s3_record("ObjectCreated:Put", item.object_key)]}, indexer) == 1
    assert indexer.index.get(item.tenant, item.dataset_id, item.item_id).status == "available"
