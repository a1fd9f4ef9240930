"""DocumentVectorIndex: one suite over the recording fake node, both real clients over HTTP, a real server.

As for the text index (test_search_opensearch.py): the fake stands in for OpenSearch and
Elasticsearch at the client boundary (its k-NN is exact), the same fake served on loopback checks
what the real opensearch-py and elasticsearch clients send, and EDNA_TEST_OPENSEARCH_URL (with
EDNA_TEST_OPENSEARCH_SIGV4=1 for an Amazon domain) or EDNA_TEST_ELASTICSEARCH_URL runs the suite
against a real server.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fake_opensearch import FAKE_ERRORS, FakeBadRequest, FakeOpenSearch
from fake_opensearch_http import wsgi
from vector_behaviours import DIMS, T0, VectorBehaviours, item, load, matrix, same, scanned, truth
from werkzeug.serving import make_server

from service.adapters.vectorindex import documents as docs
from service.adapters.vectorindex import opensearch as adapter
from service.adapters.vectorindex.opensearch import DocumentVectorIndex

FLAVOURS = [docs.OPENSEARCH, docs.ELASTICSEARCH]
SUITE_DIMS = (3, DIMS, DIMS + 2)  # every dimension count the suite writes


def drop(index: DocumentVectorIndex) -> None:
    """Delete the indexes of the base by name (servers refuse wildcard deletes by default)."""
    names = [index.sets_index, *(docs.vectors_index(index.base, d) for d in SUITE_DIMS)]
    for name in names:
        if index.client.indices.exists(index=name):
            index.client.indices.delete(index=name)


class DocumentBehaviours(VectorBehaviours):
    def rebuilt(self, index: DocumentVectorIndex) -> DocumentVectorIndex:
        drop(index)
        return DocumentVectorIndex(index.client, index.errors, index.base, flavour=index.flavour)


def fresh(index: DocumentVectorIndex) -> Iterator[DocumentVectorIndex]:
    yield index
    drop(index)


class TestFakeNode(DocumentBehaviours):
    @pytest.fixture(params=FLAVOURS)
    def index(self, request):
        yield from fresh(DocumentVectorIndex(FakeOpenSearch(), FAKE_ERRORS, "edna", flavour=request.param))


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    headers: list[dict[str, str]] = []
    server = make_server("127.0.0.1", 0, wsgi(FakeOpenSearch(), headers), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", headers
    server.shutdown()
    thread.join()


class TestRealClientsOverHttp(DocumentBehaviours):
    """The factories' clients against the fake served on loopback: wire format, errors, signing."""

    @pytest.fixture(params=FLAVOURS)
    def index(self, request, fake_server):
        url, headers = fake_server
        base = f"edna-test-{uuid.uuid4().hex[:8]}"
        if request.param == docs.OPENSEARCH:
            pytest.importorskip("opensearchpy")
            built = adapter.opensearch_vectors(url, base=base, region="eu-west-3")
        else:
            pytest.importorskip("elasticsearch")
            built = adapter.elasticsearch_vectors(url, base=base)
        headers.clear()
        yield from fresh(built)
        auth = [h.get("Authorization", "") for h in headers]
        if request.param == docs.OPENSEARCH:
            assert all("/eu-west-3/es/aws4_request" in a for a in auth), auth[:1]


SERVERS = {k: os.environ.get(f"EDNA_TEST_{k.upper()}_URL", "") for k in FLAVOURS}


class TestServer(DocumentBehaviours):
    """The suite against a real OpenSearch or Elasticsearch, when one is named in the environment."""

    @pytest.fixture(params=[k for k, url in SERVERS.items() if url] or ["none"])
    def index(self, request):
        if request.param == "none":
            pytest.skip("no real server: set EDNA_TEST_OPENSEARCH_URL or EDNA_TEST_ELASTICSEARCH_URL")
        base = f"edna-test-{uuid.uuid4().hex[:8]}"
        if request.param == docs.OPENSEARCH:
            sigv4 = os.environ.get("EDNA_TEST_OPENSEARCH_SIGV4", "") in ("1", "true", "yes")
            built = adapter.opensearch_vectors(SERVERS[request.param], base=base, sigv4=sigv4)
        else:
            built = adapter.elasticsearch_vectors(SERVERS[request.param], base=base)
        yield from fresh(built)


class TestCallsAtTheClientBoundary:
    """What the adapter asks of the server: mappings, filtered k-NN searches, versions, chunking."""

    @pytest.fixture
    def node(self) -> FakeOpenSearch:
        return FakeOpenSearch()

    def calls(self, node: FakeOpenSearch, name: str) -> list[dict]:
        return [call for called, call in node.calls if called == name]

    def test_opensearch_maps_a_knn_vector_that_filters_while_searching(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna", flavour=docs.OPENSEARCH)
        load(index, [item(n) for n in range(5)], matrix(5, 1))
        (sets_created, vectors_created) = self.calls(node, "indices.create")
        assert sets_created["index"] == "edna-vector-sets"
        assert vectors_created["index"] == f"edna-vectors-{DIMS}"
        body = vectors_created["body"]
        assert body["settings"] == {"index": {"knn": True}}
        assert body["mappings"]["properties"]["vector"] == {
            "type": "knn_vector",
            "dimension": DIMS,
            "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
        }
        assert body["mappings"]["_source"] == {"excludes": ["vector"]}

    def test_elasticsearch_maps_an_indexed_dense_vector(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna", flavour=docs.ELASTICSEARCH)
        load(index, [item(n) for n in range(5)], matrix(5, 1))
        body = self.calls(node, "indices.create")[1]["body"]
        assert "settings" not in body
        vector = body["mappings"]["properties"]["vector"]
        assert vector == {"type": "dense_vector", "dims": DIMS, "index": True, "similarity": "cosine"}

    @pytest.mark.parametrize("flavour", FLAVOURS)
    def test_every_knn_search_is_filtered_to_the_set(self, node, flavour):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna", flavour=flavour)
        load(index, [item(n) for n in range(20)], matrix(20, 2))
        node.calls.clear()
        index.nearest("t1", "d1", "m1", matrix(1, 3)[0], 5, exclude={"i0001"})
        ((search,),) = [self.calls(node, "search")]
        body = search["body"]
        assert search["index"] == f"edna-vectors-{DIMS}" and body["size"] == 15
        if flavour == docs.OPENSEARCH:
            knn = body["query"]["knn"]["vector"]
            assert knn["k"] == docs.MIN_CANDIDATES and len(knn["vector"]) == DIMS
        else:
            knn = body["knn"]
            assert (knn["field"], knn["k"], knn["num_candidates"]) == ("vector", 15, docs.MIN_CANDIDATES)
            assert "query" not in body
        where = knn["filter"]["bool"]
        assert where["filter"] == [
            {"term": {"tenant": "t1"}},
            {"term": {"dataset_id": "d1"}},
            {"term": {"model_id": "m1"}},
            {"term": {"job_id": "j1"}},
        ]
        assert where["must_not"] == [{"terms": {"item_id": ["i0001"]}}]

    def test_candidates_stay_within_the_result_window(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna", flavour=docs.ELASTICSEARCH)
        load(index, [item(n) for n in range(3)], matrix(3, 4))
        node.calls.clear()
        assert len(index.nearest("t1", "d1", "m1", matrix(1, 5)[0], 10_000)) == 3
        knn = self.calls(node, "search")[0]["body"]["knn"]
        assert knn["k"] == knn["num_candidates"] == docs.MAX_WINDOW

    def test_a_set_is_written_beside_the_old_one_then_switched_then_the_old_dropped(self, node, monkeypatch):
        monkeypatch.setattr(adapter, "BULK_BYTES", adapter.BYTES_PER_DIM * DIMS * 4)  # 4 vectors a request
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna")
        load(index, [item(n) for n in range(10)], matrix(10, 6), job="j1", finished=1)
        node.calls.clear()
        load(index, [item(n) for n in range(10)], matrix(10, 7), job="j2", finished=2)
        names = [name for name, _ in node.calls]
        written = names.index("index")
        assert names.count("bulk") == 3 and max(i for i, n in enumerate(names) if n == "bulk") < written
        bulk = self.calls(node, "bulk")[0]["body"]
        meta = bulk[0]["index"]
        assert meta["_id"] == "t1:d1:m1:j2:i0000" and meta["version_type"] == "external_gte"
        assert meta["version"] == docs.version_of(T0 + 2)
        assert set(bulk[1]) == {
            "tenant",
            "dataset_id",
            "model_id",
            "job_id",
            "item_id",
            "finished_at",
            "blob",
            "vector",
        }
        switch = self.calls(node, "index")[0]
        assert switch["id"] == "set:t1:d1:m1" and switch["version"] == docs.version_of(T0 + 2)
        older = self.calls(node, "delete_by_query")[-1]
        assert older["index"] == "edna-vectors-*" and names.index("delete_by_query", written) > written
        assert older["body"]["query"]["bool"]["must_not"] == [{"term": {"job_id": "j2"}}]
        assert {d["source"]["job_id"] for d in node.indexes[f"edna-vectors-{DIMS}"].live.values()} == {"j2"}

    def test_a_later_job_that_switched_meanwhile_keeps_the_set(self, node):
        """The set's document is versioned by finish time: an older job that wrote last is refused."""
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna")
        ids, rows, newer = [item(n) for n in range(10)], matrix(10, 8), matrix(10, 9)

        def slow_old():
            yield ids[:5], rows[:5]
            assert load(index, ids, newer, job="j2", finished=20) == 10
            yield ids[5:], rows[5:]

        assert index.replace("t1", "d1", "m1", "j1", T0 + 10, slow_old()) == 0
        assert index.info("t1", "d1", "m1").job_id == "j2"
        same(index.nearest("t1", "d1", "m1", newer[0], 10), truth(ids, newer, newer[0], 10))
        assert {d["source"]["job_id"] for d in node.indexes[f"edna-vectors-{DIMS}"].live.values()} == {"j2"}

    def test_an_item_removed_while_a_job_loads_stays_out(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna")
        ids, rows = [item(n) for n in range(20)], matrix(20, 10)

        def removing_midway():
            yield ids[:10], rows[:10]
            index.remove_items("t1", "d1", [ids[3], ids[15]])
            yield ids[10:], rows[10:]

        assert index.replace("t1", "d1", "m1", "j1", T0, removing_midway()) == 18
        assert set(scanned(index)) == set(ids) - {ids[3], ids[15]}

    def test_scan_pages_in_item_order_and_reads_the_blobs(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna")
        ids, rows = [item(n) for n in range(25)], matrix(25, 11)
        load(index, ids[::-1], rows)
        node.calls.clear()
        pages = [batch for batch, _ in index.scan("t1", "d1", "m1", batch=10)]
        assert [len(p) for p in pages] == [10, 10, 5] and [i for page in pages for i in page] == ids
        bodies = [call["body"] for call in self.calls(node, "search")]
        assert [b.get("search_after") for b in bodies] == [None, ["i0009"], ["i0019"]]
        assert all(b["_source"] == ["item_id", "blob"] for b in bodies)

    def test_vectors_are_kept_exactly_in_the_blob(self):
        row = matrix(1, 12)[0]
        assert np.array_equal(docs.decode(docs.encode(row)), row)
        assert len(docs.encode(np.zeros(128, dtype=np.float32))) == 684  # base64 of 512 bytes

    def test_the_fake_refuses_what_servers_refuse(self, node):
        index = DocumentVectorIndex(node, FAKE_ERRORS, "edna", flavour=docs.OPENSEARCH)
        load(index, [item(n) for n in range(3)], matrix(3, 13))
        name = f"edna-vectors-{DIMS}"
        vector = [0.5] * DIMS
        for body in (
            {"knn": {"field": "vector", "query_vector": vector, "k": 3, "num_candidates": 10}},  # not a dense_vector
            {"query": {"knn": {"vector": {"vector": vector[:-1], "k": 3}}}},  # wrong dimensions
            {"query": {"knn": {"vector": {"vector": vector, "k": 3}}}, "sort": [{"item_id": "asc"}]},
            {"query": {"term": {"blob": "x"}}},  # not indexed
            {"size": 10_001},
        ):
            with pytest.raises(FakeBadRequest):
                node.search(index=name, body=body)
        zero = {"index": {"_index": name, "_id": "z", "version": 1, "version_type": "external_gte"}}
        answer = node.bulk([zero, {"vector": [0.0] * DIMS}])
        assert answer["items"][0]["index"]["status"] == 400  # cosine refuses a vector of no magnitude
        hit = node.get(index=name, id="t1:d1:m1:j1:i0000")["_source"]
        assert "vector" not in hit and "blob" in hit  # `_source.excludes` hides it from answers
        with pytest.raises(FakeBadRequest):
            node.indices.create(index="bad", body={"mappings": {"properties": {"v": {"type": "knn_vector"}}}})
