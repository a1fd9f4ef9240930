"""Identity ports: TokenVerifier (a bearer token in, the verified Principal out, or 401) and
MemberDirectory (a tenant's users and their roles)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from service.vocabulary.errors import Unauthorized
from service.vocabulary.roles import Principal


class InvalidToken(Unauthorized):
    """Missing, malformed, forged, expired or foreign token."""


class TokenVerifier(ABC):
    """Checks a JWT's signature and claims; tenant and roles come from the token alone."""

    name: str

    @abstractmethod
    def verify(self, token: str) -> Principal:
        """The caller the token proves, or InvalidToken."""


@dataclass(frozen=True)
class Member:
    username: str
    tenant: str
    role: str
    email: str = ""
    valid_after: float = 0  # tokens issued before this instant are void (a password change, a re-created name)


class MemberDirectory(ABC):
    """A tenant's users. Every call is scoped to one tenant: other tenants' users are not found."""

    @abstractmethod
    def list(self, tenant: str, limit: int, after: str | None) -> list[Member]:
        """Up to `limit` members ordered by username, after the username `after`."""

    @abstractmethod
    def invite(self, tenant: str, username: str, email: str, role: str) -> tuple[Member, str | None]:
        """Create a member; returns it and the one-time password when the directory makes one."""

    def sign_in_name(self, member: Member) -> str:
        """What the member types to sign in."""
        return member.username

    @abstractmethod
    def find(self, tenant: str, username: str) -> Member | None:
        """The tenant's member as it is now, or None when it does not exist (or is disabled)."""

    @abstractmethod
    def set_role(self, tenant: str, username: str, role: str) -> Member:
        """Change a member's role; Conflict when that would leave the tenant without an admin."""

    @abstractmethod
    def remove(self, tenant: str, username: str) -> None:
        """Remove a member; Conflict when that would leave the tenant without an admin."""
