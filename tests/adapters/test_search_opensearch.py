"""DocumentSearchIndex: one suite over a recording fake node, both real clients over HTTP, a real server.

The fake (fake_opensearch.py) stands in for OpenSearch at the client boundary; the same fake
served on loopback checks what the real opensearch-py and elasticsearch clients send. Set
EDNA_TEST_OPENSEARCH_URL (and EDNA_TEST_OPENSEARCH_SIGV4=1 for an Amazon domain) or
EDNA_TEST_ELASTICSEARCH_URL to run the suite against a real server.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from fake_opensearch import FAKE_ERRORS, FakeBadRequest, FakeNotFound, FakeOpenSearch, analyze
from fake_opensearch_http import wsgi
from search_behaviours import T0, Behaviours, attach, ids, pred, rec, refresh
from werkzeug.serving import make_server

from service.adapters.searchindex import ItemQuery
from service.adapters.searchindex import opensearch as adapter
from service.adapters.searchindex.opensearch import DocumentSearchIndex


def fresh(index: DocumentSearchIndex) -> Iterator[DocumentSearchIndex]:
    assert index.ensure_index() is True
    yield index
    index.client.indices.delete(index=index.index)


class TestFakeNode(Behaviours):
    @pytest.fixture
    def index(self):
        yield from fresh(DocumentSearchIndex(FakeOpenSearch(), FAKE_ERRORS, "edna-items"))


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    headers: list[dict[str, str]] = []
    server = make_server("127.0.0.1", 0, wsgi(FakeOpenSearch(), headers), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", headers
    server.shutdown()
    thread.join()


class TestRealClientsOverHttp(Behaviours):
    """The factories' clients against the fake served on loopback: wire format, errors, signing."""

    @pytest.fixture(params=["opensearch", "elasticsearch"])
    def index(self, request, fake_server):
        url, headers = fake_server
        name = f"edna-test-{uuid.uuid4().hex[:8]}"
        if request.param == "opensearch":
            pytest.importorskip("opensearchpy")
            built = adapter.opensearch_index(url, region="eu-west-3", index=name)
        else:
            pytest.importorskip("elasticsearch")
            built = adapter.elasticsearch_index(url, index=name)
        headers.clear()
        yield from fresh(built)
        auth = [h.get("Authorization", "") for h in headers]
        if request.param == "opensearch":
            assert all("/eu-west-3/es/aws4_request" in a for a in auth), auth[:1]
            assert all(a.startswith("AWS4-HMAC-SHA256 ") for a in auth)


SERVERS = {k: os.environ.get(f"EDNA_TEST_{k.upper()}_URL", "") for k in ("opensearch", "elasticsearch")}


class TestServer(Behaviours):
    """The suite against a real OpenSearch or Elasticsearch, when one is named in the environment."""

    @pytest.fixture(params=[k for k, url in SERVERS.items() if url] or ["none"])
    def index(self, request):
        if request.param == "none":
            pytest.skip("no real server: set EDNA_TEST_OPENSEARCH_URL or EDNA_TEST_ELASTICSEARCH_URL")
        url = SERVERS[request.param]
        name = f"edna-test-{uuid.uuid4().hex[:8]}"
        if request.param == "opensearch":
            sigv4 = os.environ.get("EDNA_TEST_OPENSEARCH_SIGV4", "") in ("1", "true", "yes")
            built = adapter.opensearch_index(url, index=name, sigv4=sigv4)
        else:
            built = adapter.elasticsearch_index(url, index=name)
        yield from fresh(built)


class TestCallsAtTheClientBoundary:
    """What the adapter asks of the client: versions, refresh policy, chunking, error handling."""

    @pytest.fixture
    def node(self) -> FakeOpenSearch:
        return FakeOpenSearch()

    def make(self, node: FakeOpenSearch, **options) -> DocumentSearchIndex:
        index = DocumentSearchIndex(node, FAKE_ERRORS, "items", **options)
        index.ensure_index()
        node.calls.clear()
        return index

    def test_single_writes_are_versioned_and_wait_for_refresh(self, node):
        index = self.make(node)
        index.upsert(rec("a", observed=0.25))
        index.delete("t1", "d1", "a", T0 + 0.5)
        (read, _), (_, up), (_, down) = node.calls
        assert read == "mget"  # an upsert reads the predictions it must carry over
        assert up["id"] == down["id"] == "t1:a"
        assert up["version"] == 1_700_000_000_250_000 and down["version"] == 1_700_000_000_500_000
        assert up["version_type"] == down["version_type"] == "external_gte"
        assert up["refresh"] == down["refresh"] == "wait_for"
        assert down["body"]["status"] == "deleted"

    def test_without_refresh_search_lags_but_get_does_not(self, node):
        index = self.make(node, refresh=False)
        index.upsert(rec("a"))
        assert index.get("t1", "d1", "a") == rec("a")
        assert index.search("t1", ItemQuery(), 10, None) == []
        refresh(index)
        assert ids(index.search("t1", ItemQuery(), 10, None)) == ["a"]

    def test_bulk_is_chunked_and_never_refreshes(self, node, monkeypatch):
        monkeypatch.setattr(adapter, "BULK_CHUNK", 2)
        index = self.make(node)
        assert index.upsert_many(rec(f"i{n}") for n in range(5)) == 5
        bulks = [call for name, call in node.calls if name == "bulk"]
        assert [len(b["body"]) for b in bulks] == [4, 4, 2]
        assert all(b["refresh"] is None for b in bulks)
        assert index.search("t1", ItemQuery(), 10, None) == []

    def test_bulk_errors_other_than_conflicts_raise(self, node, monkeypatch):
        index = self.make(node)

        def refuse(*args):
            raise FakeBadRequest("mapper_parsing_exception", "failed to parse")

        monkeypatch.setattr(node, "_put", refuse)
        with pytest.raises(adapter.BulkWriteError, match="mapper_parsing"):
            index.upsert_many([rec("a")])

    def test_errors_other_than_conflicts_propagate(self, node):
        index = self.make(node)
        index.index = "no-such-index"
        # The read that carries predictions over comes first; a write that fails propagates too.
        with pytest.raises(adapter.IndexReadError, match="index_not_found"):
            index.upsert(rec("a"))
        with pytest.raises(adapter.IndexReadError, match="index_not_found"):
            index.upsert_many([rec("a")])
        with pytest.raises(FakeNotFound):
            index.delete("t1", "d1", "a", T0)

    def test_ensure_index_creates_once_and_tolerates_a_race(self, node, monkeypatch):
        index = DocumentSearchIndex(node, FAKE_ERRORS, "items")
        assert index.ensure_index() is True
        assert node.indexes["items"].mapping["text"]["analyzer"] == "edna_text"
        answers = iter([False, True])
        monkeypatch.setattr(node.indices, "exists", lambda index: next(answers))
        assert index.ensure_index() is False

    def test_sweep_keeps_a_document_rewritten_while_it_runs(self, node, monkeypatch):
        index = self.make(node, refresh=False)
        index.upsert(rec("a", observed=1))
        refresh(index)
        index.upsert(rec("a", observed=20))
        # The rewrite lands between the sweep's refresh and its delete_by_query snapshot.
        monkeypatch.setattr(node.indices, "refresh", lambda index: None)
        assert index.sweep("t1", T0 + 10) == 0
        assert index.get("t1", "d1", "a") == rec("a", observed=20)

    def test_dataset_walks_pending_pages(self, node, monkeypatch):
        monkeypatch.setattr(adapter, "PAGE", 2)
        index = self.make(node)
        index.upsert_many(rec(f"p{n}", status="pending") for n in range(5))
        assert ids(index.delete_dataset("t1", "d1")) == [f"p{n}" for n in range(5)]
        assert sum(name == "search" for name, _ in node.calls) == 3

    def test_fake_analyzer_splits_like_the_mapping_says(self):
        assert analyze("digit-0001.png") == ["digit", "0001", "png"]
        assert analyze("Photo_2024 (1).JPG") == ["photo", "2024", "1", "jpg"]

    def test_upsert_carries_the_predictions_of_a_realtime_read(self, node):
        index = self.make(node, refresh=False)
        index.upsert(rec("a", label="cat"))
        attach(index, "m1", {"a": pred("m1", {"dog": 0.9, "cat": 0.1})})
        index.upsert(rec("a", observed=2, label="dog"))  # not refreshed: the get still sees it
        held = index.get("t1", "d1", "a")
        assert held.predictions == (pred("m1", {"dog": 0.9, "cat": 0.1}),)
        assert node.indexes["items"].live["t1:a"]["source"]["predictions"][0]["disagrees"] is False

    def test_attach_writes_each_document_back_at_the_version_it_read(self, node, monkeypatch):
        monkeypatch.setattr(adapter, "BULK_CHUNK", 2)
        index = self.make(node)
        index.upsert_many([rec("a", observed=1), rec("b", observed=2), rec("c", observed=3)])
        node.calls.clear()
        assert attach(index, "m1", {i: pred("m1", {"cat": 0.9}) for i in ("a", "b", "c", "gone")}) == 3
        names = [name for name, _ in node.calls]
        assert names[:4] == ["mget", "bulk", "mget", "bulk"] and names[4] == "indices.refresh"
        assert node.calls[0][1]["body"] == {"ids": ["t1:a", "t1:b"]}
        metas = [line["index"] for _, call in node.calls if _ == "bulk" for line in call["body"][::2]]
        assert [(m["_id"], m["version"], m["version_type"]) for m in metas] == [
            ("t1:a", adapter.docs.version_of(T0 + 1), "external_gte"),
            ("t1:b", adapter.docs.version_of(T0 + 2), "external_gte"),
            ("t1:c", adapter.docs.version_of(T0 + 3), "external_gte"),
        ]
        assert index.get("t1", "d1", "c") == rec("c", observed=3, predictions=(pred("m1", {"cat": 0.9}),))

    def test_attach_reads_again_a_document_that_a_newer_observation_overtook(self, node, monkeypatch):
        index = self.make(node)
        index.upsert(rec("a", label="cat"))
        read, overtaken = node.mget, []

        def read_then_overtaken(**call):
            answer = read(**call)
            if not overtaken:  # after the attach's first read, the item is relabelled before its write
                overtaken.append(True)
                index.upsert(rec("a", observed=5, label="dog"))
            return answer

        monkeypatch.setattr(node, "mget", read_then_overtaken)
        assert attach(index, "m1", {"a": pred("m1", {"dog": 0.9, "cat": 0.1})}) == 1
        assert index.get("t1", "d1", "a") == rec(
            "a", observed=5, label="dog", predictions=(pred("m1", {"dog": 0.9, "cat": 0.1}),)
        )

    def test_the_fake_refuses_nested_fields_outside_their_path(self, node):
        """A server answers these with nothing at all; the fake refuses them so a test sees the mistake."""
        index = self.make(node)
        index.upsert(rec("a", label="cat"))
        attach(index, "m1", {"a": pred("m1", {"cat": 0.9})})
        for body in (
            {"query": {"term": {"predictions.model_id": "m1"}}},
            {"sort": [{"predictions.margin": "asc"}]},
            {"query": {"nested": {"path": "predictions", "query": {"term": {"label": "cat"}}}}},
            {"sort": [{"item_id": "asc"}], "search_after": [None]},
        ):
            with pytest.raises(FakeBadRequest):
                node.search(index=index.index, body=body)
