"""The grid's sorts (name, label, size, both ways) page through a cursor, and its exact count of matches."""

from __future__ import annotations

import pytest

from tests.api.test_events import png


@pytest.fixture
def world(stack):
    client = stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "sorts", "label_classes": ["cat", "dog"]})["id"]
    items = {}
    for n, (label, side) in enumerate([("dog", 30), (None, 10), ("cat", 20), ("dog", 10), (None, 40), ("cat", 30)]):
        item = client.upload(dataset_id, f"f{5 - n}.png", png(side, side), "image/png")
        if label:
            client.call("PUT", f"/api/datasets/{dataset_id}/items/{item['id']}/label", json={"label": label})
        items[item["id"]] = client.call("GET", f"/api/datasets/{dataset_id}/items/{item['id']}")
    return client, dataset_id, items


def walk(client, dataset_id: str | None, limit: int = 2, **params) -> list[dict]:
    """Every page of a listing (of the dataset) or of a search (dataset None), `limit` items a page."""
    path = "/api/search" if dataset_id is None else f"/api/datasets/{dataset_id}/items"
    found, cursor = [], None
    while True:
        page = client.call("GET", path, params={**params, "limit": limit, "cursor": cursor})
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("name", lambda i: i["filename"], False),
        ("-name", lambda i: i["filename"], True),
        ("label", lambda i: i["label"], False),
        ("-label", lambda i: i["label"], True),
        ("size", lambda i: i["size"], False),
        ("-size", lambda i: i["size"], True),
    ],
)
def test_each_sort_pages_every_item_once_in_its_order(world, sort, key, reverse):
    client, dataset_id, items = world
    got = walk(client, dataset_id, sort=sort)
    by_id = sorted(items.values(), key=lambda i: i["id"])
    # Unlabelled items come last whichever the direction, among themselves in item id order.
    unlabelled = [i for i in by_id if i["label"] is None] if sort.endswith("label") else []
    # Sorting is stable, reverse too: ties stay in item id order, as the API breaks them.
    want = sorted([i for i in by_id if i not in unlabelled], key=key, reverse=reverse) + unlabelled
    assert [i["id"] for i in got] == [i["id"] for i in want]
    assert len({i["size"] for i in got}) < len(got) and len({i["label"] for i in got}) < len(got)  # ties tested
    searched = walk(client, None, dataset=dataset_id, sort=sort)  # the search shares the listing's order
    assert [i["id"] for i in searched] == [i["id"] for i in want]
    # Five a page: under the label sorts the first page ends on an unlabelled item, the cursor's value null.
    assert [i["id"] for i in walk(client, dataset_id, limit=5, sort=sort)] == [i["id"] for i in want]


def test_counts_are_exact_for_the_listing_s_filters(world):
    client, dataset_id, _ = world
    path = f"/api/datasets/{dataset_id}/items/count"
    assert client.call("GET", path) == {"count": 6}
    assert client.call("GET", path, params={"label": "dog"}) == {"count": 2}
    assert client.call("GET", path, params={"unlabeled": "true"}) == {"count": 2}
    assert client.call("GET", path, params={"q": "f5"}) == {"count": 1}
    assert client.call("GET", path, params={"label": "bird"}) == {"count": 0}
    combos = (
        {},
        {"label": "dog"},
        {"unlabeled": "true"},
        {"q": "png", "label": "cat"},
        {"status": "available", "content_type": "image/png"},
        {"status": "pending"},
        {"unlabeled": "true", "q": "f1"},
    )
    for params in combos:
        listed = walk(client, dataset_id, **params, sort="-size")  # the sort plays no part in a count
        assert client.call("GET", path, params=params)["count"] == len(listed), params
        across = client.call("GET", "/api/search/count", params={**params, "dataset": dataset_id})
        assert across["count"] == len(listed), params


def test_bad_sorts_and_filters_are_refused_and_others_datasets_404(world, stack):
    client, dataset_id, _ = world
    client.call("GET", f"/api/datasets/{dataset_id}/items", params={"sort": "colour"}, expect=(422,))
    first = client.call("GET", f"/api/datasets/{dataset_id}/items", params={"sort": "label", "limit": 1})
    # A label cursor is no position of the size sort: a plain 400, never a 500.
    params = {"sort": "size", "cursor": first["next_cursor"]}
    client.call("GET", f"/api/datasets/{dataset_id}/items", params=params, expect=(400,))
    client.call("GET", f"/api/datasets/{dataset_id}/items/count", params={"predicted": "cat"}, expect=(400,))
    client.call("GET", "/api/search/count", params={"min_score": 0.5}, expect=(400,))
    client.call("GET", f"/api/datasets/{dataset_id}/items/count", params={"status": "gone"}, expect=(422,))
    viewer = stack.client("viewer")
    assert viewer.call("GET", f"/api/datasets/{dataset_id}/items/count") == {"count": 6}
    assert viewer.call("GET", "/api/search/count", params={"dataset": dataset_id}) == {"count": 6}
    other = stack.client("viewer", tenant="acme")
    other.call("GET", f"/api/datasets/{dataset_id}/items/count", expect=(404,))
    assert other.call("GET", "/api/search/count", params={"dataset": dataset_id}) == {"count": 0}
