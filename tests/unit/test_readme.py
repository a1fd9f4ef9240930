"""The README's configuration table is the code's: every variable, its default, nothing else."""

import re
from pathlib import Path

from service.settings import documented_settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_documents_every_setting_with_its_default():
    rows = dict(re.findall(r"^\| `(EDNA_[A-Z0-9_]+)` \| (?:`([^`]*)`)? *\|", README, re.MULTILINE))
    expected = {name: str(default) for name, default, _ in documented_settings()}
    assert rows == expected


# What the Python client (clients/python) reads; the service reads none of them.
CLIENT_VARIABLES = {
    "EDNA_URL",
    "EDNA_USERNAME",
    "EDNA_PASSWORD",
    "EDNA_CLIENT_ID",
    "EDNA_CLIENT_SECRET",
    "EDNA_TOKEN_URL",
}


def test_readme_names_no_unknown_variable():
    known = {name for name, _, _ in documented_settings()} | CLIENT_VARIABLES
    assert set(re.findall(r"EDNA_[A-Z0-9_]+[A-Z]", README)) <= known
