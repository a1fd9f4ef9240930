"""How much memory HNSW graphs take on an OpenSearch node, and how much such a node gives them.

A graph takes 1.1 x (4 x dims + 8 x m) bytes per vector (the OpenSearch k-NN memory estimate),
m = 16 being the HNSW default of both the lucene and the faiss engine. OpenSearch Service gives the
JVM heap half of a node's RAM, at most 32 GiB; the k-NN plugin may use `knn.memory.circuit_breaker.limit`
(50% by default) of the rest. That budget bounds faiss graphs in native memory; lucene's graphs live
in the page cache of the same off-heap RAM, so it is the fair target for both engines.
"""

from __future__ import annotations

import math

HNSW_M = 16
GIB = 1024**3
MAX_HEAP_GIB = 32
KNN_SHARE_OF_OFF_HEAP = 0.5

# RAM of the OpenSearch Service instance types a stack may pick (EC2 sizes); add a type here to use it.
MEMORY_GIB = {
    "t3.small.search": 2,
    "t3.medium.search": 4,
    **{f"{family}.large.search": 4 for family in ("c5", "c6g", "c7g")},
    **{f"{family}.xlarge.search": 8 for family in ("c5", "c6g", "c7g")},
    **{f"{family}.large.search": 8 for family in ("m5", "m6g", "m7g")},
    **{f"{family}.xlarge.search": 16 for family in ("m5", "m6g", "m7g")},
    **{f"{family}.2xlarge.search": 32 for family in ("m5", "m6g", "m7g")},
    **{f"{family}.large.search": 16 for family in ("r5", "r6g", "r7g")},
    **{f"{family}.xlarge.search": 32 for family in ("r5", "r6g", "r7g")},
    **{f"{family}.2xlarge.search": 64 for family in ("r5", "r6g", "r7g")},
}


def graph_bytes(vectors: int, dims: int, m: int = HNSW_M) -> int:
    """Memory of one copy of the HNSW graphs over `vectors` float vectors of `dims` dimensions."""
    return math.ceil(1.1 * (4 * dims + 8 * m) * vectors)


def node_budget_bytes(instance_type: str) -> int:
    """The memory k-NN may use on one data node of this type."""
    if instance_type not in MEMORY_GIB:
        raise ValueError(
            f"no memory size known for OpenSearch instance type {instance_type!r}: "
            "add it to MEMORY_GIB in infra/knn_memory.py"
        )
    ram = MEMORY_GIB[instance_type] * GIB
    heap = min(ram // 2, MAX_HEAP_GIB * GIB)
    return int((ram - heap) * KNN_SHARE_OF_OFF_HEAP)
