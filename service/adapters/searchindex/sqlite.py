"""SqliteSearchIndex: the embedded index, one SQLite file in WAL mode in the data dir."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from service.adapters.searchindex import DatasetStats, ItemQuery, ItemRecord, SearchIndex

_COLUMNS = (
    "tenant, dataset_id, item_id, filename, content_type, size, status, created_at, created_by,"
    " label, tags, etag, upload_id, updated_at"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, item_id TEXT NOT NULL,
    filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, created_by TEXT NOT NULL, label TEXT, tags TEXT NOT NULL,
    etag TEXT NOT NULL, upload_id TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_dataset ON items (tenant, dataset_id, item_id);
CREATE INDEX IF NOT EXISTS items_by_label ON items (tenant, dataset_id, label, item_id);
"""


class SqliteSearchIndex(SearchIndex):
    """One connection per thread; WAL lets readers run while a writer commits."""

    name = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def upsert(self, record: ItemRecord) -> None:
        self._db().execute(
            f"INSERT OR REPLACE INTO items ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
            (
                record.tenant,
                record.dataset_id,
                record.item_id,
                record.filename,
                record.content_type,
                record.size,
                record.status,
                record.created_at,
                record.created_by,
                record.label,
                json.dumps(record.tags, sort_keys=True),
                record.etag,
                record.upload_id,
                record.updated_at,
            ),
        )

    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_COLUMNS} FROM items WHERE tenant = ? AND item_id = ? AND dataset_id = ?",
                (tenant, item_id, dataset_id),
            )
            .fetchone()
        )
        return _record(row) if row else None

    def delete(self, tenant: str, dataset_id: str, item_id: str) -> None:
        self._db().execute(
            "DELETE FROM items WHERE tenant = ? AND item_id = ? AND dataset_id = ?",
            (tenant, item_id, dataset_id),
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
        db.execute("DELETE FROM items WHERE tenant = ? AND dataset_id = ?", (tenant, dataset_id))
        return pending

    def search(self, tenant: str, query: ItemQuery, limit: int, after: str | None) -> list[ItemRecord]:
        where, params = ["tenant = ?"], [tenant]
        if query.dataset_id is not None:
            where.append("dataset_id = ?")
            params.append(query.dataset_id)
        if query.label is not None:
            where.append("label = ?")
            params.append(query.label)
        if query.unlabeled:
            where.append("label IS NULL")
        if query.status is not None:
            where.append("status = ?")
            params.append(query.status)
        if query.content_type is not None:
            where.append("content_type = ?")
            params.append(query.content_type)
        if query.q:
            where.append("(filename LIKE ? ESCAPE '\\' OR label LIKE ? ESCAPE '\\')")
            pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern]
        if after is not None:
            where.append("item_id > ?")
            params.append(after)
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY item_id LIMIT ?",
            (*params, limit),
        )
        return [_record(row) for row in rows]

    def stats(self, tenant: str, dataset_id: str) -> DatasetStats:
        rows = (
            self._db()
            .execute(
                "SELECT label, COUNT(*), COALESCE(SUM(size), 0) FROM items"
                " WHERE tenant = ? AND dataset_id = ? AND status = 'available' GROUP BY label",
                (tenant, dataset_id),
            )
            .fetchall()
        )
        return DatasetStats(
            item_count=sum(r[1] for r in rows),
            bytes=sum(r[2] for r in rows),
            label_counts={r[0]: r[1] for r in rows if r[0] is not None},
        )


def _record(row: tuple) -> ItemRecord:
    values = list(row)
    values[10] = json.loads(values[10])
    return ItemRecord(*values)
