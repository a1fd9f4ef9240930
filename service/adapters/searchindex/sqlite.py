"""SqliteSearchIndex: the embedded index, one SQLite file in WAL mode, full text with FTS5."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from service.adapters.searchindex import (
    AVAILABLE,
    SORTS,
    DatasetStats,
    ItemQuery,
    ItemRecord,
    Prediction,
    SearchIndex,
    parse_position,
)
from service.adapters.searchindex import sqlite_listing as listing
from service.adapters.searchindex import sqlite_predictions as predictions
from service.adapters.searchindex.sqlite_fulltext import full_text, match_expression
from service.adapters.searchindex.sqlite_listing import DELETED
from service.adapters.shared_db import immediate

_FIELDS = [
    "tenant",
    "dataset_id",
    "item_id",
    "filename",
    "content_type",
    "size",
    "status",
    "created_at",
    "created_by",
    "label",
    "tags",
    "etag",
    "upload_id",
    "updated_at",
    "width",
    "height",
    "thumbnail",
    "annotations",
    "observed_at",
    "label_source",
    "sha256",
    "preview_refused",
]
_COLUMNS = ", ".join(_FIELDS)
_ITEM_COLUMNS = ", ".join(f"items.{f}" for f in _FIELDS)  # where predictions are joined in
# Columns newer than some index files: added when missing.
_ADDED_COLUMNS = {"label_source": "TEXT", "sha256": "TEXT", "preview_refused": "TEXT"}
_UPDATABLE = [f for f in _FIELDS if f not in ("tenant", "item_id")]

# Prefixes of 1-3 characters are indexed too, so searching as you type seeks instead of merging.
_FULL_TEXT = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5("
    "body, tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')"
)
_FTS_INSERT = """CREATE TRIGGER IF NOT EXISTS items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, body) VALUES (new.rowid, new.search_text);
END"""
# From this many rows on, `upsert_many` fills the full-text index with one statement after the rows:
# through the trigger, FTS5 flushes its terms row by row (2.5 of 5.6 s at 100,000 rows here).
BULK_ROWS = 1000
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS items (
    tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, item_id TEXT NOT NULL,
    filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, created_by TEXT NOT NULL, label TEXT, tags TEXT NOT NULL,
    etag TEXT NOT NULL, upload_id TEXT NOT NULL, updated_at REAL NOT NULL,
    width INTEGER, height INTEGER, thumbnail INTEGER NOT NULL, annotations INTEGER NOT NULL,
    observed_at REAL NOT NULL, search_text TEXT NOT NULL, label_source TEXT, sha256 TEXT,
    preview_refused TEXT, UNIQUE (tenant, item_id)
);
CREATE INDEX IF NOT EXISTS items_by_dataset ON items (tenant, dataset_id, item_id);
CREATE INDEX IF NOT EXISTS items_by_label ON items (tenant, dataset_id, label, item_id);
-- sort=-label: classes hold many items, which its ties (item id ascending) would otherwise sort per page.
CREATE INDEX IF NOT EXISTS items_by_label_desc ON items (tenant, dataset_id, label DESC, item_id);
CREATE INDEX IF NOT EXISTS items_by_observation ON items (tenant, observed_at);
CREATE INDEX IF NOT EXISTS items_pending ON items (tenant, size) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS items_by_name ON items (tenant, dataset_id, filename, item_id);
CREATE INDEX IF NOT EXISTS items_by_created ON items (tenant, dataset_id, created_at, item_id);
CREATE INDEX IF NOT EXISTS items_by_size ON items (tenant, dataset_id, size, item_id);
{fts}
-- Per-label totals of available items, kept by triggers: dataset reads never scan items.
CREATE TABLE IF NOT EXISTS label_counts (
    tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, label TEXT NOT NULL,
    items INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (tenant, dataset_id, label)
) WITHOUT ROWID;
{fts_insert};
CREATE TRIGGER IF NOT EXISTS items_fts_update AFTER UPDATE OF search_text ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.rowid;
    INSERT INTO items_fts (rowid, body) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS count_insert AFTER INSERT ON items WHEN new.status = 'available' BEGIN
    INSERT INTO label_counts VALUES (new.tenant, new.dataset_id, coalesce(new.label, ''), 1, new.size)
    ON CONFLICT DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS uncount_update AFTER UPDATE ON items WHEN old.status = 'available' BEGIN
    UPDATE label_counts SET items = items - 1, bytes = bytes - old.size
    WHERE tenant = old.tenant AND dataset_id = old.dataset_id AND label = coalesce(old.label, '');
END;
CREATE TRIGGER IF NOT EXISTS count_update AFTER UPDATE ON items WHEN new.status = 'available' BEGIN
    INSERT INTO label_counts VALUES (new.tenant, new.dataset_id, coalesce(new.label, ''), 1, new.size)
    ON CONFLICT DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS uncount_delete AFTER DELETE ON items WHEN old.status = 'available' BEGIN
    UPDATE label_counts SET items = items - 1, bytes = bytes - old.size
    WHERE tenant = old.tenant AND dataset_id = old.dataset_id AND label = coalesce(old.label, '');
END;
""".replace("{fts}", _FULL_TEXT + ";").replace("{fts_insert}", _FTS_INSERT)
    + predictions.SCHEMA
)

_UPSERT = (
    f"INSERT INTO items ({_COLUMNS}, search_text) VALUES ({', '.join('?' * (len(_FIELDS) + 1))})"
    " ON CONFLICT (tenant, item_id) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in [*_UPDATABLE, "search_text"])
    + " WHERE excluded.observed_at >= items.observed_at"
)


def search_text(record: ItemRecord) -> str:
    """What full text matches: file name, label, tag keys and values."""
    if record.status == DELETED:
        return ""
    parts = [record.filename, record.label or ""]
    for key, value in record.tags.items():
        parts += [key, value]
    return " ".join(parts)


class SqliteSearchIndex(SearchIndex):
    """One connection per thread; WAL lets readers run while a writer commits."""

    name = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._upgrade_full_text()
        self._upgrade_columns()
        self._db().executescript(_SCHEMA)

    def _upgrade_full_text(self) -> None:
        """Indexes made before the prefix index get it, rebuilt from the rows they hold (once)."""
        db = self._db()
        row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()
        if row is None or "prefix=" in row[0]:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DROP TABLE items_fts")
            db.execute(_FULL_TEXT)
            db.execute("INSERT INTO items_fts (rowid, body) SELECT rowid, search_text FROM items")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _upgrade_columns(self) -> None:
        """Indexes made before a column was added get it, empty (a rebuild from storage fills it)."""
        db = self._db()
        have = {row[1] for row in db.execute("PRAGMA table_info(items)")}
        for column, kind in _ADDED_COLUMNS.items():
            if have and column not in have:
                db.execute(f"ALTER TABLE items ADD COLUMN {column} {kind}")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def upsert(self, record: ItemRecord) -> bool:
        """The item's stored state; its predictions stay as they are (rescored if its label changed)."""
        with immediate(self._db()) as db:
            applied = db.execute(_UPSERT, _row(record)).rowcount > 0
            predictions.rescore(db)
        return applied

    def upsert_many(self, records: Iterable[ItemRecord]) -> int:
        """Many upserts in one transaction (imports, rebuilds, bulk labels); returns how many applied."""
        rows = [_row(r) for r in records]
        with immediate(self._db()) as db:
            if len(rows) < BULK_ROWS:
                applied = sum(db.execute(_UPSERT, row).rowcount for row in rows)
            else:
                applied = _bulk_upsert(db, rows)
            predictions.rescore(db)
        return applied

    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_COLUMNS} FROM items WHERE tenant = ? AND item_id = ? AND dataset_id = ? AND status != ?",
                (tenant, item_id, dataset_id, DELETED),
            )
            .fetchone()
        )
        return self._with_predictions(tenant, [_record(row)])[0] if row else None

    def _with_predictions(self, tenant: str, records: list[ItemRecord]) -> list[ItemRecord]:
        if not records:
            return records
        datasets = sorted({r.dataset_id for r in records})
        held = predictions.predictions_of(self._db(), tenant, datasets, [r.item_id for r in records])
        return [replace(r, predictions=held[r.item_id]) if r.item_id in held else r for r in records]

    def attach_predictions(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        job_id: str,
        finished_at: float,
        rows: Iterable[tuple[str, Prediction]],
    ) -> int:
        return predictions.attach(self._db(), tenant, dataset_id, model_id, job_id, finished_at, rows)

    def predicted_models(self, tenant: str, dataset_id: str) -> dict[str, tuple[str, int]]:
        return predictions.predicted_models(self._db(), tenant, dataset_id)

    def delete(self, tenant: str, dataset_id: str, item_id: str, observed_at: float) -> bool:
        tombstone = ItemRecord(
            tenant, dataset_id, item_id, "", "", 0, DELETED, observed_at, "", observed_at=observed_at
        )
        return self.upsert(tombstone)

    def delete_many(self, tenant: str, dataset_id: str, item_ids: list[str], observed_at: float) -> None:
        self.upsert_many(
            ItemRecord(tenant, dataset_id, i, "", "", 0, DELETED, observed_at, "", observed_at=observed_at)
            for i in item_ids
        )

    def delete_dataset(self, tenant: str, dataset_id: str) -> list[ItemRecord]:
        db = self._db()
        pending = [
            _record(row)
            for row in db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE tenant = ? AND dataset_id = ? AND status = 'pending'",
                (tenant, dataset_id),
            )
        ]
        # Tombstones, not a DELETE: an indexer that read an item just before it went (a thumbnail worker,
        # a late event) holds an older observation, which the upsert's rule then refuses.
        db.execute(
            "UPDATE items SET status = ?, search_text = '', observed_at = max(observed_at, ?)"
            " WHERE tenant = ? AND dataset_id = ? AND status != ?",
            (DELETED, time.time(), tenant, dataset_id, DELETED),
        )
        db.execute("DELETE FROM label_counts WHERE tenant = ? AND dataset_id = ?", (tenant, dataset_id))
        return pending

    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        position = None if after is None else parse_position(query, after)
        listing.check_model(query)
        if limit <= 0:
            return []
        if query.sort == "id" and query.model_id is None:
            records = self._by_id(tenant, query, limit, after)
        else:
            records = self._ordered(tenant, query, limit, position)
        return self._with_predictions(tenant, records)

    def _by_id(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        """The listing in item_id order without a model: items alone, full text by the cheapest plan."""
        where, params = listing.item_filters(tenant, query)
        if after is not None:
            where.append("item_id > ?")
            params.append(after)
        if query.q is not None:
            return [_record(r) for r in full_text(self._db(), query.q, where, params, limit, _COLUMNS)]
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY item_id LIMIT ?",
            (*params, limit),
        )
        return [_record(row) for row in rows]

    def _ordered(self, tenant: str, query: ItemQuery, limit: int, position: tuple | None) -> list[ItemRecord]:
        """A listing with a model or in another order: one statement (see sqlite_listing)."""
        if SORTS[query.sort][0] != "label":
            return self._walk(tenant, query, limit, position)
        # Labelled items in label order, then the unlabelled ones by item id (a position with no label
        # is among those): two walks down the label index, where NULLS LAST would sort every match.
        records: list[ItemRecord] = []
        if position is None or position[0] is not None:
            records = self._walk(tenant, query, limit, position, "items.label IS NOT NULL")
            position = None
        if len(records) < limit:
            records += self._walk(tenant, query, limit - len(records), position, "items.label IS NULL")
        return records

    def _walk(
        self, tenant: str, query: ItemQuery, limit: int, position: tuple | None, condition: str | None = None
    ) -> list[ItemRecord]:
        """One page by the listing's statement, `condition` (SQL without parameters) added to its filters."""
        found = self._statement(tenant, query, position, counting=False, condition=condition)
        if found is None:
            return []
        sql, values = found
        return [_record(row) for row in self._db().execute(f"SELECT {_ITEM_COLUMNS} {sql}", (*values, limit))]

    def count(self, tenant: str, query: ItemQuery) -> int:
        listing.check_model(query)
        if query.dataset_id is not None and query.model_id is None and query.q is None and query.content_type is None:
            return listing.class_count(self._db(), tenant, query)
        # In an item order, so that only the filters restrict: the prediction sorts keep only valued items.
        found = self._statement(tenant, replace(query, sort="created_at"), None, counting=True)
        if found is None:
            return 0
        sql, values = found
        return self._db().execute(f"SELECT count(*) {sql}", values).fetchone()[0]

    def _statement(
        self, tenant: str, query: ItemQuery, position: tuple | None, counting: bool, condition: str | None = None
    ) -> tuple[str, list] | None:
        """The listing's statement (see sqlite_listing), or None when nothing can match."""
        scopes: list[int] = []
        if query.model_id is not None or query.sort == "mistake":
            scopes = predictions.scopes(self._db(), tenant, query.dataset_id, query.model_id or predictions.MEAN)
            if not scopes:
                return None
        where, params = listing.item_filters(tenant, query, "items.")
        if condition is not None:
            where.append(condition)
        if query.q is not None:
            expression = match_expression(query.q)
            if expression is None:
                return None
            where.append("items.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)")
            params.append(expression)
        return listing.statement(tenant, query, scopes, position, where, params, counting)

    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        rows = (
            self._db()
            .execute(
                "SELECT label, items, bytes FROM label_counts WHERE tenant = ? AND dataset_id = ? AND items > 0",
                (tenant, dataset_id),
            )
            .fetchall()
        )
        return DatasetStats(
            item_count=sum(r[1] for r in rows),
            bytes=sum(r[2] for r in rows),
            label_counts={r[0]: r[1] for r in rows if r[0] != ""},
        )

    def holdings(self, tenant: str) -> tuple[int, int]:
        db = self._db()
        items, size = db.execute(
            "SELECT coalesce(sum(items), 0), coalesce(sum(bytes), 0) FROM label_counts WHERE tenant = ?", (tenant,)
        ).fetchone()
        pending, pending_size = db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM items WHERE tenant = ? AND status = 'pending'", (tenant,)
        ).fetchone()
        return items + pending, size + pending_size

    def tenants(self) -> list[str]:
        return [row[0] for row in self._db().execute("SELECT DISTINCT tenant FROM items ORDER BY tenant")]

    def sweep(self, tenant: str, observed_before: float) -> int:
        return (
            self._db()
            .execute(
                "DELETE FROM items WHERE tenant = ? AND observed_at < ? AND status IN (?, ?)",
                (tenant, observed_before, AVAILABLE, DELETED),
            )
            .rowcount
        )


def _bulk_upsert(db: sqlite3.Connection, rows: list[tuple]) -> int:
    """Inside the writer's transaction: the insert trigger is set aside while the rows go in, then the
    new rows' text is indexed at once. Rows that update keep the update trigger. Other connections
    see the schema change only as a re-prepared statement, and a rollback restores the trigger."""
    newest = db.execute("SELECT coalesce(max(rowid), 0) FROM items").fetchone()[0]
    db.execute("DROP TRIGGER items_fts_insert")
    cursor = db.executemany(_UPSERT, rows)
    db.execute("INSERT INTO items_fts (rowid, body) SELECT rowid, search_text FROM items WHERE rowid > ?", (newest,))
    db.execute(_FTS_INSERT)
    return cursor.rowcount


def _row(record: ItemRecord) -> tuple:
    values = [getattr(record, f) for f in _FIELDS]
    values[_FIELDS.index("tags")] = json.dumps(record.tags, sort_keys=True) if record.tags else "{}"
    values[_FIELDS.index("thumbnail")] = int(record.thumbnail)
    return (*values, search_text(record))


def _record(row: tuple) -> ItemRecord:
    values = dict(zip(_FIELDS, row, strict=True))
    values["tags"] = json.loads(values["tags"])
    values["thumbnail"] = bool(values["thumbnail"])
    return ItemRecord(**values)
