"""Rebuilding the index from storage alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import SearchIndex
from service.domain.embeddings import Embeddings
from service.domain.indexing import Indexer
from service.domain.predictions import Predictions
from service.vocabulary import layout

WORKERS = 8  # storage round trips overlap; the index writer is the bottleneck beyond that


def bounded_map(fn: Callable, items: Iterable, workers: int = WORKERS) -> Iterator:
    """`fn` over a stream with at most twice `workers` in flight: a listing is never held whole."""
    with ThreadPoolExecutor(workers) as pool:
        running: set[Future] = set()
        for item in items:
            running.add(pool.submit(fn, item))
            if len(running) >= 2 * workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        for future in running:
            yield future.result()


def child_names(blobs: BlobStore, prefix: str) -> Iterator[str]:
    """The next path segment of every key under `prefix`, page by page."""
    token = None
    while True:
        page = blobs.list_page(prefix, delimiter="/", token=token)
        yield from (layout.name_after(prefix, p) for p in page.prefixes)
        if not page.next_token:
            return
        token = page.next_token


def rebuild(
    indexer: Indexer,
    index: SearchIndex,
    tenant: str | None = None,
    step: Callable = lambda: None,
    predictions: Predictions | None = None,
    embeddings: Embeddings | None = None,
) -> dict:
    """Index every item object (with its tags and sidecars), forget what storage no longer has, then
    attach each (dataset, model)'s latest job predictions from their parts, and load its embeddings."""
    blobs = indexer.blobs
    started = time.time()
    # Tenants the index knows but storage no longer has are swept too.
    tenants = [tenant] if tenant else sorted({*child_names(blobs, layout.TENANTS), *index.tenants()})
    totals = {"tenants": len(tenants), "items": 0, "forgotten": 0, "predictions": 0, "vectors": 0}
    for name in tenants:
        for dataset_id in child_names(blobs, layout.datasets_prefix(name)):
            keys = (o.key for o in blobs.iter_objects(layout.items_prefix(name, dataset_id)))
            # Thumbnails dropped by a full backlog, or lost, are queued again (the worker makes them).
            for _ in bounded_map(lambda key: indexer.refresh_key(key, retry_thumbnail=True), keys):
                totals["items"] += 1
                step()
        totals["forgotten"] += index.sweep(name, started)
        if predictions is not None:
            totals["predictions"] += predictions.rebuild(name, child_names(blobs, layout.jobs_prefix(name)))
        if embeddings is not None:
            embeddings.vectors.remove_tenant(name)  # sets of deleted jobs, datasets or models go too
            totals["vectors"] += embeddings.rebuild(name, child_names(blobs, layout.jobs_prefix(name)))
    if tenant is None:
        index.rebuilt()  # every tenant is back: a lost or corrupt index is no longer worth reporting
    return totals
