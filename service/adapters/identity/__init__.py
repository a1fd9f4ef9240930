"""The TokenVerifier port: a bearer token in, the verified Principal out (or 401)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from service.domain.errors import Unauthorized
from service.domain.roles import Principal


class InvalidToken(Unauthorized):
    """Missing, malformed, forged, expired or foreign token."""


class TokenVerifier(ABC):
    """Checks a JWT's signature and claims; tenant and roles come from the token alone."""

    name: str

    @abstractmethod
    def verify(self, token: str) -> Principal:
        """The caller the token proves, or InvalidToken."""
