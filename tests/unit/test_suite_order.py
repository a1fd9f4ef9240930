"""The suite's own scheduling: the files it starts first exist (a renamed file would silently run last)."""

from pathlib import Path

from conftest import LONGEST_FILES

ROOT = Path(__file__).resolve().parents[2]


def test_the_longest_files_listed_exist():
    assert [path for path in LONGEST_FILES if not (ROOT / path).is_file()] == []
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
