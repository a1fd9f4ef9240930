"""A job's parameters: the explicit keys its caller computed, and the knobs, validated once."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

LIMITS = {"batch_size": (1, 4096), "max_memory_mb": (16, 4096), "shards": (1, 64)}
SHA256 = re.compile(r"([0-9a-f]{64})?")


@dataclass(frozen=True)
class JobParams:
    """What one inference job runs: which items, which model, where its outputs go."""

    job_id: str
    items_prefix: str
    model_key: str
    output_prefix: str
    batch_size: int = 64
    max_memory_mb: int = 256
    shards: int = 1
    model_sha256: str = ""  # what `complete` checked; empty for models registered before checksums

    def __post_init__(self):
        problems = _problems(self)
        if problems:
            raise ValueError("invalid job parameters: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d: dict) -> JobParams:
        """Build from a plain dict (DAG run conf, job record); keys it does not know are ignored."""
        if not isinstance(d, dict):
            raise ValueError(f"invalid job parameters: expected an object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names[:4] if d.get(n) in (None, "")]
        if missing:
            raise ValueError("invalid job parameters: missing " + ", ".join(missing))
        return cls(**{n: d[n] for n in names if n in d and d[n] is not None})

    @property
    def model_spec_key(self) -> str:
        """model.json lives beside the model file."""
        folder = self.model_key.rpartition("/")[0]
        return f"{folder}/model.json" if folder else "model.json"

    def to_dict(self) -> dict:
        """A JSON-ready dict that from_dict reads back."""
        return asdict(self)


def _problems(p: JobParams) -> list[str]:
    out = []
    for name in ("job_id", "items_prefix", "model_key", "output_prefix"):
        value = getattr(p, name)
        if not isinstance(value, str) or not value:
            out.append(f"{name} must be a non-empty string")
    for name in ("items_prefix", "output_prefix"):
        value = getattr(p, name)
        if isinstance(value, str) and value and not value.endswith("/"):
            out.append(f"{name} must end with '/' (got {value!r})")
    if isinstance(p.model_key, str) and p.model_key.endswith("/"):
        out.append(f"model_key must name a file, not a folder (got {p.model_key!r})")
    items, output = p.items_prefix, p.output_prefix
    # The engine lists the items prefix: its own outputs must never show up there, nor items in its outputs.
    strings = isinstance(items, str) and isinstance(output, str) and items and output
    if strings and (items.startswith(output) or output.startswith(items)):
        out.append("items_prefix and output_prefix must not contain one another")
    if not isinstance(p.model_sha256, str) or not SHA256.fullmatch(p.model_sha256):
        out.append(f"model_sha256 must be 64 lowercase hex digits or empty (got {p.model_sha256!r})")
    for name, (low, high) in LIMITS.items():
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{name} must be an integer (got {value!r})")
        elif not low <= value <= high:
            out.append(f"{name} must be between {low} and {high} (got {value})")
    return out
