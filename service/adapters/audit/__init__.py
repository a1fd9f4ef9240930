"""The AuditLog port: every mutation (who, tenant, action, target, when, request id, outcome),
appended and never changed, read back by admins a day at a time in order."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from service.vocabulary.errors import BadRequest


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def days(start: datetime, end: datetime) -> Iterator[str]:
    """Every UTC day that overlaps [start, end)."""
    day = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    while day <= last:
        yield day.isoformat()
        day += date.resolution


def matches(entry: dict, start: datetime, end: datetime, actor: str | None, action: str | None) -> bool:
    return (
        start.astimezone(UTC).isoformat() <= entry["time"] < end.astimezone(UTC).isoformat()  # entries are UTC
        and (actor is None or entry["actor"] == actor)
        and (action is None or entry["action"] == action)
    )


def _position(after: str | None) -> tuple[str | None, str | None]:
    if not after:
        return None, None
    try:
        day, position = json.loads(after)
        date.fromisoformat(day)
    except (ValueError, TypeError):
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page") from None
    return day, str(position)


class AuditLog(ABC):
    @abstractmethod
    def append(self, entry: dict) -> None:
        """Record one entry (its `tenant` and `time` place it); durable when this returns."""

    @abstractmethod
    def entries(
        self, tenant: str, day: str, after: str | None, actor: str | None = None, action: str | None = None
    ) -> Iterator[tuple[str, dict]]:
        """(position, entry) of one day in order, after the position `after`. `actor` and `action`
        are hints: an adapter may skip entries that cannot match them (the caller still filters)."""

    def days_held(self, tenant: str, start: datetime, end: datetime) -> Iterator[str]:
        """The days of [start, end) that may hold entries, in order (all of them, unless the log knows better)."""
        return days(start, end)

    def read(
        self,
        tenant: str,
        start: datetime,
        end: datetime,
        actor: str | None,
        action: str | None,
        limit: int,
        after: str | None,
    ) -> tuple[list[dict], str | None]:
        """One page of the tenant's entries in [start, end), oldest first, and the position after it."""
        resume_day, resume_at = _position(after)
        found: list[dict] = []
        last: list[str] = []
        for day in self.days_held(tenant, start, end):
            if resume_day and day < resume_day:
                continue
            for position, entry in self.entries(tenant, day, resume_at if day == resume_day else None, actor, action):
                if not matches(entry, start, end, actor, action):
                    continue
                if len(found) == limit:
                    return found, json.dumps(last)
                found.append(entry)
                last = [day, position]
        return found, None

    def close(self) -> None:  # noqa: B027 - most logs hold nothing to release
        """Release what the log holds (threads, files)."""
