"""Roles (DESIGN.md §5) and the verified caller they belong to."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from service.vocabulary.errors import Forbidden


class Role(enum.IntEnum):
    """Each role may do everything the roles below it may."""

    viewer = 1
    labeler = 2
    editor = 3
    admin = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown role {name!r}; one of {', '.join(r.name for r in cls)}") from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: read from a verified token only, never from the request body."""

    user: str
    tenant: str
    roles: tuple[str, ...]
    issued_at: float = 0  # the token's `iat`: a member directory may void tokens older than a change
    datasets: frozenset[str] | None = None  # an application limited to these datasets; None: the whole tenant

    @property
    def highest_role(self) -> Role | None:
        known = [Role[r] for r in self.roles if r in Role.__members__]
        return max(known) if known else None

    def require(self, role: Role) -> None:
        highest = self.highest_role
        if highest is None or highest < role:
            raise Forbidden(f"this needs the {role.name} role; you have {', '.join(self.roles) or 'none'}")
