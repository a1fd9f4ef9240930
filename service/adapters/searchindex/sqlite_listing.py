"""The embedded index's listings with a model, or in another order than item id: their SQL.

Each listing is one walk down the index of its order, the rest joined by key: a model's predictions
(in item id, margin, score or mistake order), the mean mistakes, or items by name or time. A page
starts strictly after the position (value, item id) of the last one: a keyset condition on that
index's columns, never an offset. Only column names and `?` placeholders are put into the SQL.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from service.adapters.searchindex import AVAILABLE, PENDING, PREDICTION_SORTS, SORTS, ItemQuery

DELETED = "deleted"  # tombstone: blocks older observations, never returned

IN_JSON = "IN (SELECT value FROM json_each(?))"  # a list as one JSON parameter
# Item columns that a listing in their order walks an index of (tenant, dataset_id, <column>, item_id) for.
ITEM_ORDERS = ("filename", "created_at", "label", "size")
# Their sort value in SQL. The label sort is walked twice: labelled items, then the unlabelled (see sqlite.py).
ITEM_VALUES = {"filename": "items.filename", "created_at": "items.created_at", "label": "items.label"}


def statement(
    tenant: str,
    query: ItemQuery,
    scopes: list[int],
    position: tuple | None,
    items_where: list[str],
    items_params: list,
    counting: bool = False,
) -> tuple[str, list]:
    """The listing's `FROM ... ORDER BY ... LIMIT ?`, and its parameters but the limit; `counting`:
    only `FROM ... WHERE ...` (a count of the matches takes no order).

    `scopes`: of `query.model_id`'s predictions, or of the mean mistakes for sort=mistake without a
    model (one per dataset); `items_where`: the conditions on `items` (their table named)."""
    column, descending = SORTS[query.sort]
    model = query.model_id
    where: list[str] = []
    params: list = []
    if model is not None or column == "mistake":
        alias = "p" if model is not None else "m"
        # One scope when the dataset is named: one index range, already in order.
        where.append(f"{alias}.scope = ?" if len(scopes) == 1 else f"{alias}.scope {IN_JSON}")
        params.append(scopes[0] if len(scopes) == 1 else json.dumps(scopes))
    joined: list = []
    if column in ITEM_ORDERS:
        source, key = "items", "items.item_id"
        if model is not None:
            source += " CROSS JOIN predictions AS p ON p.item_id = items.item_id"
    elif model is not None:
        # In item id order both the primary key and the disagreeing items' index serve; without
        # statistics the planner takes the key and would read every agreeing row on the way.
        hint = " INDEXED BY predictions_disagreeing" if column == "item_id" and query.disagrees else ""
        source = f"predictions AS p{hint} CROSS JOIN items ON items.tenant = ? AND items.item_id = p.item_id"
        key, joined = "p.item_id", [tenant]
    else:
        source, key = (
            "item_mistakes AS m CROSS JOIN items ON items.tenant = ? AND items.item_id = m.item_id",
            "m.item_id",
        )
        joined = [tenant]
    if model is not None:
        for condition, value in (
            ("p.predicted = ?", query.predicted),
            ("p.score >= ?", query.min_score),
            ("p.score <= ?", query.max_score),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        if query.disagrees:
            where.append("p.disagrees = 1")  # as the partial index's WHERE says, so that index is used
    where += items_where
    params += items_params
    value = key if column == "item_id" else ITEM_VALUES.get(column, "items.size" if column == "size" else None)
    if value is None:
        value = f"p.{column}" if model is not None else "m.mistake"
        where.append(f"{value} IS NOT NULL")  # the sort keeps only the items that have its value
    if counting:
        return f"FROM {source} WHERE {' AND '.join(where)}", [*joined, *params]
    after, after_params = _after(column, descending, value, key, position)
    order = key if column == "item_id" else f"{value}{' DESC' if descending else ''}, {key}"
    sql = f"FROM {source} WHERE {' AND '.join(where + after)} ORDER BY {order} LIMIT ?"
    return sql, [*joined, *params, *after_params]


def _after(column: str, descending: bool, value: str, key: str, position: tuple | None) -> tuple[list[str], list]:
    """The keyset condition: strictly after (value, item id) in the listing's order."""
    if position is None:
        return [], []
    start, item_id = position
    if column == "item_id" or start is None:  # None: after an unlabelled item, among unlabelled ones
        return [f"{key} > ?"], [item_id]
    if descending:  # no row value for mixed directions: the first term bounds the index range
        return [f"{value} <= ? AND ({value} < ? OR {key} > ?)"], [start, start, item_id]
    return [f"({value}, {key}) > (?, ?)"], [start, item_id]


def check_model(query: ItemQuery) -> None:
    """The port's rule: prediction sorts and filters name the model whose predictions they read."""
    if query.model_id is None and (
        query.sort in PREDICTION_SORTS
        or query.predicted is not None
        or query.disagrees
        or query.min_score is not None
        or query.max_score is not None
    ):
        raise ValueError("sorting by score or margin, and the prediction filters, need a model_id")


def item_filters(tenant: str, query: ItemQuery, table: str = "") -> tuple[list[str], list]:
    """Conditions on `items` (columns prefixed with `table`) of the tenant's live items the query keeps."""
    where, params = [f"{table}tenant = ?", f"{table}status != ?"], [tenant, DELETED]
    for column, value in (
        ("dataset_id", query.dataset_id),
        ("label", query.label),
        ("status", query.status),
        ("content_type", query.content_type),
    ):
        if value is not None:
            where.append(f"{table}{column} = ?")
            params.append(value)
    if query.unlabeled:
        where.append(f"{table}label IS NULL")
    if query.hidden:
        where.append(f"{table}dataset_id NOT IN ({', '.join('?' * len(query.hidden))})")
        params.extend(query.hidden)
    return where, params


def class_count(db: sqlite3.Connection, tenant: str, query: ItemQuery) -> int:
    """A count by dataset, label and status alone: available items from the per-class totals the
    triggers keep, plus the pending ones (uploads in flight: few) by their partial index. Counting
    the items themselves reads every row of a large dataset."""
    found = 0
    classes, values = ["tenant = ?", "dataset_id = ?"], [tenant, query.dataset_id]
    if query.label is not None:
        classes.append("label = ?")
        values.append(query.label)
    if query.unlabeled:
        classes.append("label = ''")  # how label_counts keeps the unlabelled
    if query.status in (None, AVAILABLE):
        sql = f"SELECT coalesce(sum(items), 0) FROM label_counts WHERE {' AND '.join(classes)}"
        found += db.execute(sql, values).fetchone()[0]
    if query.status in (None, PENDING):
        where, params = item_filters(tenant, replace(query, status=None))
        where.append("status = 'pending'")  # as the partial index's WHERE says
        sql = f"SELECT count(*) FROM items INDEXED BY items_pending WHERE {' AND '.join(where)}"
        found += db.execute(sql, params).fetchone()[0]
    return found
