"""Writers that upsert a record they read earlier (labels, annotations) keep a thumbnail made meanwhile."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.api.test_events import png


@pytest.fixture
def image_item(local_stack):
    client = local_stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "race", "label_classes": ["cat"]})["id"]
    item = client.upload(dataset_id, "cat.png", png(40, 30), "image/png")
    assert local_stack.edna.wait_for_thumbnails(30)
    return client, dataset_id, item["id"]


@pytest.fixture
def read_before_the_thumbnail(local_stack, monkeypatch):
    """The item service answers the record as it was before the worker indexed the thumbnail."""
    items = local_stack.edna.items
    read = items.get

    def stale(tenant, dataset_id, item_id):
        return replace(read(tenant, dataset_id, item_id), width=None, height=None, thumbnail=False)

    monkeypatch.setattr(items, "get", stale)


def indexed_preview(stack, dataset_id: str, item_id: str) -> tuple[int, int] | None:
    """What the index holds (the API would answer through the stale read)."""
    record = stack.edna.adapters.index.get("demo", dataset_id, item_id)
    return (record.width, record.height) if record.thumbnail else None


def test_a_label_set_from_a_stale_record_keeps_the_thumbnail(local_stack, image_item, read_before_the_thumbnail):
    client, dataset_id, item_id = image_item
    client.call("PUT", f"/api/datasets/{dataset_id}/items/{item_id}/label", json={"label": "cat"})
    assert indexed_preview(local_stack, dataset_id, item_id) == (40, 30)


def test_annotations_from_a_stale_record_keep_the_thumbnail(local_stack, image_item, read_before_the_thumbnail):
    client, dataset_id, item_id = image_item
    box = {"label": "cat", "x": 1, "y": 2, "w": 3, "h": 4}
    client.call("PUT", f"/api/datasets/{dataset_id}/items/{item_id}/annotations", json={"boxes": [box], "version": 0})
    assert indexed_preview(local_stack, dataset_id, item_id) == (40, 30)
