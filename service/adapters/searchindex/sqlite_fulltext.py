"""The embedded index's full text: the FTS5 expression of what is typed, and the cheapest plan for its matches.

Only column lists and `?` placeholders are interpolated into the SQL.
"""

from __future__ import annotations

import re
import sqlite3


def match_expression(q: str) -> str | None:
    """Each word of `q` must match, the last as a prefix (search as you type); None if no word."""
    words = re.findall(r"\w+", q)
    if not words:
        return None
    terms = [f'"{w}"' for w in words[:-1]] + [f'"{words[-1]}"*']
    return " AND ".join(terms)


# The full-text plan is chosen by how many rows match (SQLite cannot estimate an FTS5 MATCH):
FEW = 2_000  # at most this many matches: read them by rowid and sort them, no walk at all
MANY = 20_000  # more than this, and the last word a short prefix FTS5 indexes: walk in item_id order
WINDOW = 1_000  # rows that walk probes before it falls back to the list of every match
PREFIXES = (1, 2, 3)  # the prefix lengths items_fts indexes (prefix='1 2 3')


def matches(db: sqlite3.Connection, expression: str, cap: int) -> int:
    """How many rows match, counting no further than `cap`."""
    sql = "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)"
    return db.execute(sql, (expression, cap)).fetchone()[0]


def full_text(db: sqlite3.Connection, q: str, where: list[str], params: list, limit: int, columns: str) -> list[tuple]:
    """Matches of `q` in item_id order, by the cheapest of three plans for how many rows match:
    few -> read those rows by rowid and sort them; very many, with a last word short enough for
    the prefix index -> walk the filtered rows in order, probing each; else the list of all matches.
    Only column lists and `?` placeholders are interpolated into the SQL."""
    expression = match_expression(q)
    if expression is None:
        return []
    words = re.findall(r"\w+", q)
    cond = " AND ".join(where)
    # Exact words first: cheap even when the last word is a long prefix with a costly doclist.
    exact = " AND ".join(f'"{w}"' for w in words)
    if matches(db, exact, FEW + 1) <= FEW and matches(db, expression, FEW + 1) <= FEW:
        sql = (
            f"SELECT {columns} FROM (SELECT rowid AS r FROM items_fts WHERE items_fts MATCH ?) AS m "
            f"CROSS JOIN items ON items.rowid = m.r WHERE {cond} ORDER BY item_id LIMIT ?"
        )
        return db.execute(sql, (expression, *params, limit)).fetchall()
    last = words[-1]
    found: list[tuple] = []
    if last.isascii() and last.isalnum() and len(last) in PREFIXES and matches(db, expression, MANY + 1) > MANY:
        bound = db.execute(
            f"SELECT item_id FROM items WHERE {cond} ORDER BY item_id LIMIT 1 OFFSET ?", (*params, WINDOW - 1)
        ).fetchone()
        upto, upto_params = (" AND item_id <= ?", [bound[0]]) if bound else ("", [])
        probe = "EXISTS (SELECT 1 FROM items_fts WHERE items_fts MATCH ? AND items_fts.rowid = items.rowid)"
        found = db.execute(
            f"SELECT {columns} FROM items WHERE {cond}{upto} AND {probe} ORDER BY item_id LIMIT ?",
            (*params, *upto_params, expression, limit),
        ).fetchall()
        if len(found) == limit or bound is None:
            return found
        cond += " AND item_id > ?"  # sparse under these filters: the list of all matches for the rest
        params = [*params, bound[0]]
    rows = db.execute(
        f"SELECT {columns} FROM items WHERE {cond} "
        "AND rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?) ORDER BY item_id LIMIT ?",
        (*params, expression, limit - len(found)),
    )
    return [*found, *rows]
