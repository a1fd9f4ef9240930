"""Pages of a tenant's records (datasets, models, jobs, comparisons) read from a storage listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from service.adapters.blobstore import BlobStore
from service.vocabulary import layout
from service.vocabulary.errors import NotFound

T = TypeVar("T")


def records_page(
    blobs: BlobStore, prefix: str, after: str | None, limit: int, load: Callable[[str], T], suffix: str = "/"
) -> tuple[list[T], str | None]:
    """Records named by the next path segment under `prefix` (a folder `{id}/`, or a file `{id}.json`
    with `suffix=".json"`), in id order, after the id `after`; the second value is the last id
    when more follow. A record deleted between the listing and its read is skipped."""
    folders = suffix == "/"
    page = blobs.list_page(
        prefix,
        delimiter="/" if folders else None,
        start_after=prefix + after + suffix if after else None,
        limit=limit,
    )
    names = page.prefixes if folders else [o.key for o in page.objects]
    ids = [layout.name_after(prefix, name).removesuffix(suffix) for name in names]
    found = []
    for record_id in ids:
        try:
            found.append(load(record_id))
        except NotFound:
            continue
    return found, (ids[-1] if page.next_token and ids else None)
