"""The WebhookQueue port: deliveries waiting for their next attempt, made by a worker, never in a request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

# A delivery worker's attempt at a message: the message of the next attempt and its delay in seconds,
# or None when the delivery is over (delivered, failed for good, or its webhook is gone).
Attempt = Callable[[dict], "tuple[dict, float] | None"]


class WebhookQueue(ABC):
    name: str

    @abstractmethod
    def send(self, message: dict, delay: float = 0.0) -> None:
        """Queue one delivery attempt `delay` seconds from now; durable once it returns."""

    def serve(self, attempt: Attempt) -> None:  # noqa: B027 (a remote queue has its own consumer)
        """Start delivering queued messages in this process with `attempt(message)`."""

    def close(self) -> None:  # noqa: B027 (a remote queue holds nothing here)
        """Stop the workers; what is queued stays queued for the next start."""
