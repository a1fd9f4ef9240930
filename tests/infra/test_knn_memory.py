"""The HNSW sizing the stack checks its OpenSearch nodes against, and the vector index template it installs."""

from __future__ import annotations

import pytest

from infra.knn_memory import GIB, graph_bytes, node_budget_bytes
from infra.search_templates import index_templates, vector_template


def test_graph_memory_follows_the_opensearch_estimate():
    # 1.1 x (4 x 128 + 8 x 16) = 704 bytes a vector: 1M vectors of 128 dimensions take 704 MB.
    assert graph_bytes(1_000_000, 128) == 704_000_000
    assert graph_bytes(1_000_000, 128, m=32) > graph_bytes(1_000_000, 128)
    assert graph_bytes(0, 768) == 0


@pytest.mark.parametrize(
    ("instance_type", "gib"),
    [
        ("t3.small.search", 0.5),  # 2 GiB: 1 GiB heap, half the other 1 GiB
        ("m6g.large.search", 2),  # 8 GiB
        ("r6g.large.search", 4),  # 16 GiB
        ("r6g.2xlarge.search", 16),  # 64 GiB: the heap stops at 32 GiB
    ],
)
def test_a_node_gives_knn_half_the_memory_outside_its_heap(instance_type, gib):
    assert node_budget_bytes(instance_type) == gib * GIB


def test_an_instance_type_of_unknown_memory_is_named():
    with pytest.raises(ValueError, match=r"'x9.huge.search'.*MEMORY_GIB in infra/knn_memory.py"):
        node_budget_bytes("x9.huge.search")


@pytest.mark.parametrize(("nodes", "replicas"), [(1, 0), (2, 1), (3, 1)])
def test_vector_indexes_get_a_replica_once_another_node_can_hold_it(nodes, replicas):
    settings = vector_template("edna-items", nodes)["template"]["settings"]["index"]
    assert settings == {"knn": True, "number_of_shards": 1, "number_of_replicas": replicas}


def test_the_template_matches_only_the_vector_indexes_of_its_search_index():
    (name, body), *others = index_templates("edna-items", 2).items()
    assert not others
    assert name == "edna-items-vectors" and body["index_patterns"] == ["edna-items-vectors-*"]
    assert "vector" not in body["template"]["mappings"]["properties"]  # its dimension differs per index
