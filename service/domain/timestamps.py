"""Timestamps as the API shows them: ISO 8601 in UTC with milliseconds and a Z."""

import time
from datetime import UTC, datetime


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(time.time())
