"""SqliteSearchIndex: the embedded index, one SQLite file in WAL mode, full text with FTS5."""

from __future__ import annotations

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
from service.adapters.searchindex import sqlite_table as table
from service.adapters.searchindex.sqlite_fulltext import full_text, match_expression
from service.adapters.searchindex.sqlite_listing import DELETED
from service.adapters.shared_db import immediate


class SqliteSearchIndex(SearchIndex):
    """One connection per thread; WAL lets readers run while a writer commits."""

    name = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._upgrade_full_text()
        self._upgrade_columns()
        self._db().executescript(table.SCHEMA)

    def _upgrade_full_text(self) -> None:
        """Indexes made before the prefix index get it, rebuilt from the rows they hold (once)."""
        db = self._db()
        row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()
        if row is None or "prefix=" in row[0]:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DROP TABLE items_fts")
            db.execute(table.FULL_TEXT)
            db.execute("INSERT INTO items_fts (rowid, body) SELECT rowid, search_text FROM items")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _upgrade_columns(self) -> None:
        """Indexes made before a column was added get it, empty (a rebuild from storage fills it)."""
        db = self._db()
        have = {row[1] for row in db.execute("PRAGMA table_info(items)")}
        for column, kind in table.ADDED_COLUMNS.items():
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
            applied = db.execute(table.UPSERT, table.row_of(record)).rowcount > 0
            predictions.rescore(db)
        return applied

    def upsert_many(self, records: Iterable[ItemRecord]) -> int:
        """Many upserts in one transaction (imports, rebuilds, bulk labels); returns how many applied."""
        rows = [table.row_of(r) for r in records]
        with immediate(self._db()) as db:
            if len(rows) < table.BULK_ROWS:
                applied = sum(db.execute(table.UPSERT, row).rowcount for row in rows)
            else:
                applied = table.bulk_upsert(db, rows)
            predictions.rescore(db)
        return applied

    def get(self, tenant: str, dataset_id: str, item_id: str) -> ItemRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT {table.COLUMNS} FROM items"
                " WHERE tenant = ? AND item_id = ? AND dataset_id = ? AND status != ?",
                (tenant, item_id, dataset_id, DELETED),
            )
            .fetchone()
        )
        return self._with_predictions(tenant, [table.record_of(row)])[0] if row else None

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
            table.record_of(row)
            for row in db.execute(
                f"SELECT {table.COLUMNS} FROM items WHERE tenant = ? AND dataset_id = ? AND status = 'pending'",
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
            return [table.record_of(r) for r in full_text(self._db(), query.q, where, params, limit, table.COLUMNS)]
        rows = self._db().execute(
            f"SELECT {table.COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY item_id LIMIT ?",
            (*params, limit),
        )
        return [table.record_of(row) for row in rows]

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
        return [
            table.record_of(row) for row in self._db().execute(f"SELECT {table.ITEM_COLUMNS} {sql}", (*values, limit))
        ]

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
