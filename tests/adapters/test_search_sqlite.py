"""The embedded index shows every behaviour the port promises (the suite the document stores pass too)."""

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
