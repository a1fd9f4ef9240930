"""SecretBox port: secrets Edna must use again (webhook signing secrets) are sealed before storage.

Each secret is sealed with a context (what record it belongs to), so a sealed value copied into
another record, or another tenant's, does not open there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from service.vocabulary.errors import DomainError


class SealBroken(DomainError):
    """A sealed value that does not open with this key and context (tampered, moved, or another key's)."""

    status = 500


class SecretBox(ABC):
    name: str

    @abstractmethod
    def seal(self, secret: str, context: str) -> str:
        """An opaque text that only `open(…, context)` turns back into `secret`."""

    @abstractmethod
    def open(self, sealed: str, context: str) -> str:
        """The secret; SealBroken when the value or its context is not what was sealed."""
