"""Embedded search index at scale: listings, filters, full text and stats at 10k, 100k and 1M items.

Fills a SqliteSearchIndex in a temporary directory with ItemRecords of one tenant (written with
`upsert_many` in chunks; the index grows from one size to the next), then times each read the API
makes, `--runs` times at random positions (random `after` cursors, random terms). The baseline,
measured in the same run on the same file, is a primary-key lookup (`get`): the ratio shows what
a listing or search costs over the cheapest read the index has. The goal printed beside the
figures: p95 < 100 ms at 1M items. Listings and searches ask for 51 rows, as ItemService.list
does for a page of 50.

Unless `--no-candidate`, a second index is filled with the same records: CandidateIndex below, a
benchmark-local copy of the adapter with a proposed full-text plan (FTS5 prefix index and a plan
chosen by the number of matches; see its docstring). Its full-text figures are printed beside the
current ones, with a check that both return the same pages. service/ is not changed by this.

    .venv/bin/python benchmarks/search_index.py [--sizes 10000,100000,1000000] [--runs 200]
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
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
from service.adapters.searchindex.sqlite import (
    _COLUMNS,
    DELETED,
    SqliteSearchIndex,
    _record,
    match_expression,
)

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
    """A lower-case ULID like service.domain.ids.new_id, from a given time (ids sort by creation)."""
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


# -- the candidate plan (benchmark-local; service/ is not changed) ------------------------------

FEW = 2_000  # at most this many matches: fetch them by rowid and sort them (no walk at all)
MANY = 20_000  # more matches than this, with probes that can seek: walk in item_id order
WINDOW = 1_000  # rows the walk probes before it falls back to the list of all matches
PREFIXES = (1, 2, 3)  # prefix lengths FTS5 indexes (`prefix='1 2 3'`): such prefix probes seek


class CandidateIndex(SqliteSearchIndex):
    """The current adapter with a full-text plan chosen by how many rows match.

    Current plan (EXPLAIN QUERY PLAN): `SEARCH items USING INDEX items_by_dataset (tenant=? AND
    dataset_id=?)` (or the (tenant, item_id) autoindex) then `LIST SUBQUERY 1` / `SCAN items_fts
    VIRTUAL TABLE INDEX 0:M1`: SQLite cannot know how many rows an FTS5 MATCH returns, so it always
    walks the whole filtered range in item_id order and checks each row against a list of every
    match built first. A rare term walks the whole dataset (O(dataset)); a common one builds a
    list of all its matches (O(matches)); both are ~100 ms at 1M items.

    Candidate: (1) FTS5 `prefix='1 2 3'`, so a 1-3 character last word (search as you type) is
    an index lookup, not a merge of every term's doclist; (2) count the matches up to a cap first:
    at most FEW -> read those rows by rowid and sort them (`(SELECT rowid ... MATCH ?) CROSS JOIN items`);
    more than MANY with seekable probes -> walk in item_id order with a per-row probe (`EXISTS
    ... MATCH ? AND rowid = items.rowid`), at most WINDOW rows, then the list plan for the rest;
    otherwise the current list plan.
    """

    def __init__(self, path: Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path)
        db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(body, "
            f"tokenize='unicode61 remove_diacritics 2', prefix='{' '.join(map(str, PREFIXES))}')"
        )
        db.close()
        super().__init__(path)  # the rest of the schema; items_fts already exists

    def _matches(self, expression: str, cap: int) -> int:
        """How many rows match, counting no further than `cap` (cheap when the terms' probes seek)."""
        sql = "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)"
        return self._db().execute(sql, (expression, cap)).fetchone()[0]

    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        if query.q is None:
            return super().search(tenant, query, limit, after)
        words = re.findall(r"\w+", query.q)
        expression = match_expression(query.q)
        if expression is None:
            return []
        where, params = ["tenant = ?", "status != ?"], [tenant, DELETED]
        for column, value in (
            ("dataset_id", query.dataset_id),
            ("label", query.label),
            ("status", query.status),
            ("content_type", query.content_type),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.unlabeled:
            where.append("label IS NULL")
        if after is not None:
            where.append("item_id > ?")
            params.append(after)
        db = self._db()  # only column lists and `?` placeholders are interpolated into SQL below
        # Few matches? Exact words first: cheap even when the last word is a long, costly prefix.
        few = self._matches(" AND ".join(f'"{w}"' for w in words), FEW + 1) <= FEW
        if few and self._matches(expression, FEW + 1) <= FEW:
            sql = (
                f"SELECT {_COLUMNS} FROM (SELECT rowid AS r FROM items_fts WHERE items_fts MATCH ?) AS m "  # noqa: S608
                f"CROSS JOIN items ON items.rowid = m.r WHERE {' AND '.join(where)} ORDER BY item_id LIMIT ?"
            )
            return [_record(r) for r in db.execute(sql, (expression, *params, limit))]
        last = words[-1]
        seekable = last.isascii() and last.isalnum() and len(last) in PREFIXES
        found: list[tuple] = []
        if seekable and self._matches(expression, MANY + 1) > MANY:
            cond = " AND ".join(where)
            bound = db.execute(
                f"SELECT item_id FROM items WHERE {cond} ORDER BY item_id LIMIT 1 OFFSET ?",  # noqa: S608
                (*params, WINDOW - 1),
            ).fetchone()
            upto, upto_params = (" AND item_id <= ?", [bound[0]]) if bound else ("", [])
            probe = "EXISTS (SELECT 1 FROM items_fts WHERE items_fts MATCH ? AND items_fts.rowid = items.rowid)"
            found = db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE {cond}{upto} AND {probe} ORDER BY item_id LIMIT ?",  # noqa: S608
                (*params, *upto_params, expression, limit),
            ).fetchall()
            if len(found) == limit or bound is None:
                return [_record(r) for r in found]
            where.append("item_id > ?")  # sparse under these filters: the list plan for the rest
            params.append(bound[0])
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM items WHERE {' AND '.join(where)} "  # noqa: S608
            "AND rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?) ORDER BY item_id LIMIT ?",
            (*params, expression, limit - len(found)),
        )
        return [_record(r) for r in [*found, *rows]]


# -- measuring ----------------------------------------------------------------------------------


def fill(
    indexes: list[SqliteSearchIndex], stream: Iterator[ItemRecord], corpus: Corpus, size: int, deadline: Deadline
) -> list[float]:
    """Grow every index to `size` items with the same chunks; returns each one's insert rate (items/s)."""
    spent, added = [0.0] * len(indexes), 0
    while corpus.count < size and not deadline.passed():
        chunk = [next(stream) for _ in range(min(CHUNK, size - corpus.count))]
        for n, index in enumerate(indexes):
            started = time.perf_counter()
            index.upsert_many(chunk)
            spent[n] += time.perf_counter() - started
        added += len(chunk)
    return [added / s if s else 0.0 for s in spent]


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


def queries(corpus: Corpus) -> dict[str, tuple[bool, Query]]:
    """The reads the API makes: name -> (is full text, call picking a random position or term)."""
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
        BASELINE: (False, lambda index, rng: index.get(TENANT, *rng.choice(live))),
        "dataset page, first": (False, listing(dataset, False)),
        "dataset page, deep (after)": (False, listing(dataset, True)),
        "label filter, first": (False, listing(by_label, False)),
        "label filter, deep": (False, listing(by_label, True)),
        "unlabeled, first": (False, listing(unlabeled, False)),
        "unlabeled, deep": (False, listing(unlabeled, True)),
        "q=rare filename, dataset": (True, full_text(rare, big)),
        "q=rare filename, all": (True, full_text(rare, None)),
        "q=img (prefix), dataset": (True, full_text(common, big)),
        "q=img (prefix), all": (True, full_text(common, None)),
        "q=tag value, dataset": (True, full_text(camera, big)),
        "q=tag value, all": (True, full_text(camera, None)),
        "q=label word, dataset": (True, full_text(label_word, big)),
        "q=label word, all": (True, full_text(label_word, None)),
        "stats (dataset read)": (False, lambda index, rng: index.stats(TENANT, big)),
    }


def same_pages(current: SqliteSearchIndex, candidate: SqliteSearchIndex, call: Query, seed: int, n: int) -> int:
    """How many of `n` calls with the same random arguments return the same page from both."""
    same = 0
    for k in range(n):
        a = call(current, random.Random(seed * 1000 + k))
        b = call(candidate, random.Random(seed * 1000 + k))
        same += [r.item_id for r in a] == [r.item_id for r in b]
    return same


def explain(index: SqliteSearchIndex, query: ItemQuery) -> list[str]:
    """EXPLAIN QUERY PLAN of the statement `search` runs, captured with a trace callback."""
    db = index._db()
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    try:
        index.search(TENANT, query, PAGE, None)
    finally:
        db.set_trace_callback(None)
    sql = next(s for s in statements if s.startswith("SELECT tenant"))
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated item counts")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per query and size")
    parser.add_argument("--query-seconds", type=float, default=30.0, help="time cap per query and size")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop early (with a warning) past this")
    parser.add_argument("--no-candidate", action="store_true", help="skip the candidate full-text plan")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    deadline = Deadline(args.max_seconds)
    id_rng = random.Random(args.seed + 1)
    epoch_ms = int(time.time() * 1000) - 500 * 24 * 3600 * 1000
    corpus = Corpus(dataset_ids=[ulid(epoch_ms + n, id_rng) for n in range(len(DATASETS))])
    results: dict[int, dict[str, list[float]]] = {}  # size -> query -> latencies
    after: dict[int, dict[str, tuple[list[float], int, int]]] = {}  # candidate: latencies, same, compared
    rates: dict[int, list[float]] = {}
    plans: dict[str, list[str]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        current = SqliteSearchIndex(Path(tmp) / "current" / "index.db")
        indexes: list[SqliteSearchIndex] = [current]
        if not args.no_candidate:
            indexes.append(CandidateIndex(Path(tmp) / "candidate" / "index.db"))
        stream = generate(corpus, args.seed)
        for size in sizes:
            rates[size] = fill(indexes, stream, corpus, size, deadline)
            if corpus.count < size:
                break
            results[size], after[size] = {}, {}
            for n, (name, (text, call)) in enumerate(queries(corpus).items()):
                if deadline.passed():
                    break
                seed = args.seed * 100 + n  # the same positions and terms for both indexes
                results[size][name] = timed(current, call, args.runs, args.query_seconds, seed)
                if text and len(indexes) > 1:
                    lat = timed(indexes[1], call, args.runs, args.query_seconds, seed)
                    after[size][name] = (lat, same_pages(current, indexes[1], call, seed, 20), 20)
        if results:
            big = corpus.dataset_ids[0]
            for name, query in (
                ("rare filename, dataset", ItemQuery(dataset_id=big, q="img-000123.png")),
                ("img (prefix), all", ItemQuery(q="img")),
            ):
                plans[name] = explain(current, query)
        db_bytes = [sum(p.stat().st_size for p in i.path.parent.iterdir()) for i in indexes]

    report(args, corpus, results, after, rates, db_bytes, plans)


def report(args, corpus: Corpus, results, after, rates, db_bytes: list[int], plans) -> None:
    big = corpus.dataset_ids[0]
    print(
        f"SqliteSearchIndex, one tenant, {len(DATASETS)} datasets (largest {DATASETS[0][1]:.0%}), "
        f"{len(LABELS)} labels + {UNLABELED_SHARE:.0%} unlabeled, 2-3 tags/item; "
        f"page = {PAGE} rows; up to {args.runs} runs per query at random positions"
    )
    for size, (rate, *cand) in rates.items():
        extra = f"; candidate {cand[0]:,.0f} items/s" if cand else ""
        print(f"  filled to {size:>9,} items at {rate:,.0f} items/s (upsert_many, {CHUNK:,} per transaction){extra}")
    files = f"index file at {corpus.count:,} items: {db_bytes[0] / 1e6:.0f} MB"
    if len(db_bytes) > 1:
        files += f" (candidate with prefix index: {db_bytes[1] / 1e6:.0f} MB)"
    print(f"  {files}; largest dataset {len(corpus.ids_by_dataset[big]):,} items")
    sizes = list(results)
    if not sizes:
        return
    print()
    print(f"{'query':28}" + "".join(f" {f'{s:,} items':>26}" for s in sizes) + "  goal")
    print(f"{'':28}" + "".join(f" {'p50 ms':>8} {'p95 ms':>8} {'ratio':>8}" for _ in sizes))
    for name in results[sizes[0]]:
        print(row(name, sizes, results, args.runs))
    print(f"goal: p95 < {GOAL_MS:.0f} ms at the largest size; ratio = p95 / p95 of `get by id` at the same size")
    if plans:
        print()
        print("EXPLAIN QUERY PLAN of the current full-text statement:")
        for name, plan in plans.items():
            print(f"  {name}: " + " | ".join(plan))
    if any(after.values()):
        print()
        print("candidate full-text plan (CandidateIndex in this file; service/ unchanged), same data and positions:")
        print(f"{'query':28}" + "".join(f" {f'{s:,} p95 before/after':>26}" for s in sizes) + "  same pages  goal")
        for name in after[sizes[0]]:
            line = f"{name:28}"
            for size in sizes:
                if name not in after.get(size, {}) or name not in results[size]:
                    line += f" {'-':>26}"
                    continue
                before_p95 = percentile(results[size][name], 0.95)
                after_p95 = percentile(after[size][name][0], 0.95)
                line += f" {before_p95:8.2f} -> {after_p95:7.2f} {times(before_p95 / after_p95):>6}"
            last = after.get(sizes[-1], {}).get(name)
            if last:
                verdict = "ok" if percentile(last[0], 0.95) < GOAL_MS else "MISS"
                line += f"  {last[1]:>4}/{last[2]:<5} {verdict}"
            print(line)
    print()
    print(
        "reproduce: .venv/bin/python benchmarks/search_index.py "
        f"--sizes {args.sizes} --runs {args.runs} --query-seconds {args.query_seconds:g} "
        f"--max-seconds {args.max_seconds:g} --seed {args.seed}" + (" --no-candidate" if args.no_candidate else "")
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
