"""Model predictions in the embedded index: tables beside `items`, scored against each item's label.

A prediction is derived data (a job's output), not an item's stored state, so it has its own table
and an item's upsert leaves it alone. Its `disagrees` and `mistake` depend on the item's current
label. They are computed here in Python with the port's own `mistake_score` (and the mean as
`sort_value` takes it), never in SQL: a cursor is made from a record in Python, and SQLite rounds and
sums floats differently in the last digit, which would repeat or skip items at a page boundary.
So a label change only queues the item (a trigger) and the writer rescores the queue before it commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from service.adapters.searchindex import Prediction, mistake_score
from service.adapters.shared_db import immediate

# Rows per attach transaction. Each commit writes every page the batch touched of the indexes in value
# order, pages spread all over them: fewer, larger batches write far less. Another writer (a label
# saved meanwhile) waits for one batch, a second or two.
BATCH = 50_000
ATTACH_CACHE_KIB = 512 * 1024  # page cache while attaching: a batch's pages stay in memory until its commit
MEAN = ""  # the model id of a dataset's own scope, which holds the mean mistake over its models

SCHEMA = """
-- One integer per (tenant, dataset, model): the keys of a million predictions, and of their indexes,
-- stay short. Model '' is the dataset's own scope (the mean mistakes).
CREATE TABLE IF NOT EXISTS prediction_scopes (
    scope INTEGER PRIMARY KEY, tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, model_id TEXT NOT NULL,
    UNIQUE (tenant, dataset_id, model_id)
);
CREATE TABLE IF NOT EXISTS predictions (
    scope INTEGER NOT NULL, item_id TEXT NOT NULL, job_id TEXT NOT NULL, finished_at REAL NOT NULL,
    predicted TEXT, score REAL, margin REAL, probs TEXT NOT NULL, disagrees INTEGER NOT NULL, mistake REAL,
    PRIMARY KEY (scope, item_id)
) WITHOUT ROWID;
-- Each walks one model's predictions in the order a listing pages by (the keyset is the tail).
CREATE INDEX IF NOT EXISTS predictions_disagreeing ON predictions (scope, item_id) WHERE disagrees = 1;
CREATE INDEX IF NOT EXISTS predictions_by_margin ON predictions (scope, margin, item_id);
CREATE INDEX IF NOT EXISTS predictions_by_score ON predictions (scope, score, item_id);
CREATE INDEX IF NOT EXISTS predictions_by_mistake ON predictions (scope, mistake DESC, item_id)
    WHERE mistake IS NOT NULL;
-- The mean mistake over an item's models, under its dataset's scope; only items that have one.
CREATE TABLE IF NOT EXISTS item_mistakes (
    scope INTEGER NOT NULL, item_id TEXT NOT NULL, mistake REAL NOT NULL, PRIMARY KEY (scope, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_mistakes_by_value ON item_mistakes (scope, mistake DESC, item_id);
-- Items per (scope, job), kept by attach and (for items that go) a trigger: predicted_models never scans.
CREATE TABLE IF NOT EXISTS prediction_counts (
    scope INTEGER NOT NULL, job_id TEXT NOT NULL, finished_at REAL NOT NULL, items INTEGER NOT NULL,
    PRIMARY KEY (scope, job_id)
) WITHOUT ROWID;
-- Items whose label changed while they hold predictions: rescored by the writer before it commits.
CREATE TABLE IF NOT EXISTS relabelled (
    tenant TEXT NOT NULL, item_id TEXT NOT NULL, PRIMARY KEY (tenant, item_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS prediction_count_delete AFTER DELETE ON predictions BEGIN
    UPDATE prediction_counts SET items = items - 1 WHERE scope = old.scope AND job_id = old.job_id;
END;
CREATE TRIGGER IF NOT EXISTS predictions_relabel AFTER UPDATE OF label ON items
WHEN old.label IS NOT new.label AND EXISTS (
    SELECT 1 FROM prediction_scopes AS s CROSS JOIN predictions AS p ON p.scope = s.scope AND p.item_id = new.item_id
    WHERE s.tenant = new.tenant AND s.dataset_id = new.dataset_id
) BEGIN
    INSERT OR IGNORE INTO relabelled VALUES (new.tenant, new.item_id);
END;
CREATE TRIGGER IF NOT EXISTS predictions_tombstone AFTER UPDATE OF status ON items
WHEN new.status = 'deleted' AND old.status != 'deleted' BEGIN
    DELETE FROM predictions WHERE item_id = old.item_id
        AND scope IN (SELECT scope FROM prediction_scopes WHERE tenant = old.tenant AND dataset_id = old.dataset_id);
    DELETE FROM item_mistakes WHERE item_id = old.item_id
        AND scope IN (SELECT scope FROM prediction_scopes WHERE tenant = old.tenant AND dataset_id = old.dataset_id);
END;
CREATE TRIGGER IF NOT EXISTS predictions_forget AFTER DELETE ON items BEGIN
    DELETE FROM predictions WHERE item_id = old.item_id
        AND scope IN (SELECT scope FROM prediction_scopes WHERE tenant = old.tenant AND dataset_id = old.dataset_id);
    DELETE FROM item_mistakes WHERE item_id = old.item_id
        AND scope IN (SELECT scope FROM prediction_scopes WHERE tenant = old.tenant AND dataset_id = old.dataset_id);
END;
"""

_ATTACH = (
    "INSERT INTO predictions (scope, item_id, job_id, finished_at, predicted, score, margin, probs, disagrees,"
    " mistake) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (scope, item_id) DO UPDATE SET job_id = excluded.job_id, finished_at = excluded.finished_at,"
    " predicted = excluded.predicted, score = excluded.score, margin = excluded.margin, probs = excluded.probs,"
    " disagrees = excluded.disagrees, mistake = excluded.mistake"
)
# A batch's ids travel as one JSON parameter: SQLite before 3.32 took at most 999 `?` per statement.
_LABELS = (
    "SELECT item_id, label FROM items WHERE tenant = ? AND item_id IN (SELECT value FROM json_each(?))"
    " AND dataset_id = ? AND status != 'deleted'"
)
# The predictions of some items (of some datasets), and their mistake scores: item by item, in model order.
_PREDICTIONS = (
    "SELECT p.item_id, p.scope, s.model_id, p.job_id, p.predicted, p.score, p.margin, p.probs, p.finished_at"
    " FROM prediction_scopes AS s CROSS JOIN predictions AS p"
    " ON p.scope = s.scope AND p.item_id IN (SELECT value FROM json_each(?))"
    " WHERE s.tenant = ? AND s.dataset_id IN (SELECT value FROM json_each(?)) AND s.model_id != ''"
    " ORDER BY p.item_id, s.model_id"
)
_HELD = (
    "SELECT item_id, job_id, finished_at FROM predictions"
    " WHERE scope = ? AND item_id IN (SELECT value FROM json_each(?))"
)
_MISTAKES = (
    "SELECT item_id, scope, mistake FROM predictions WHERE scope IN (SELECT value FROM json_each(?))"
    " AND item_id IN (SELECT value FROM json_each(?)) AND mistake IS NOT NULL"
)


def disagrees(prediction: Prediction, label: str | None) -> bool:
    """Labelled, and the model predicts another class."""
    return label is not None and prediction.predicted is not None and prediction.predicted != label


def scopes(db: sqlite3.Connection, tenant: str, dataset_id: str | None, model_id: str) -> list[int]:
    """The scopes of a model's predictions (MEAN: of the mean mistakes) on one dataset, or on all of them."""
    sql = "SELECT scope FROM prediction_scopes WHERE tenant = ? AND model_id = ?"
    if dataset_id is None:
        return [r[0] for r in db.execute(sql, (tenant, model_id))]
    return [r[0] for r in db.execute(sql + " AND dataset_id = ?", (tenant, model_id, dataset_id))]


def _scope(db: sqlite3.Connection, tenant: str, dataset_id: str, model_id: str) -> int:
    db.execute("INSERT OR IGNORE INTO prediction_scopes VALUES (NULL, ?, ?, ?)", (tenant, dataset_id, model_id))
    return scopes(db, tenant, dataset_id, model_id)[0]


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def attach(
    db: sqlite3.Connection,
    tenant: str,
    dataset_id: str,
    model_id: str,
    job_id: str,
    finished_at: float,
    rows: Iterable[tuple[str, Prediction]],
) -> int:
    """SearchIndex.attach_predictions on one connection, a transaction per batch."""
    with immediate(db):
        scope, mean = _scope(db, tenant, dataset_id, model_id), _scope(db, tenant, dataset_id, MEAN)
    attached = 0
    with _cache(db, ATTACH_CACHE_KIB):
        for batch in _batches(rows, BATCH):
            predictions = dict(batch)
            ids = json.dumps(list(predictions))
            with immediate(db):
                held = {i: (job, finished) for i, job, finished in db.execute(_HELD, (scope, ids))}
                values, mistakes, replaced = [], {}, Counter()
                for item_id, label in db.execute(_LABELS, (tenant, ids, dataset_id)):
                    before = held.get(item_id)
                    if before is not None and before[1] > finished_at:
                        continue  # a job that finished later has attached its own
                    p = predictions[item_id]
                    mistakes[item_id] = mistake = mistake_score(p, label)
                    row = (p.predicted, p.score, p.margin, json.dumps(p.probs), disagrees(p, label), mistake)
                    values.append((scope, item_id, job_id, finished_at, *row))
                    if before is None or before[0] != job_id:
                        replaced[before[0] if before else None] += 1
                db.executemany(_ATTACH, values)
                _count(db, scope, job_id, finished_at, replaced)
                _remean(db, tenant, dataset_id, mean, list(mistakes), (scope, mistakes))
            attached += len(values)
        _drop_older(db, tenant, dataset_id, scope, mean, finished_at)
    return attached


def _count(db: sqlite3.Connection, scope: int, job_id: str, finished_at: float, replaced: Counter) -> None:
    """Items per job after a batch: `replaced` counts the rows that now hold `job_id`, by the job they
    held before (None: none)."""
    db.execute(
        "INSERT INTO prediction_counts VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET items = items + excluded.items",
        (scope, job_id, finished_at, sum(replaced.values())),
    )
    db.executemany(
        "UPDATE prediction_counts SET items = items - ? WHERE scope = ? AND job_id = ?",
        [(n, scope, old) for old, n in replaced.items() if old is not None],
    )


def _drop_older(db: sqlite3.Connection, tenant: str, dataset_id: str, scope: int, mean: int, finished: float) -> None:
    """Forget the scope's predictions from jobs that finished before `finished` (items the job did not cover)."""
    older = "SELECT 1 FROM prediction_counts WHERE scope = ? AND finished_at < ? AND items > 0"
    after = ""
    while db.execute(older, (scope, finished)).fetchone() is not None:  # most jobs cover all: no walk at all
        with immediate(db):
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT item_id FROM predictions WHERE scope = ? AND item_id > ? AND finished_at < ?"
                    " ORDER BY item_id LIMIT ?",
                    (scope, after, finished, BATCH),
                )
            ]
            db.executemany("DELETE FROM predictions WHERE scope = ? AND item_id = ?", [(scope, i) for i in ids])
            _remean(db, tenant, dataset_id, mean, ids)
        if len(ids) < BATCH:
            break
        after = ids[-1]
    db.execute("DELETE FROM prediction_counts WHERE scope = ? AND items <= 0", (scope,))


def rescore(db: sqlite3.Connection) -> None:
    """Recompute `disagrees` and `mistake` of the items queued by a label change (inside the writer's transaction)."""
    queued = db.execute("SELECT tenant, item_id FROM relabelled").fetchall()
    for tenant in {t for t, _ in queued}:
        ids = [i for t, i in queued if t == tenant]
        items = db.execute(
            "SELECT item_id, dataset_id, label FROM items WHERE tenant = ?"
            " AND item_id IN (SELECT value FROM json_each(?))",
            (tenant, json.dumps(ids)),
        ).fetchall()
        for dataset_id in {d for _, d, _ in items}:
            labels = {i: label for i, d, label in items if d == dataset_id}
            updates = [
                (disagrees(p, labels[i]), mistake_score(p, labels[i]), scope, i)
                for i, scope, p in _read(db, tenant, [dataset_id], list(labels))
            ]
            db.executemany("UPDATE predictions SET disagrees = ?, mistake = ? WHERE scope = ? AND item_id = ?", updates)
            _remean(db, tenant, dataset_id, _scope(db, tenant, dataset_id, MEAN), list(labels))
    if queued:
        db.execute("DELETE FROM relabelled")


def _remean(
    db: sqlite3.Connection,
    tenant: str,
    dataset_id: str,
    mean: int,
    ids: list[str],
    known: tuple[int, dict[str, float | None]] | None = None,
) -> None:
    """The mean mistake of each item over its models, exactly as `sort_value` computes it; `known`:
    one scope's mistakes, just written (the others are read)."""
    models = dict(
        db.execute(
            "SELECT scope, model_id FROM prediction_scopes WHERE tenant = ? AND dataset_id = ? AND model_id != ?",
            (tenant, dataset_id, MEAN),
        ).fetchall()
    )
    scores: dict[str, list[tuple[str, float]]] = {}
    if known is not None:
        for item_id, mistake in known[1].items():
            if mistake is not None:
                scores.setdefault(item_id, []).append((models[known[0]], mistake))
    others = [s for s in models if known is None or s != known[0]]
    if others:
        for item_id, scope, mistake in db.execute(_MISTAKES, (json.dumps(others), json.dumps(ids))):
            scores.setdefault(item_id, []).append((models[scope], mistake))
    # Summed in model order, as sort_value sums them: the float sum is the same to the last bit.
    means = {i: round(sum(m for _, m in sorted(found)) / len(found), 6) for i, found in scores.items()}
    db.executemany(
        "INSERT INTO item_mistakes VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET mistake = excluded.mistake"
        " WHERE mistake != excluded.mistake",
        [(mean, i, m) for i, m in means.items()],
    )
    db.executemany(
        "DELETE FROM item_mistakes WHERE scope = ? AND item_id = ?", [(mean, i) for i in ids if i not in means]
    )


def _read(db: sqlite3.Connection, tenant: str, datasets: list[str], ids: list[str]) -> Iterator:
    """(item id, scope, Prediction) of the items' predictions, by item then model."""
    for item_id, scope, model_id, job_id, predicted, score, margin, probs, finished_at in db.execute(
        _PREDICTIONS, (json.dumps(ids), tenant, json.dumps(datasets))
    ):
        yield item_id, scope, Prediction(model_id, job_id, predicted, score, margin, json.loads(probs), finished_at)


def predictions_of(db: sqlite3.Connection, tenant: str, datasets: list[str], ids: list[str]) -> dict[str, tuple]:
    """Each item's predictions, sorted by model id (items without any are left out)."""
    found: dict[str, list[Prediction]] = {}
    for item_id, _, prediction in _read(db, tenant, datasets, ids):
        found.setdefault(item_id, []).append(prediction)
    return {item_id: tuple(predictions) for item_id, predictions in found.items()}


def predicted_models(db: sqlite3.Connection, tenant: str, dataset_id: str) -> dict[str, tuple[str, int]]:
    """SearchIndex.predicted_models from the counts attach (and a trigger, for items that go) keep."""
    models: dict[str, tuple[str, int]] = {}
    for model_id, job_id, items in db.execute(
        "SELECT s.model_id, c.job_id, c.items FROM prediction_scopes AS s CROSS JOIN prediction_counts AS c"
        " ON c.scope = s.scope WHERE s.tenant = ? AND s.dataset_id = ? AND c.items > 0"
        " ORDER BY s.model_id, c.finished_at, c.job_id",  # a model's latest job comes last
        (tenant, dataset_id),
    ):
        models[model_id] = (job_id, models.get(model_id, ("", 0))[1] + items)
    return models


@contextmanager
def _cache(db: sqlite3.Connection, kib: int) -> Iterator[None]:
    """A larger page cache for the connection while the block runs (it is freed as pages are)."""
    before = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(before)}")
