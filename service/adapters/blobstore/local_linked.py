"""What the local store says of an object placed by `link_in`, which has no recorded ETag or type."""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os


def linked_etag(st: os.stat_result) -> str:
    """Its file's identity and version, not its bytes (hashing them would read every imported file):
    any change of the file changes it, and every hard link of the file (a kept version) has the same."""
    identity = f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"
    return hashlib.md5(identity.encode(), usedforsecurity=False).hexdigest()


def guessed_type(key: str) -> str:
    name = key.rpartition("/")[2]
    dot = name.find(".", 1)  # a leading dot starts a hidden name, not a suffix
    return _type_of_suffixes(name[dot:] if dot > 0 else "")


@functools.lru_cache(maxsize=512)
def _type_of_suffixes(suffixes: str) -> str:
    """Once per suffix chain (only the suffixes decide): mimetypes parses each name as a URL, a tenth of
    an import's time per object."""
    return mimetypes.guess_type("file" + suffixes)[0] or "application/octet-stream"
