"""Poison messages in an SQS batch of S3 notifications for the indexer Lambda (`sqs_s3_events`).

A message that can never be applied (not JSON, JSON that is no S3 notification, a record without
its object) is reported in `batchItemFailures`, so SQS redelivers it and, after the queue's
maxReceiveCount, moves it to the dead-letter queue; the log names its message id. The good
messages of the same batch are indexed.

Decided, not failures: a key outside the item layout (records, thumbnails, job parts: the bucket's
notifications cover every key, so these are routine) is ignored; an event for an item deleted
since (a late or replayed event) is applied as what storage says now, i.e. no item, and succeeds.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from PIL import Image

from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.searchindex import AVAILABLE, ItemQuery
from service.adapters.searchindex.sqlite import SqliteSearchIndex
from service.domain.indexing import Indexer
from service.handlers import sqs_s3_events
from service.vocabulary import layout
from service.vocabulary.ids import new_id

TENANT, DATASET = "acme", new_id()


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), color).save(out, format="PNG")
    return out.getvalue()


def s3_event(key: str, name: str = "ObjectCreated:Put") -> str:
    record = {
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": "b"}, "object": {"key": quote_plus(key)}},
    }
    return json.dumps({"Records": [record]})


def message(message_id: str, body: str) -> dict:
    return {"messageId": message_id, "receiptHandle": f"r-{message_id}", "body": body, "eventSource": "aws:sqs"}


@pytest.fixture
def indexer(tmp_path: Path) -> Indexer:
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put_bytes(layout.dataset_record(TENANT, DATASET), b"{}", "application/json")  # items need their dataset
    return Indexer(blobs, SqliteSearchIndex(tmp_path / "index.db"))


def test_poison_messages_fail_alone_and_the_good_ones_are_indexed(indexer: Indexer, caplog):
    blobs = indexer.blobs
    good = []
    for color in ("red", "green", "blue"):
        item = layout.ItemKey(TENANT, DATASET, new_id(), f"{color}.png")
        blobs.put_bytes(item.object_key, png(color), "image/png")
        good.append(item)
    deleted = layout.ItemKey(TENANT, DATASET, new_id(), "gone.png")
    blobs.put_bytes(deleted.object_key, png("black"), "image/png")
    indexer.refresh(deleted)
    blobs.delete_many([deleted.object_key])  # the listener-less store: the index still lists it

    batch = [
        message("good-1", s3_event(good[0].object_key)),
        message("not-json", "{this is not json"),
        message("good-2", s3_event(good[1].object_key)),
        message("no-records", json.dumps({"Message": "hello"})),
        message("not-an-object", json.dumps([1, 2, 3])),
        message("record-without-s3", json.dumps({"Records": [{"eventSource": "aws:s3"}]})),
        message("outside-layout", s3_event(f"tenants/{TENANT}/models/{new_id()}/model.json")),
        message("elsewhere", s3_event("someone-elses/file.txt")),
        message("deleted-item", s3_event(deleted.object_key)),
        message("test-event", json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})),
        message("good-3", s3_event(good[2].object_key, "ObjectTagging:Put")),
        {"messageId": "no-body"},
    ]
    with caplog.at_level(logging.ERROR, logger="edna.handlers"):
        result = sqs_s3_events({"Records": batch}, indexer=indexer)

    poison = ["not-json", "no-records", "not-an-object", "record-without-s3", "no-body"]
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(poison)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for message_id in poison:
        assert message_id in logged, logged
    listed = indexer.index.search(TENANT, ItemQuery(dataset_id=DATASET), 100, None)
    assert {(r.item_id, r.status) for r in listed} == {(g.item_id, AVAILABLE) for g in good}
    assert indexer.index.get(TENANT, DATASET, deleted.item_id) is None


def test_a_batch_of_only_good_messages_reports_no_failure(indexer: Indexer):
    item = layout.ItemKey(TENANT, DATASET, new_id(), "one.png")
    indexer.blobs.put_bytes(item.object_key, png("white"), "image/png")
    result = sqs_s3_events({"Records": [message("m1", s3_event(item.object_key))]}, indexer=indexer)
    assert result == {"batchItemFailures": []}
    assert indexer.index.get(TENANT, DATASET, item.item_id).status == AVAILABLE
