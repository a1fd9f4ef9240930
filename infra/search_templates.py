"""The index templates the stack installs in OpenSearch, so indexes the service creates on first use
get the settings only the stack knows (shards and replicas for its nodes) and k-NN switched on."""

from __future__ import annotations

from typing import Any

# What the service's vector adapter filters and sorts on: every query names tenant, dataset and model.
VECTOR_FIELDS = {
    "tenant": {"type": "keyword"},
    "dataset_id": {"type": "keyword"},
    "model_id": {"type": "keyword"},
    "item_id": {"type": "keyword"},
    "job_id": {"type": "keyword"},
    "finished_at": {"type": "double"},
}


def vector_index_prefix(search_index: str) -> str:
    """The service names one vector index per dimension count: `{search_index}-vectors-{dims}`."""
    return f"{search_index}-vectors-"


def vector_template(search_index: str, instance_count: int) -> dict[str, Any]:
    """The composable template of the vector indexes.

    It cannot hold the `vector` field itself: a knn_vector mapping needs its `dimension`, which
    differs per index, so the service adds it (hnsw, cosinesimil, lucene or faiss) when it creates
    the index. One shard: a few million vectors stay far below the 10-30 GiB shard size AWS advises,
    and each shard searches its own graphs. One replica once there is a second node (in the other
    zone) to hold it; on a single node a replica could never be assigned and the index stays yellow.
    `dynamic: false` keeps a stray field out of the mapping rather than failing the write.
    """
    return {
        "index_patterns": [vector_index_prefix(search_index) + "*"],
        "priority": 100,
        "template": {
            "settings": {
                "index": {
                    "knn": True,
                    "number_of_shards": 1,
                    "number_of_replicas": min(1, instance_count - 1),
                }
            },
            "mappings": {"dynamic": False, "properties": VECTOR_FIELDS},
        },
    }


def index_templates(search_index: str, instance_count: int) -> dict[str, dict[str, Any]]:
    """Template name -> body, as `PUT _index_template/{name}` takes them."""
    return {f"{search_index}-vectors": vector_template(search_index, instance_count)}
