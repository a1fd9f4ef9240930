"""Relative paths as item filenames, and back.

Edna's filenames are single path segments, so `sub/dir/a.png` is stored as `sub%2Fdir%2Fa.png`
(only `%` and `/` are escaped, which keeps the mapping reversible). A pull turns them back into
folders, refusing any name that would land outside the target folder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def filename_of(relative: PurePosixPath) -> str:
    return str(relative).replace("%", "%25").replace("/", "%2F")


def relative_of(filename: str) -> PurePosixPath | None:
    """The relative path a filename stands for; None when it is not a safe path below the target."""
    parts = [p.replace("%25", "%") for p in filename.split("%2F")]
    if any(p in ("", ".", "..") or "/" in p or "\\" in p for p in parts):
        return None
    return PurePosixPath(*parts)


def local_files(root: Path) -> list[tuple[PurePosixPath, Path]]:
    """Every regular file below `root` (hidden ones and the client's own partial downloads left out), sorted."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append((relative, path))
    return found
