"""The ThumbnailQueue port: item objects whose thumbnails are due, made later by a worker, never in a request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

THUMBNAIL_MESSAGE = "key"  # the one field of a queued message: the item object's key


class ThumbnailQueue(ABC):
    name: str

    @abstractmethod
    def submit(self, key: str) -> bool:
        """Queue the thumbnail of item object `key`; False when it was dropped (a `reindex` makes it later)."""

    def serve(self, make: Callable[[str], None]) -> None:  # noqa: B027 (a remote queue has its own consumers)
        """Start making queued thumbnails in this process with `make(key)`."""

    def wait(self, timeout: float) -> bool:
        """Block until every queued thumbnail is made (True) or `timeout` seconds pass (False)."""
        return True

    def close(self) -> None:  # noqa: B027 (a remote queue holds nothing here)
        """Stop the workers (the app is going away); queued thumbnails are left for `reindex`."""
