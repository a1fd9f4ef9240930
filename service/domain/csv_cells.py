"""CSV cells a spreadsheet would not evaluate (OWASP's rule against CSV injection)."""

from __future__ import annotations

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """Text that a spreadsheet would evaluate, prefixed with `'` so it shows as text; the rest unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row(values: dict[str, object]) -> dict[str, object]:
    return {k: cell(v) for k, v in values.items()}
