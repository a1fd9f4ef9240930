"""The embedded index shows every behaviour the port promises (the suite the document stores pass too)."""

import dataclasses
import sqlite3

import pytest
from search_behaviours import Behaviours, attach, ids, pred, rec

from service.adapters.searchindex import ItemQuery, position_of, sqlite_predictions
from service.adapters.searchindex.sqlite import SqliteSearchIndex, match_expression


class TestSqlite(Behaviours):
    @pytest.fixture
    def index(self, tmp_path):
        return SqliteSearchIndex(tmp_path / "index.db")

    def test_ensure_index_is_idempotent(self, index):
        """SQLite's counterpart: opening the same file again keeps the schema and the rows."""
        index.upsert(rec("a"))
        again = SqliteSearchIndex(index.path)
        assert ids(again.search("t1", ItemQuery(), 10, None)) == ["a"]


@pytest.mark.parametrize(
    ("q", "expression"),
    [
        ("cat", '"cat"*'),
        ("good dog", '"good" AND "dog"*'),
        ('digit-00"1', '"digit" AND "00" AND "1"*'),
        ("...", None),
        ("", None),
    ],
)
def test_match_expression_quotes_every_word(q, expression):
    assert match_expression(q) == expression


def test_an_index_made_before_the_prefix_index_gets_it_with_its_rows(tmp_path):
    """Old index.db files: items_fts without prefix='1 2 3' is rebuilt once, searches unchanged."""
    path = tmp_path / "index.db"
    index = SqliteSearchIndex(path)
    index.upsert_many(rec(f"i{n:03d}", filename=f"cat-{n}.png" if n % 2 else f"dog-{n}.png") for n in range(40))
    db = sqlite3.connect(path)
    db.execute("DROP TABLE items_fts")
    db.execute("CREATE VIRTUAL TABLE items_fts USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO items_fts (rowid, body) SELECT rowid, search_text FROM items")
    db.commit()
    db.close()
    upgraded = SqliteSearchIndex(path)
    sql = sqlite3.connect(path).execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()[0]
    assert "prefix='1 2 3'" in sql
    assert ids(upgraded.search("t1", ItemQuery(q="ca"), 100, None)) == [f"i{n:03d}" for n in range(40) if n % 2]


def test_every_full_text_plan_gives_the_pages_of_the_plain_plan(tmp_path):
    """Enough rows for all three plans (few matches, a walk for common short prefixes, the list):
    each page equals the plain `rowid IN (MATCH)` query's, cursor after cursor."""
    from service.adapters.searchindex.sqlite_table import COLUMNS, record_of

    index = SqliteSearchIndex(tmp_path / "index.db")
    labels = ["cat", "dog", None]
    index.upsert_many(
        rec(
            f"i{n:06d}",
            dataset_id=f"d{n % 3}",
            label=labels[n % 3],
            filename=f"img-{n}.png" if n % 50 else f"rare-{n}.png",
        )
        for n in range(24_000)
    )

    def plain(query: ItemQuery, after: str | None) -> list[str]:
        where, params = (
            ["tenant = ?", "status != ?", "rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)"],
            [
                "t1",
                "deleted",
                match_expression(query.q),
            ],
        )
        if query.dataset_id:
            where.append("dataset_id = ?")
            params.append(query.dataset_id)
        if after:
            where.append("item_id > ?")
            params.append(after)
        rows = index._db().execute(
            f"SELECT {COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY item_id LIMIT 51",  # noqa: S608
            params,
        )
        return ids([record_of(r) for r in rows])

    for query in (
        ItemQuery(q="im"),
        ItemQuery(q="img"),
        ItemQuery(q="rare"),
        ItemQuery(q="i", dataset_id="d1"),
        ItemQuery(q="png 12"),
    ):
        after = None
        for _ in range(3):
            page = ids(index.search("t1", query, 51, after))
            assert page == plain(query, after), query
            if not page:
                break
            after = page[-1]


def test_an_index_made_before_label_source_gets_the_column(tmp_path):
    """Old index.db files: items without label_source get the column (empty), their rows unchanged."""
    path = tmp_path / "index.db"
    SqliteSearchIndex(path).upsert(rec("a", label="cat"))
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE items DROP COLUMN label_source")
    db.commit()
    db.close()
    upgraded = SqliteSearchIndex(path)
    assert upgraded.get("t1", "d1", "a") == rec("a", label="cat")
    upgraded.upsert(rec("a", observed=2, label="dog", label_source="person:ann"))
    assert upgraded.get("t1", "d1", "a").label_source == "person:ann"


def test_every_listing_walks_an_index_in_its_order(tmp_path):
    """EXPLAIN QUERY PLAN of what each sort and model filter runs: one index range in the page's
    order (ties of a descending sort may be sorted among themselves), never a sort of every match."""
    index = SqliteSearchIndex(tmp_path / "index.db")
    index.upsert_many(rec(f"i{n:03d}", label="cat") for n in range(20))
    attach(index, "m1", {f"i{n:03d}": pred("m1", {"cat": 0.7, "dog": 0.3}) for n in range(20)})
    db = index._db()
    wanted = {
        ItemQuery(dataset_id="d1", model_id="m1", sort="margin"): "predictions_by_margin",
        ItemQuery(dataset_id="d1", model_id="m1", sort="score"): "predictions_by_score",
        ItemQuery(dataset_id="d1", model_id="m1", sort="-score"): "predictions_by_score",
        ItemQuery(dataset_id="d1", model_id="m1", sort="mistake"): "predictions_by_mistake",
        ItemQuery(dataset_id="d1", sort="mistake"): "item_mistakes_by_value",
        ItemQuery(dataset_id="d1", model_id="m1", disagrees=True): "predictions_disagreeing",
        ItemQuery(dataset_id="d1", model_id="m1", predicted="cat"): "PRIMARY KEY",
        ItemQuery(dataset_id="d1", sort="name"): "items_by_name",
        ItemQuery(dataset_id="d1", sort="-created_at", model_id="m1"): "items_by_created",
    }
    for query, index_name in wanted.items():
        record = index.search("t1", ItemQuery(), 1, None)[0]
        record = dataclasses.replace(record, predictions=(pred("m1", {"cat": 0.7, "dog": 0.3}),))
        for after in (None, position_of(record, query)):
            statements: list[str] = []
            db.set_trace_callback(statements.append)
            index.search("t1", query, 10, after)
            db.set_trace_callback(None)
            (sql,) = [s for s in statements if s.startswith("SELECT items.tenant")]
            plan = " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
            assert index_name in plan.split(" | ")[0], (query, plan)
            assert "TEMP B-TREE FOR ORDER BY" not in plan, (query, plan)


def test_attach_reads_its_rows_a_batch_at_a_time_and_commits_each(tmp_path, monkeypatch):
    """A million rows are never held at once: by the time the third batch is read, the first two are
    committed (another connection sees them)."""
    monkeypatch.setattr(sqlite_predictions, "BATCH", 2)
    index = SqliteSearchIndex(tmp_path / "index.db")
    index.upsert_many(rec(f"i{n}") for n in range(6))
    seen = []

    def rows():
        for n in range(6):
            if n == 4:
                with sqlite3.connect(index.path) as other:
                    seen.append(other.execute("SELECT count(*) FROM predictions").fetchone()[0])
            yield f"i{n}", pred("m1", {"cat": 0.9})

    assert index.attach_predictions("t1", "d1", "m1", "j1", 10.0, rows()) == 6
    assert seen == [4]
    assert index.predicted_models("t1", "d1") == {"m1": ("j1", 6)}


def test_a_label_changed_by_another_writer_is_rescored_by_the_next_upsert(tmp_path):
    """The queue a label change leaves (a trigger) is drained by whichever writer comes next."""
    index = SqliteSearchIndex(tmp_path / "index.db")
    index.upsert_many([rec("a", label="cat"), rec("b", label="cat")])
    attach(index, "m1", {"a": pred("m1", {"dog": 0.9, "cat": 0.1}), "b": pred("m1", {"cat": 0.9, "dog": 0.1})})
    with sqlite3.connect(index.path) as other:
        other.execute("UPDATE items SET label = 'dog' WHERE item_id = 'b'")
    index.upsert(rec("c"))
    found = ids(index.search("t1", ItemQuery(model_id="m1", disagrees=True), 10, None))
    assert found == ["a", "b"]
