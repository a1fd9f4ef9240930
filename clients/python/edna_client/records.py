"""Typed views of the API's JSON: datasets, items, jobs, comparisons (unknown fields are kept in `raw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    item_count: int | None = None
    label_classes: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, body: dict) -> Dataset:
        return cls(body["id"], body["name"], body.get("item_count"), tuple(body.get("label_classes") or ()), body)


@dataclass(frozen=True)
class Item:
    id: str
    filename: str
    size: int
    content_type: str
    status: str = "available"
    label: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, body: dict) -> Item:
        return cls(
            id=body["id"],
            filename=body["filename"],
            size=body["size"],
            content_type=body.get("content_type", ""),
            status=body.get("status", "available"),
            label=body.get("label"),
            tags=dict(body.get("tags") or {}),
            sha256=body.get("sha256"),
            raw=body,
        )


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    done: int = 0
    total: int = 0
    metrics: dict[str, Any] | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FINISHED = ("succeeded", "failed", "cancelled")

    @classmethod
    def of(cls, body: dict) -> Job:
        progress = body.get("progress") or {}
        return cls(
            body["id"],
            body["status"],
            progress.get("done", 0),
            progress.get("total", 0),
            body.get("metrics"),
            body.get("error"),
            body,
        )

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


@dataclass(frozen=True)
class Comparison:
    id: str
    status: str
    job_ids: tuple[str, ...] = ()
    leaderboard: tuple[dict, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, body: dict) -> Comparison:
        return cls(
            body["id"],
            body["status"],
            tuple(body.get("job_ids") or ()),
            tuple(body.get("leaderboard") or ()),
            body,
        )

    @property
    def finished(self) -> bool:
        return self.status in Job.FINISHED
