"""Model predictions in the embedded index: attaching a job's predictions, and the listings that read them.

Fills a SqliteSearchIndex in a temporary directory with `--items` items of one dataset (80% labelled
over 10 skewed classes), attaches one model's predictions to every item with `attach_predictions`
(from a generator, as a job's parts are read; prints items/s, the time the generator spends making
the rows left out), then times `--runs` requests each at random
positions: `sort=margin` (least certain first) on its first page and deep pages via a cursor, the
`disagrees=True` filter (first and deep pages), and a few more prediction listings. The baseline,
measured in the same run on the same file, is the plain id-ordered page of the same size at a random
position: the ratio shows what reading predictions costs over the listing the API served before them.
Goals printed beside the figures: attach >= 20,000 items/s, p95 < 100 ms per listing at 1M items.

    .venv/bin/python benchmarks/predictions_index.py [--items 1000000] [--runs 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline
from search_index import LABEL_WEIGHTS, LABELS, PAGE, TENANT, percentile, ulid

from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, Prediction, position_of
from service.adapters.searchindex.sqlite import SqliteSearchIndex

DATASET = "dataset-1"
MODEL, JOB = "model-1", "job-1"
CHUNK = 10_000
LABELLED = 0.8
AGREES = 0.85  # how often the model's top class is the label
ATTACH_GOAL = 20_000  # items/s
GOAL_MS = 100.0
BASELINE = "id page (baseline)"


def items(count: int, seed: int) -> Iterator[ItemRecord]:
    """`count` available items of one dataset, ids in creation order, 80% labelled."""
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000) - 365 * 24 * 3600 * 1000
    for n in range(count):
        created_ms = start_ms + n * 30
        label = rng.choices(LABELS, LABEL_WEIGHTS)[0] if rng.random() < LABELLED else None
        yield ItemRecord(
            tenant=TENANT,
            dataset_id=DATASET,
            item_id=ulid(created_ms, rng),
            filename=f"img-{n:07d}.png",
            content_type="image/png",
            size=rng.randrange(20_000, 2_000_000),
            status=AVAILABLE,
            created_at=created_ms / 1000,
            created_by="bench",
            label=label,
            tags={"split": "train"},
            observed_at=created_ms / 1000 + 2,
        )


def prediction(label: str | None, rng: random.Random) -> Prediction:
    """Top-3 probabilities as the engine writes them (rounded to 6 digits), the label first most of the time."""
    top = label if label is not None and rng.random() < AGREES else rng.choice(LABELS)
    others = rng.sample([c for c in LABELS if c != top], 2)
    p1 = rng.uniform(0.34, 0.99)
    p2 = rng.uniform(0, min(p1, 1 - p1))
    p3 = rng.uniform(0, min(p2, 1 - p1 - p2))
    probs = {top: round(p1, 6), others[0]: round(p2, 6), others[1]: round(p3, 6)}
    return Prediction(MODEL, JOB, top, probs[top], round(probs[top] - probs[others[0]], 6), probs)


Query = Callable[[random.Random], object]


def timed(call: Query, runs: int, cap: float, seed: int) -> list[float]:
    """Latencies (ms) of up to `runs` calls, stopping after `cap` seconds; two warm-up calls first."""
    rng = random.Random(seed)
    for _ in range(2):
        call(rng)
    latencies: list[float] = []
    stop = time.monotonic() + cap
    while len(latencies) < runs and time.monotonic() < stop:
        started = time.perf_counter()
        call(rng)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items in the dataset")
    parser.add_argument("--runs", type=int, default=200, help="timed requests per listing")
    parser.add_argument("--query-seconds", type=float, default=60.0, help="time cap per listing")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop early (with a warning) past this")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    deadline = Deadline(args.max_seconds)
    with tempfile.TemporaryDirectory() as tmp:
        index = SqliteSearchIndex(Path(tmp) / "index.db")
        labels: dict[str, str | None] = {}
        started = time.perf_counter()
        stream = items(args.items, args.seed)
        while len(labels) < args.items and not deadline.passed():
            chunk = [next(stream) for _ in range(min(CHUNK, args.items - len(labels)))]
            index.upsert_many(chunk)
            labels.update((r.item_id, r.label) for r in chunk)
        filled = time.perf_counter() - started
        ids = list(labels)
        rng = random.Random(args.seed + 1)
        made: dict[str, Prediction] = {}
        producing = 0.0  # seconds the generator spent making rows: the job's parts, not the index

        def rows() -> Iterator[tuple[str, Prediction]]:
            nonlocal producing
            for start in range(0, len(ids), CHUNK):
                began = time.perf_counter()
                chunk = [(item_id, prediction(labels[item_id], rng)) for item_id in ids[start : start + CHUNK]]
                made.update(chunk)
                producing += time.perf_counter() - began
                yield from chunk

        started = time.perf_counter()
        attached = index.attach_predictions(TENANT, DATASET, MODEL, JOB, time.time(), rows())
        attach_seconds = time.perf_counter() - started - producing
        rate = attached / attach_seconds
        print(
            f"SqliteSearchIndex, one tenant and dataset, {len(ids):,} items ({LABELLED:.0%} labelled, "
            f"{len(LABELS)} classes), one model's top-3 predictions on every item; page = {PAGE} rows"
        )
        print(f"  filled at {len(ids) / filled:,.0f} items/s (upsert_many, {CHUNK:,} per transaction)")
        print(
            f"  attach_predictions: {attached:,} items in {attach_seconds:.1f} s = {rate:,.0f} items/s "
            f"(goal >= {ATTACH_GOAL:,}: {'ok' if rate >= ATTACH_GOAL else 'MISS'}; "
            f"making the rows took {producing:.1f} s more, not counted)"
        )
        margin = ItemQuery(dataset_id=DATASET, model_id=MODEL, sort="margin")
        mistake = ItemQuery(dataset_id=DATASET, status=AVAILABLE, model_id=MODEL, sort="mistake")
        mean = ItemQuery(dataset_id=DATASET, status=AVAILABLE, sort="mistake")
        disagrees = ItemQuery(dataset_id=DATASET, model_id=MODEL, disagrees=True)
        confident = ItemQuery(dataset_id=DATASET, model_id=MODEL, sort="-score")

        labelled = [item_id for item_id, label in labels.items() if label is not None]

        def page(query: ItemQuery, deep: bool) -> Query:
            pool = labelled if query.sort == "mistake" else ids  # items the listing holds

            def call(rng: random.Random) -> object:
                after = None
                if deep:  # a cursor as the API hands it out: the position of a real item in this order
                    item_id = rng.choice(pool)
                    record = ItemRecord(TENANT, DATASET, item_id, "", "", 0, AVAILABLE, 0.0, "", label=labels[item_id])
                    after = position_of(replace(record, predictions=(made[item_id],)), query)
                return index.search(TENANT, query, PAGE, after)

            return call

        listings = {
            BASELINE: page(ItemQuery(dataset_id=DATASET), True),
            "sort=margin, first page": page(margin, False),
            "sort=margin, deep (cursor)": page(margin, True),
            "disagrees, first page": page(disagrees, False),
            "disagrees, deep (cursor)": page(disagrees, True),
            "sort=-score, deep": page(confident, True),
            "sort=mistake, model, deep": page(mistake, True),
            "sort=mistake, mean, deep": page(mean, True),
        }
        results: dict[str, list[float]] = {}
        for n, (name, call) in enumerate(listings.items()):
            if deadline.passed():
                break
            results[name] = timed(call, args.runs, args.query_seconds, args.seed * 100 + n)
    report(args, results)


def report(args, results: dict[str, list[float]]) -> None:
    base = results.get(BASELINE)
    if not base:
        return
    print()
    print(f"{'listing':30} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>8}  goal")
    for name, lat in results.items():
        p95 = percentile(lat, 0.95)
        ratio = p95 / percentile(base, 0.95)
        verdict = "" if name == BASELINE else ("ok" if p95 < GOAL_MS else "MISS")
        short = "" if len(lat) >= args.runs else f" (n={len(lat)})"
        print(f"{name:30} {statistics.median(lat):8.2f} {p95:8.2f} {ratio:7.1f}x  {verdict}{short}")
    print(f"goal: p95 < {GOAL_MS:.0f} ms; ratio = p95 / p95 of the id-ordered page at random positions, same run")
    print()
    print(
        f"reproduce: .venv/bin/python benchmarks/predictions_index.py --items {args.items} --runs {args.runs} "
        f"--query-seconds {args.query_seconds:g} --max-seconds {args.max_seconds:g} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
