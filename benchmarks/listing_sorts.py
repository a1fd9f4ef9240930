"""The grid's sorts and exact counts on the embedded index, against the item-id listing in the same run.

Fills a SqliteSearchIndex with `--items` realistic items (benchmarks/search_index.py's generator:
five datasets, the largest 70%, 10 skewed labels and 20% unlabelled), then on the largest dataset
times a page of 51 rows (as ItemService.list asks for a page of 50) of every item sort, each from
the start and from the cursor of a random item, and `count` with the grid's filters. The baseline
is the page in item id order at random positions, measured on the same file: the ratio is p95 of
the query over p95 of the baseline. The label sorts from an unlabelled item's cursor are timed
apart: their pages are the second of the two walks (labelled, then unlabelled items).

    .venv/bin/python benchmarks/listing_sorts.py [--items 100000] [--runs 100] [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline
from search_index import DATASETS, TENANT, Corpus, fill, generate, percentile, ulid

from service.adapters.searchindex import ItemQuery, position_of
from service.adapters.searchindex.sqlite import SqliteSearchIndex

PAGE = 51
SORTS = ["name", "-name", "label", "-label", "size", "-size", "created_at", "-created_at"]
COUNTS = {"all": {}, "label=cat": {"label": "cat"}, "unlabeled": {"unlabeled": True}, "q=img": {"q": "img"}}


def timed(call: Callable[[random.Random], object], runs: int, deadline: Deadline, seed: int) -> list[float]:
    """Latencies (ms) of up to `runs` calls; one warm-up call first."""
    rng = random.Random(seed)
    call(rng)
    found = []
    while len(found) < runs and not deadline.passed():
        started = time.perf_counter()
        call(rng)
        found.append((time.perf_counter() - started) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    deadline = Deadline(args.max_seconds)
    id_rng = random.Random(args.seed + 1)
    corpus = Corpus(dataset_ids=[ulid(1_700_000_000_000 + n, id_rng) for n in range(len(DATASETS))])
    with tempfile.TemporaryDirectory() as tmp:
        index = SqliteSearchIndex(Path(tmp) / "index.db")
        rate = fill(index, generate(corpus, args.seed), corpus, args.items, deadline)
        big = corpus.dataset_ids[0]
        records = [r for r in (index.get(TENANT, big, i) for i in corpus.ids_by_dataset[big]) if r is not None]
        unlabelled = [r for r in records if r.label is None]

        def page(query: ItemQuery, among: list | None) -> Callable[[random.Random], object]:
            """A page of `query`: from the start (among None) or after a random record of `among`."""

            def call(rng: random.Random) -> object:
                after = None if among is None else position_of(rng.choice(among), query)
                return index.search(TENANT, query, PAGE, after)

            return call

        results: dict[str, list[float]] = {}
        results["id, random cursor (baseline)"] = timed(page(ItemQuery(big), records), args.runs, deadline, 1)
        for sort in SORTS:
            query = ItemQuery(big, sort=sort)
            results[f"{sort}, first page"] = timed(page(query, None), args.runs, deadline, 2)
            results[f"{sort}, random cursor"] = timed(page(query, records), args.runs, deadline, 3)
            if sort.endswith("label"):
                results[f"{sort}, unlabelled cursor"] = timed(page(query, unlabelled), args.runs, deadline, 4)
        for name, filters in COUNTS.items():
            query = ItemQuery(big, **filters)
            results[f"count {name}"] = timed(lambda _rng, q=query: index.count(TENANT, q), args.runs, deadline, 5)
    print(
        f"SqliteSearchIndex: {corpus.count:,} items filled at {rate:,.0f} items/s; the largest dataset "
        f"{len(records):,} live items ({len(unlabelled):,} unlabelled); page = {PAGE} rows"
    )
    base = percentile(results["id, random cursor (baseline)"], 0.95)
    print(f"{'query':34} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>7}")
    for name, lat in results.items():
        if lat:
            p95 = percentile(lat, 0.95)
            print(f"{name:34} {len(lat):5} {statistics.median(lat):8.2f} {p95:8.2f} {p95 / base:6.1f}x")
    print(f"ratio = p95 / p95 of the item-id page at random cursors; peak RSS {peak_rss_mb():.0f} MB")
    print(
        f"reproduce: .venv/bin/python benchmarks/listing_sorts.py --items {args.items} --runs {args.runs} "
        f"--max-seconds {args.max_seconds:g} --seed {args.seed}"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    main()
