"""The operators' `quota` and `usage` commands over a local data dir (their figures against the API are
checked in tests/api/test_usage.py and test_quotas.py)."""

from __future__ import annotations

import csv
import io

import pytest

from service.__main__ import main
from service.settings import Config


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def quota_lines(out: str) -> dict[str, tuple[int, str]]:
    rows = {}
    for line in out.splitlines()[1:]:
        name, value, source = line.split(maxsplit=2)
        rows[name] = (int(value.replace(",", "")), source)
    return rows


def test_quota_show_set_and_back_to_default(tmp_path, capsys):
    where = ["--tenant", "demo", "--data-dir", str(tmp_path)]
    defaults = Config()
    code, out, _ = run(capsys, "quota", "show", *where)
    assert code == 0 and out.startswith("quotas of tenant demo")
    assert quota_lines(out) == {
        "max_items": (defaults.quota_max_items, "(default)"),
        "max_bytes": (defaults.quota_max_bytes, "(default)"),
        "max_concurrent_jobs": (defaults.quota_max_concurrent_jobs, "(default)"),
        "requests_per_minute": (defaults.quota_requests_per_minute, "(default)"),
    }
    code, out, _ = run(capsys, "quota", "set", *where, "--max-items", "5", "--requests-per-minute", "0")
    assert code == 0
    assert quota_lines(out)["max_items"] == (5, "(set for this tenant)")
    assert quota_lines(out)["requests_per_minute"] == (0, "(set for this tenant)")
    assert quota_lines(run(capsys, "quota", "show", *where)[1])["max_items"] == (5, "(set for this tenant)")
    other = run(capsys, "quota", "show", "--tenant", "acme", "--data-dir", str(tmp_path))[1]
    assert quota_lines(other)["max_items"] == (defaults.quota_max_items, "(default)")
    code, out, _ = run(capsys, "quota", "set", *where, "--default", "max_items")
    assert quota_lines(out)["max_items"] == (defaults.quota_max_items, "(default)")
    assert quota_lines(out)["requests_per_minute"] == (0, "(set for this tenant)")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "name at least one quota"),
        (["--max-bytes", "-1"], "whole number"),
        (["--default", "max_widgets"], "unknown quota"),
    ],
)
def test_bad_quota_changes_are_refused(tmp_path, capsys, flags, message):
    code, out, err = run(capsys, "quota", "set", "--tenant", "demo", "--data-dir", str(tmp_path), *flags)
    assert code == 2 and message in err and out == ""
    assert not (tmp_path / "blobs" / "objects" / "ledger").exists()


def test_usage_of_a_quiet_tenant_and_bad_periods(tmp_path, capsys):
    where = ["--tenant", "demo", "--data-dir", str(tmp_path)]
    code, out, _ = run(capsys, "usage", *where, "--csv", "--from", "2026-01-01", "--to", "2026-02-01T00:00:00Z")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["tenant"], row["from"], row["to"]) == ("demo", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert {k: float(v) for k, v in row.items() if k not in ("tenant", "from", "to")} == dict.fromkeys(
        [
            "requests",
            "requests_2xx",
            "requests_3xx",
            "requests_4xx",
            "requests_5xx",
            "uploaded_items",
            "uploaded_bytes",
            "stored_items",
            "stored_bytes",
            "inference_jobs",
            "inference_items",
            "inference_seconds",
        ],
        0.0,
    )
    code, out, _ = run(capsys, "usage", *where)
    assert code == 0 and out.startswith("usage of tenant demo from ") and "stored bytes" in out
    for period, message in (
        (["--from", "last week"], "from must be"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "later"),
    ):
        code, out, err = run(capsys, "usage", *where, *period)
        assert code == 2 and message in err and out == ""
