"""Embedded search index at scale: listings, filters, full text and stats at 10k, 100k and 1M items.

Fills a SqliteSearchIndex in a temporary directory with ItemRecords of one tenant (written with
`upsert_many` in chunks; the index grows from one size to the next), then times each read the API
makes, `--runs` times at random positions (random `after` cursors, random terms). The baseline,
measured in the same run on the same file, is a primary-key lookup (`get`): the ratio shows what
a listing or search costs over the cheapest read the index has. The goal printed beside the
figures: p95 < 100 ms at 1M items. Listings and searches ask for 51 rows, as ItemService.list
does for a page of 50.

With `--json`, stdout is one JSON object instead of the tables: the p95 of every query at the
largest size reached, the worst listing and the worst full-text p95, and the goal (benchmarks/
report.py reads it).

    .venv/bin/python benchmarks/search_index.py [--sizes 10000,100000,1000000] [--runs 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bounds import Deadline

from service.adapters.searchindex import AVAILABLE, PENDING, ItemQuery, ItemRecord
from service.adapters.searchindex.sqlite import DELETED, SqliteSearchIndex

TENANT = "bench"
PAGE = 51  # ItemService.list asks for limit + 1 to know whether a next page exists
GOAL_MS = 100.0
CHUNK = 10_000
BASELINE = "get by id (baseline)"
# (name, share of the items): one large dataset, a few small ones.
DATASETS = [("street-scenes", 0.70), ("wildlife", 0.12), ("vehicles", 0.08), ("indoor", 0.06), ("holdout", 0.04)]
LABELS = ["cat", "dog", "bird", "car", "truck", "person", "bicycle", "boat", "horse", "plane"]
LABEL_WEIGHTS = [20, 18, 12, 12, 9, 9, 7, 6, 4, 3]  # skewed, as real class balances are
UNLABELED_SHARE = 0.2
CAMERAS = [f"cam{n:02d}" for n in range(1, 9)]
SPLITS = (["train"] * 70) + (["val"] * 15) + (["test"] * 15)
# (filename stem, extension, content type, share)
KINDS = [
    ("img", "png", "image/png", 0.80),
    ("photo", "jpg", "image/jpeg", 0.12),
    ("clip", "mp4", "video/mp4", 0.04),
    ("notes", "txt", "text/plain", 0.04),
]
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def ulid(ms: int, rng: random.Random) -> str:
    """A lower-case ULID like service.vocabulary.ids.new_id, from a given time (ids sort by creation)."""
    value = (ms << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


# -- the data -----------------------------------------------------------------------------------


@dataclass
class Corpus:
    """What the generator made so far: the ids the queries pick positions from."""

    dataset_ids: list[str]
    ids_by_dataset: dict[str, list[str]] = field(default_factory=dict)
    live_ids: list[tuple[str, str]] = field(default_factory=list)  # (dataset, item) of live items
    numbers_by_dataset: dict[str, int] = field(default_factory=dict)  # filenames made per dataset
    count: int = 0


def generate(corpus: Corpus, seed: int) -> Iterator[ItemRecord]:
    """An endless, deterministic stream of realistic items, interleaved across the datasets:
    `img-000123.png` and the like (numbered per dataset), 10 skewed labels and 20% unlabeled,
    tags split/source(/reviewed), 98% available, 1.5% pending, 0.5% tombstones."""
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000) - 400 * 24 * 3600 * 1000  # uploads spread over the past year
    weights = [share for _, share in DATASETS]
    kind_weights = [k[3] for k in KINDS]
    while True:
        dataset = rng.choices(corpus.dataset_ids, weights)[0]
        number = corpus.numbers_by_dataset.get(dataset, 0) + 1
        corpus.numbers_by_dataset[dataset] = number
        stem, ext, content_type, _ = rng.choices(KINDS, kind_weights)[0]
        created_ms = start_ms + corpus.count * 30 + rng.randrange(30)
        item_id = ulid(created_ms, rng)
        label = None if rng.random() < UNLABELED_SHARE else rng.choices(LABELS, LABEL_WEIGHTS)[0]
        tags = {"split": rng.choice(SPLITS), "source": rng.choice(CAMERAS)}
        if rng.random() < 0.3:
            tags["reviewed"] = "yes"
        roll = rng.random()
        status = AVAILABLE if roll < 0.98 else PENDING if roll < 0.995 else DELETED
        live, available, image = status != DELETED, status == AVAILABLE, content_type.startswith("image/")
        created = created_ms / 1000
        record = ItemRecord(
            tenant=TENANT,
            dataset_id=dataset,
            item_id=item_id,
            filename=f"{stem}-{number:06d}.{ext}" if live else "",
            content_type=content_type if live else "",
            size=rng.randrange(20_000, 5_000_000) if live else 0,
            status=status,
            created_at=created,
            created_by=rng.choice(["ana", "ben", "chen", "storage"]),
            label=label if available else None,
            tags=tags if available else {},
            etag=f"{rng.getrandbits(128):032x}" if available else "",
            updated_at=created + 2,
            width=rng.choice([640, 1024, 1920]) if image and available else None,
            height=rng.choice([480, 768, 1080]) if image and available else None,
            thumbnail=image and available,
            annotations=rng.choice([0] * 9 + [3]) if available else 0,
            observed_at=created + 2,
        )
        corpus.count += 1
        corpus.ids_by_dataset.setdefault(dataset, []).append(item_id)
        if live:
            corpus.live_ids.append((dataset, item_id))
        yield record


# -- measuring ----------------------------------------------------------------------------------


def fill(
    index: SqliteSearchIndex, stream: Iterator[ItemRecord], corpus: Corpus, size: int, deadline: Deadline
) -> float:
    """Grow the index to `size` items, a chunk per transaction; returns the insert rate (items/s)."""
    spent, added = 0.0, 0
    while corpus.count < size and not deadline.passed():
        chunk = [next(stream) for _ in range(min(CHUNK, size - corpus.count))]
        started = time.perf_counter()
        index.upsert_many(chunk)
        spent += time.perf_counter() - started
        added += len(chunk)
    return added / spent if spent else 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


Query = Callable[[SqliteSearchIndex, random.Random], object]


def timed(index: SqliteSearchIndex, call: Query, runs: int, cap: float, seed: int) -> list[float]:
    """Latencies (ms) of up to `runs` calls, stopping after `cap` seconds; two warm-up calls first."""
    rng = random.Random(seed)
    for _ in range(2):
        call(index, rng)
    latencies: list[float] = []
    stop = time.monotonic() + cap
    while len(latencies) < runs and time.monotonic() < stop:
        started = time.perf_counter()
        call(index, rng)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def queries(corpus: Corpus) -> dict[str, tuple[str, Query]]:
    """The reads the API makes: name -> (kind: baseline, list, text or stats; a call at a random position)."""
    big = corpus.dataset_ids[0]
    big_ids, live, numbers = corpus.ids_by_dataset[big], corpus.live_ids, corpus.numbers_by_dataset[big]

    def listing(make: Callable[[random.Random], ItemQuery], deep: bool) -> Query:
        return lambda index, rng: index.search(TENANT, make(rng), PAGE, rng.choice(big_ids) if deep else None)

    def full_text(make: Callable[[random.Random], str], dataset: str | None) -> Query:
        return lambda index, rng: index.search(TENANT, ItemQuery(dataset_id=dataset, q=make(rng)), PAGE, None)

    def rare(rng: random.Random) -> str:
        return f"img-{rng.randrange(1, numbers):06d}.png"  # a whole filename, as a user pastes it

    def camera(rng: random.Random) -> str:
        return rng.choice(CAMERAS)

    def label_word(rng: random.Random) -> str:
        return rng.choice(LABELS)

    def common(rng: random.Random) -> str:
        return "img"

    def by_label(rng: random.Random) -> ItemQuery:
        return ItemQuery(dataset_id=big, label=rng.choice(LABELS))

    def dataset(rng: random.Random) -> ItemQuery:
        return ItemQuery(dataset_id=big)

    def unlabeled(rng: random.Random) -> ItemQuery:
        return ItemQuery(dataset_id=big, unlabeled=True)

    return {
        BASELINE: ("baseline", lambda index, rng: index.get(TENANT, *rng.choice(live))),
        "dataset page, first": ("list", listing(dataset, False)),
        "dataset page, deep (after)": ("list", listing(dataset, True)),
        "label filter, first": ("list", listing(by_label, False)),
        "label filter, deep": ("list", listing(by_label, True)),
        "unlabeled, first": ("list", listing(unlabeled, False)),
        "unlabeled, deep": ("list", listing(unlabeled, True)),
        "q=rare filename, dataset": ("text", full_text(rare, big)),
        "q=rare filename, all": ("text", full_text(rare, None)),
        "q=img (prefix), dataset": ("text", full_text(common, big)),
        "q=img (prefix), all": ("text", full_text(common, None)),
        "q=tag value, dataset": ("text", full_text(camera, big)),
        "q=tag value, all": ("text", full_text(camera, None)),
        "q=label word, dataset": ("text", full_text(label_word, big)),
        "q=label word, all": ("text", full_text(label_word, None)),
        "stats (dataset read)": ("stats", lambda index, rng: index.stats(TENANT, big)),
    }


def explain(index: SqliteSearchIndex, query: ItemQuery) -> list[str]:
    """EXPLAIN QUERY PLAN of the statements `search` ran to read rows (the plan it chose), via a trace callback."""
    db = index._db()
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    try:
        index.search(TENANT, query, PAGE, None)
    finally:
        db.set_trace_callback(None)
    return [
        " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in statements
        if sql.startswith("SELECT tenant")
    ]


@dataclass
class Measured:
    """Everything one run measured."""

    corpus: Corpus
    results: dict[int, dict[str, list[float]]]  # size -> query -> latencies (ms)
    rates: dict[int, float]  # size -> insert rate while filling up to it
    db_bytes: int
    plans: dict[str, list[str]]
    kinds: dict[str, str]  # query name -> baseline, list, text or stats


def measure(sizes: list[int], runs: int, query_seconds: float, max_seconds: float, seed: int) -> Measured:
    """Fill one index size by size and time every query at each size."""
    deadline = Deadline(max_seconds)
    id_rng = random.Random(seed + 1)
    epoch_ms = int(time.time() * 1000) - 500 * 24 * 3600 * 1000
    corpus = Corpus(dataset_ids=[ulid(epoch_ms + n, id_rng) for n in range(len(DATASETS))])
    results: dict[int, dict[str, list[float]]] = {}
    rates: dict[int, float] = {}
    plans: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = SqliteSearchIndex(Path(tmp) / "index.db")
        stream = generate(corpus, seed)
        for size in sorted(sizes):
            rates[size] = fill(index, stream, corpus, size, deadline)
            if corpus.count < size:
                break
            results[size] = {}
            for n, (name, (_, call)) in enumerate(queries(corpus).items()):
                if deadline.passed():
                    break
                results[size][name] = timed(index, call, runs, query_seconds, seed * 100 + n)
        if results:
            big = corpus.dataset_ids[0]
            for name, query in (
                ("rare filename, dataset", ItemQuery(dataset_id=big, q="img-000123.png")),
                ("img (prefix), all", ItemQuery(q="img")),
            ):
                plans[name] = explain(index, query)
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
    kinds = {name: kind for name, (kind, _) in queries(corpus).items()}
    return Measured(corpus, results, rates, db_bytes, plans, kinds)


def figures(measured: Measured) -> dict:
    """The p95 of every query at the largest size reached, and the worst listing and full-text p95."""
    if not measured.results:
        return {"items": 0, "goal_ms": GOAL_MS}
    size = max(measured.results)
    p95 = {name: percentile(lat, 0.95) for name, lat in measured.results[size].items() if lat}
    listings = [v for name, v in p95.items() if measured.kinds[name] == "list"]
    texts = [v for name, v in p95.items() if measured.kinds[name] == "text"]
    return {
        "items": size,
        "goal_ms": GOAL_MS,
        "p95_ms": p95,
        "list_p95_ms": max(listings, default=None),
        "list_worst": max((n for n in p95 if measured.kinds[n] == "list"), key=p95.get, default=None),
        "list_queries": len(listings),
        "full_text_p95_ms": max(texts, default=None),
        "full_text_worst": max((n for n in p95 if measured.kinds[n] == "text"), key=p95.get, default=None),
        "full_text_queries": len(texts),
        "complete": len(p95) == len(measured.kinds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated item counts")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per query and size")
    parser.add_argument("--query-seconds", type=float, default=30.0, help="time cap per query and size")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop early (with a warning) past this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, no tables")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    measured = measure(sizes, args.runs, args.query_seconds, args.max_seconds, args.seed)
    if args.json:
        print(json.dumps(figures(measured)))
    else:
        report(args, measured)


def report(args, measured: Measured) -> None:
    corpus, results = measured.corpus, measured.results
    big = corpus.dataset_ids[0]
    print(
        f"SqliteSearchIndex, one tenant, {len(DATASETS)} datasets (largest {DATASETS[0][1]:.0%}), "
        f"{len(LABELS)} labels + {UNLABELED_SHARE:.0%} unlabeled, 2-3 tags/item; "
        f"page = {PAGE} rows; up to {args.runs} runs per query at random positions"
    )
    for size, rate in measured.rates.items():
        print(f"  filled to {size:>9,} items at {rate:,.0f} items/s (upsert_many, {CHUNK:,} per transaction)")
    print(
        f"  index file at {corpus.count:,} items: {measured.db_bytes / 1e6:.0f} MB; "
        f"largest dataset {len(corpus.ids_by_dataset[big]):,} items"
    )
    sizes = list(results)
    if not sizes:
        return
    print()
    print(f"{'query':28}" + "".join(f" {f'{s:,} items':>26}" for s in sizes) + "  goal")
    print(f"{'':28}" + "".join(f" {'p50 ms':>8} {'p95 ms':>8} {'ratio':>8}" for _ in sizes))
    for name in results[sizes[0]]:
        print(row(name, sizes, results, args.runs))
    print(f"goal: p95 < {GOAL_MS:.0f} ms at the largest size; ratio = p95 / p95 of `get by id` at the same size")
    if measured.plans:
        print()
        print("EXPLAIN QUERY PLAN of the statements the full-text search chose (one line per statement):")
        for name, plan in measured.plans.items():
            for n, statement in enumerate(plan):
                print(f"  {name if n == 0 else '':24}  {statement}")
    print()
    print(
        "reproduce: .venv/bin/python benchmarks/search_index.py "
        f"--sizes {args.sizes} --runs {args.runs} --query-seconds {args.query_seconds:g} "
        f"--max-seconds {args.max_seconds:g} --seed {args.seed}"
    )


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


def row(name: str, sizes: list[int], results, runs: int) -> str:
    line = f"{name:28}"
    for size in sizes:
        lat, base = results[size].get(name), results[size].get(BASELINE)
        if not lat or not base:
            line += f" {'-':>8} {'-':>8} {'-':>8}"
            continue
        p95 = percentile(lat, 0.95)
        line += f" {statistics.median(lat):8.2f} {p95:8.2f} {times(p95 / percentile(base, 0.95)):>8}"
    last = results[sizes[-1]].get(name)
    if last:
        line += "  " + ("ok" if percentile(last, 0.95) < GOAL_MS else "MISS")
        line += "" if len(last) >= runs else f" (n={len(last)})"
    return line


if __name__ == "__main__":
    main()
