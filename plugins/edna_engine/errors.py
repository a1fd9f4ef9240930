"""What a failed job tells its users: the exception's type and reason, never the values of tensors."""

from __future__ import annotations

import re

MAX_PUBLIC_ERROR = 300

# onnxruntime prints tensor values in shape errors ("requested shape:{104,117,110}"), so whatever a
# model computed from data it should not see (a file, another item) would reach the job's error.
_SOURCE = re.compile(r"\S+\.(?:h|cc|cpp|cu):\d+\s+(?:[\w:~<>]+\([^)]*\)\s*(?:const\s*)?)?")
_NUMBER_LIST = re.compile(r"[{\[(][-+0-9.,eE\s]*\d[-+0-9.,eE\s]*[}\])]")
_NUMBER_RUN = re.compile(r"-?\d+(?:\.\d+)?(?:\s*[,;]\s*-?\d+(?:\.\d+)?){2,}")
_LONG_NUMBER = re.compile(r"-?\d{5,}(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\d+\.\d{3,}(?:[eE][-+]?\d+)?")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]")


def public_error(exc: BaseException) -> str:
    """`Type: reason` with value dumps, source locations and control characters removed, at most 300 chars."""
    text = _SOURCE.sub("", str(exc))
    text = _NUMBER_LIST.sub(lambda m: m[0][0] + "…" + m[0][-1], text)
    text = _LONG_NUMBER.sub("…", _NUMBER_RUN.sub("…", text))
    text = _UNPRINTABLE.sub("?", " ".join(text.split()))
    public = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return public if len(public) <= MAX_PUBLIC_ERROR else public[: MAX_PUBLIC_ERROR - 1] + "…"
