"""The storage key layout (DESIGN.md §4): the one place that knows where anything lives."""

from __future__ import annotations


def tenant_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/"


def datasets_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/datasets/"


def dataset_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/"


def dataset_record(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/dataset.json"


def items_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/"


def item_prefix(tenant: str, dataset_id: str, item_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/{item_id}/"


def item_object(tenant: str, dataset_id: str, item_id: str, filename: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/{item_id}/{filename}"


def thumbnails_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/thumbnails/{dataset_id}/"


def dataset_id_from_record(key: str) -> str:
    """`tenants/t/datasets/{d}/dataset.json` → `d`."""
    return key.rstrip("/").split("/")[-2]
