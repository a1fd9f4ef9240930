"""The embedded index's `items` table: its columns and schema, the upsert, and records as rows and back."""

from __future__ import annotations

import json
import sqlite3

from service.adapters.searchindex import ItemRecord
from service.adapters.searchindex import sqlite_predictions as predictions
from service.adapters.searchindex.sqlite_listing import DELETED

FIELDS = [
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
COLUMNS = ", ".join(FIELDS)
ITEM_COLUMNS = ", ".join(f"items.{f}" for f in FIELDS)  # where predictions are joined in
# Columns newer than some index files: added when missing.
ADDED_COLUMNS = {"label_source": "TEXT", "sha256": "TEXT", "preview_refused": "TEXT"}
UPDATABLE = [f for f in FIELDS if f not in ("tenant", "item_id")]

# Prefixes of 1-3 characters are indexed too, so searching as you type seeks instead of merging.
FULL_TEXT = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5("
    "body, tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')"
)
FTS_INSERT = """CREATE TRIGGER IF NOT EXISTS items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, body) VALUES (new.rowid, new.search_text);
END"""
# From this many rows on, `upsert_many` fills the full-text index with one statement after the rows:
# through the trigger, FTS5 flushes its terms row by row (2.5 of 5.6 s at 100,000 rows here).
BULK_ROWS = 1000
SCHEMA = (
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
""".replace("{fts}", FULL_TEXT + ";").replace("{fts_insert}", FTS_INSERT)
    + predictions.SCHEMA
)

UPSERT = (
    f"INSERT INTO items ({COLUMNS}, search_text) VALUES ({', '.join('?' * (len(FIELDS) + 1))})"
    " ON CONFLICT (tenant, item_id) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in [*UPDATABLE, "search_text"])
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


def bulk_upsert(db: sqlite3.Connection, rows: list[tuple]) -> int:
    """Inside the writer's transaction: the insert trigger is set aside while the rows go in, then the
    new rows' text is indexed at once. Rows that update keep the update trigger. Other connections
    see the schema change only as a re-prepared statement, and a rollback restores the trigger."""
    newest = db.execute("SELECT coalesce(max(rowid), 0) FROM items").fetchone()[0]
    db.execute("DROP TRIGGER items_fts_insert")
    cursor = db.executemany(UPSERT, rows)
    db.execute("INSERT INTO items_fts (rowid, body) SELECT rowid, search_text FROM items WHERE rowid > ?", (newest,))
    db.execute(FTS_INSERT)
    return cursor.rowcount


def row_of(record: ItemRecord) -> tuple:
    values = [getattr(record, f) for f in FIELDS]
    values[FIELDS.index("tags")] = json.dumps(record.tags, sort_keys=True) if record.tags else "{}"
    values[FIELDS.index("thumbnail")] = int(record.thumbnail)
    return (*values, search_text(record))


def record_of(row: tuple) -> ItemRecord:
    values = dict(zip(FIELDS, row, strict=True))
    values["tags"] = json.loads(values["tags"])
    values["thumbnail"] = bool(values["thumbnail"])
    return ItemRecord(**values)
