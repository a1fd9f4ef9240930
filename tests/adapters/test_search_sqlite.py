"""The embedded index shows every behaviour the port promises (the suite the document stores pass too)."""

import sqlite3

import pytest
from search_behaviours import Behaviours, ids, rec

from service.adapters.searchindex import ItemQuery
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
    from service.adapters.searchindex.sqlite import _COLUMNS, _record

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
            f"SELECT {_COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY item_id LIMIT 51",  # noqa: S608
            params,
        )
        return ids([_record(r) for r in rows])

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
