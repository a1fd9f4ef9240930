"""The embedded vector index: each set an exact, memory-mapped float32 matrix beside its item ids.

Chosen by measurement (benchmarks/vector_index.py): one matrix-vector product over a million
128-dimension rows takes ~30 ms, exact, with nothing to build, and indexing is a sequential write.
A set's files carry a fresh random name and are written whole before its catalogue row (SQLite)
names them, so a reader maps the old set or the new one, never half of either; a reader still
holding the old mapping keeps reading it after the files are unlinked.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.adapters.files import disk_errors, make_private
from service.adapters.vectorindex import VectorIndex, VectorSet, checked_k
from service.adapters.vectorindex.unit_vectors import TIE_MARGIN, Batch, ranked, unit, unit_batches

SCHEMA = """
CREATE TABLE IF NOT EXISTS sets (
    tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, model_id TEXT NOT NULL,
    job_id TEXT NOT NULL, finished_at REAL NOT NULL, count INTEGER NOT NULL, dims INTEGER NOT NULL,
    stem TEXT NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (tenant, dataset_id, model_id)
);
CREATE TABLE IF NOT EXISTS removed (
    tenant TEXT NOT NULL, dataset_id TEXT NOT NULL, item_id TEXT NOT NULL,
    PRIMARY KEY (tenant, dataset_id, item_id)
);
"""
# A file no set names and untouched this long was left by a crash mid-replace (a replace running
# in another process keeps writing to its file, and names it within seconds of the last write).
ORPHAN_AGE = 24 * 3600
COPY_ROWS = 65_536  # rows per read when a set's file is rewritten without some of its rows


@dataclass(frozen=True)
class _Row:
    job_id: str
    finished_at: float
    count: int  # live rows
    dims: int
    stem: str
    rows: int  # rows in the files, removed ones included


def _encoded(item_ids: Iterable[str]) -> np.ndarray:
    """Item ids as a fixed-width bytes array (UTF-8 sorts as the strings do): ~26 bytes an id, not a
    Python object each."""
    encoded = [i.encode() for i in item_ids]
    return np.array(encoded) if encoded else np.zeros(0, dtype="S1")


def _private(path: Path):
    return open(path, "wb", opener=lambda p, flags: os.open(p, flags, 0o600))


@dataclass
class _Mapped:
    """A set mapped into memory: its rows, their ids, the rows in id order, and which rows are removed."""

    stem: str
    count: int
    dims: int
    matrix: np.ndarray  # (rows, dims) float32, a view of the memory-mapped file
    ids: np.ndarray  # (rows,) bytes, memory-mapped
    order: np.ndarray  # row numbers sorted by id, memory-mapped
    dead: np.ndarray  # sorted row numbers of removed items; replaced, never changed in place

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Sorted row numbers of those of the encoded ids the set holds (a binary search each)."""
        if not len(self.ids) or not len(keys):
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, keys, sorter=self.order), len(self.ids) - 1)
        rows = np.asarray(self.order[at])
        return np.unique(rows[self.ids[rows] == keys])


class LocalVectorIndex(VectorIndex):
    """Sets under `root` (made private): catalogue.db, and per set {stem}.f32 (the unit rows, raw
    float32), {stem}.ids.npy (their ids) and {stem}.order.npy (rows sorted by id, for lookups)."""

    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root)
        make_private(self.root)
        self._files = self.root / "sets"
        self._files.mkdir(mode=0o700, exist_ok=True)
        catalogue = self.root / "catalogue.db"
        self._db = sqlite3.connect(catalogue, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        os.chmod(catalogue, 0o600)
        self._lock = threading.RLock()  # the connection and the cache are shared by the service's threads
        self._mapped: dict[tuple[str, str, str], _Mapped] = {}
        self._sweep()

    def _paths(self, stem: str) -> tuple[Path, Path, Path]:
        return self._files / f"{stem}.f32", self._files / f"{stem}.ids.npy", self._files / f"{stem}.order.npy"

    def _unlink(self, stem: str) -> None:
        for path in self._paths(stem):
            path.unlink(missing_ok=True)

    def _sweep(self) -> None:
        with self._lock:
            named = {row[0] for row in self._db.execute("SELECT stem FROM sets")}
        stale = time.time() - ORPHAN_AGE
        for path in self._files.iterdir():
            if path.name.split(".")[0] not in named and path.stat().st_mtime < stale:
                path.unlink(missing_ok=True)

    def _row(self, tenant: str, dataset_id: str, model_id: str) -> _Row | None:
        with self._lock:
            found = self._db.execute(
                "SELECT job_id, finished_at, count, dims, stem, rows FROM sets"
                " WHERE tenant=? AND dataset_id=? AND model_id=?",
                (tenant, dataset_id, model_id),
            ).fetchone()
        return _Row(*found) if found else None

    def _removed(self, tenant: str, dataset_id: str) -> np.ndarray:
        with self._lock:
            found = self._db.execute(
                "SELECT item_id FROM removed WHERE tenant=? AND dataset_id=?", (tenant, dataset_id)
            ).fetchall()
        return np.sort(_encoded(r[0] for r in found))

    @staticmethod
    def _later(held: _Row | None, finished_at: float, job_id: str) -> bool:
        return held is not None and (held.finished_at, held.job_id) > (finished_at, job_id)

    @disk_errors
    def replace(
        self, tenant: str, dataset_id: str, model_id: str, job_id: str, finished_at: float, batches: Iterable[Batch]
    ) -> int:
        if self._later(self._row(tenant, dataset_id, model_id), finished_at, job_id):
            return 0
        stem = secrets.token_hex(8)
        try:
            rows, dims = self._write(stem, batches, self._removed(tenant, dataset_id))
            with self._lock:
                held = self._row(tenant, dataset_id, model_id)
                if self._later(held, finished_at, job_id):  # it finished while these rows were written
                    self._unlink(stem)
                    return 0
                # Items removed while the rows were written are marked now, under the lock.
                mapped = self._open(stem, rows, dims, rows, self._removed(tenant, dataset_id))
                mapped.count = rows - len(mapped.dead)
                self._db.execute(
                    "INSERT OR REPLACE INTO sets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, dataset_id, model_id, job_id, finished_at, mapped.count, dims, stem, rows),
                )
                self._mapped[(tenant, dataset_id, model_id)] = mapped
        except BaseException:
            self._unlink(stem)
            raise
        if held is not None:
            self._unlink(held.stem)
        return mapped.count

    def _write(self, stem: str, batches: Iterable[Batch], removed: np.ndarray) -> tuple[int, int]:
        """Stream the unit rows to the set's files; (rows written, dims). An id named twice keeps its
        last row: the file is rewritten without the earlier ones (a job never names an item twice)."""
        vectors, ids_path, order_path = self._paths(stem)
        chunks, dims = [], 0
        with _private(vectors) as out:
            for item_ids, rows in unit_batches(batches):
                dims = rows.shape[1]
                ids = _encoded(item_ids)
                if len(removed) and len(ids):
                    kept = ~np.isin(ids, removed)
                    ids, rows = ids[kept], rows[kept]
                out.write(rows.tobytes())
                chunks.append(ids)
            out.flush()
            os.fsync(out.fileno())
        ids = np.concatenate(chunks) if chunks else _encoded([])
        order = np.argsort(ids, kind="stable")
        if len(ids) > 1:
            ranked_ids = ids[order]
            last = np.append(ranked_ids[1:] != ranked_ids[:-1], True)  # the last row of each id
            if not last.all():
                keep = np.sort(order[last])
                self._compact(vectors, dims, len(ids), keep)
                ids = ids[keep]
                order = np.argsort(ids, kind="stable")
        for path, array in ((ids_path, ids), (order_path, order)):
            with _private(path) as out:
                np.save(out, array, allow_pickle=False)
                out.flush()
                os.fsync(out.fileno())
        return len(ids), dims

    @staticmethod
    def _compact(vectors: Path, dims: int, rows: int, keep: np.ndarray) -> None:
        source = np.memmap(vectors, dtype=np.float32, mode="r", shape=(rows, dims))
        partial = vectors.with_suffix(".partial")
        with _private(partial) as out:
            for start in range(0, len(keep), COPY_ROWS):
                out.write(np.ascontiguousarray(source[keep[start : start + COPY_ROWS]]).tobytes())
            out.flush()
            os.fsync(out.fileno())
        del source
        os.replace(partial, vectors)

    def _open(self, stem: str, count: int, dims: int, rows: int, removed: np.ndarray) -> _Mapped:
        vectors, ids_path, order_path = self._paths(stem)
        mode = "r" if rows else None  # an empty array cannot be mapped
        ids = np.load(ids_path, mmap_mode=mode, allow_pickle=False)
        order = np.load(order_path, mmap_mode=mode, allow_pickle=False)
        if rows:
            matrix = np.asarray(np.memmap(vectors, dtype=np.float32, mode="r", shape=(rows, dims)))
        else:
            matrix = np.zeros((0, dims), dtype=np.float32)
        mapped = _Mapped(stem, count, dims, matrix, ids, order, np.zeros(0, dtype=np.int64))
        mapped.dead = mapped.rows_of(removed)
        return mapped

    def _set(self, tenant: str, dataset_id: str, model_id: str) -> _Mapped | None:
        """The set as mapped now; mapped again when it was replaced or lost items in another process."""
        key = (tenant, dataset_id, model_id)
        for attempt in range(3):
            with self._lock:
                row = self._row(*key)
                if row is None:
                    return None
                held = self._mapped.get(key)
                if held is not None and (held.stem, held.count) == (row.stem, row.count):
                    return held
                try:
                    mapped = self._open(row.stem, row.count, row.dims, row.rows, self._removed(tenant, dataset_id))
                except FileNotFoundError:
                    if attempt == 2:
                        raise
                    continue  # another process replaced the set between reading its row and its files
                self._mapped[key] = mapped
                return mapped
        return None

    def sets(self, tenant: str, dataset_id: str) -> dict[str, VectorSet]:
        with self._lock:
            found = self._db.execute(
                "SELECT model_id, job_id, finished_at, count, dims FROM sets WHERE tenant=? AND dataset_id=?",
                (tenant, dataset_id),
            ).fetchall()
        return {r[0]: VectorSet(*r) for r in found}

    def info(self, tenant: str, dataset_id: str, model_id: str) -> VectorSet | None:
        row = self._row(tenant, dataset_id, model_id)
        return VectorSet(model_id, row.job_id, row.finished_at, row.count, row.dims) if row else None

    def vector(self, tenant: str, dataset_id: str, model_id: str, item_id: str) -> np.ndarray | None:
        mapped = self._set(tenant, dataset_id, model_id)
        rows = mapped.rows_of(_encoded([item_id])) if mapped is not None else ()
        if not len(rows) or np.isin(rows[0], mapped.dead):
            return None
        return np.array(mapped.matrix[rows[0]])

    def nearest(
        self,
        tenant: str,
        dataset_id: str,
        model_id: str,
        query: np.ndarray,
        k: int,
        exclude: Collection[str] = (),
    ) -> list[tuple[str, float]]:
        k = checked_k(k)
        mapped = self._set(tenant, dataset_id, model_id)
        if mapped is None or not mapped.dims:
            return []
        query = unit(query, mapped.dims)
        blocked = np.union1d(mapped.dead, mapped.rows_of(_encoded(exclude))) if exclude else mapped.dead
        k = min(k, len(mapped.ids) - len(blocked))
        if k <= 0:
            return []
        scores = mapped.matrix @ query
        scores[blocked] = -np.inf
        top = np.argpartition(scores, len(scores) - k)[-k:]
        # Every row within a rounding of the k-th best is a candidate: the exact scores order them.
        near = np.flatnonzero(scores >= scores[top].min() - TIE_MARGIN)
        return ranked(mapped.ids[near], mapped.matrix, near, query, k)

    def scan(
        self, tenant: str, dataset_id: str, model_id: str, batch: int = 8192
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        mapped = self._set(tenant, dataset_id, model_id)
        if mapped is None:
            return
        for start in range(0, len(mapped.ids), batch):
            rows = np.arange(start, min(start + batch, len(mapped.ids)))
            rows = rows[~np.isin(rows, mapped.dead)]
            if len(rows):
                yield [i.decode() for i in mapped.ids[rows]], np.array(mapped.matrix[rows])

    def remove_items(self, tenant: str, dataset_id: str, item_ids: Iterable[str]) -> None:
        item_ids = list(dict.fromkeys(item_ids))
        if not item_ids:
            return
        with self._lock:
            # Mapped before the removal is recorded: a set mapped afterwards would count the items dead already.
            held = {model_id: self._set(tenant, dataset_id, model_id) for model_id in self.sets(tenant, dataset_id)}
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO removed VALUES (?, ?, ?)", [(tenant, dataset_id, i) for i in item_ids]
                )
                keys = _encoded(item_ids)
                for model_id, mapped in held.items():
                    gone = np.setdiff1d(mapped.rows_of(keys), mapped.dead) if mapped else ()
                    if len(gone):
                        mapped.dead = np.union1d(mapped.dead, gone)
                        mapped.count -= len(gone)
                        self._db.execute(
                            "UPDATE sets SET count=? WHERE tenant=? AND dataset_id=? AND model_id=? AND stem=?",
                            (mapped.count, tenant, dataset_id, model_id, mapped.stem),
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _forget(self, tenant: str, dataset_id: str | None) -> None:
        """Every set of the dataset (None: of the tenant) and the items it removed; then their files."""
        args = (tenant, dataset_id, dataset_id)
        with self._lock:
            found = self._db.execute("SELECT stem FROM sets WHERE tenant=? AND (? IS NULL OR dataset_id=?)", args)
            stems = [r[0] for r in found]
            self._db.execute("DELETE FROM sets WHERE tenant=? AND (? IS NULL OR dataset_id=?)", args)
            self._db.execute("DELETE FROM removed WHERE tenant=? AND (? IS NULL OR dataset_id=?)", args)
            self._mapped = {
                key: m for key, m in self._mapped.items() if key[0] != tenant or dataset_id not in (None, key[1])
            }
        for stem in stems:
            self._unlink(stem)

    def remove_dataset(self, tenant: str, dataset_id: str) -> None:
        self._forget(tenant, dataset_id)

    def remove_tenant(self, tenant: str) -> None:
        self._forget(tenant, None)
