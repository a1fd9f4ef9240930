"""CurrentMemberVerifier: a token is good only for a member that still exists, with its role of now."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.adapters.change_stamp import ChangeStamp
from service.adapters.identity import InvalidToken, Member, MemberDirectory, TokenVerifier
from service.adapters.identity.applications import Application, ApplicationDirectory
from service.adapters.identity.jwks import JwksTokenVerifier, application_client
from service.vocabulary.roles import Principal

MAX_CACHED = 10_000  # members looked up within the TTL; beyond it the cache starts afresh


class CurrentMemberVerifier(TokenVerifier):
    """Wraps a verifier: after the signature and claims, the member directory (cached for `ttl`
    seconds) must still hold the token's member, whose role there replaces the token's. A removed
    member gets 401 and a demoted one its new role within `ttl` seconds, not at the token's expiry.

    An application's token (its subject is its client) is bound by the application directory
    instead: tenant, role and datasets come from there, never from the token."""

    def __init__(
        self,
        verifier: JwksTokenVerifier,
        directory: MemberDirectory,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        applications: ApplicationDirectory | None = None,
        stamp: ChangeStamp | None = None,
    ):
        self.name = verifier.name
        self._verifier = verifier
        self._directory = directory
        self._applications = applications
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Member | None]] = {}
        self._lock = threading.Lock()
        self._stamp = stamp  # another process changed a member: its look-ups here are dropped at once

    def verify(self, token: str) -> Principal:
        claims = self._verifier.decode(token)
        client_id = application_client(claims)
        if client_id is not None and self._applications is not None:
            return self._application(claims, client_id)
        self._verifier.check_audience(claims)
        principal = self._verifier.principal(claims)
        member = self._member(principal.tenant, principal.user)
        if member is None:
            raise InvalidToken("You are no longer a member of this tenant: sign in again, or ask its admin.")
        if principal.issued_at < member.valid_after:
            raise InvalidToken("Your password changed since this session began: sign in again.")
        # the member's name in its tenant (a Cognito `tenant/bob` is `bob`) and its role of now
        return Principal(user=member.username, tenant=principal.tenant, roles=(member.role,) if member.role else ())

    def _application(self, claims: dict, client_id: str) -> Principal:
        self._verifier.check_application(claims)
        app = self._applications.by_client(client_id)
        if app is None:
            raise InvalidToken("This application was revoked or has expired: ask an admin for a new one.")
        if claims.get("tenant", app.tenant) != app.tenant:
            raise InvalidToken("This token names another tenant than its application's, so it is not accepted.")
        scopes = claims.get("scope")
        if isinstance(scopes, str) and not any(s.rsplit("/", 1)[-1] == app.role for s in scopes.split()):
            raise InvalidToken(f"This token lacks the scope of its application's role ({app.role}): get a new token.")
        self._applications.touch(app)
        return application_principal(app)

    def _member(self, tenant: str, username: str) -> Member | None:
        key, now = (tenant, username), self._clock()
        with self._lock:
            if self._stamp is not None and self._stamp.moved():
                self._cache.clear()
            cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        member = self._directory.find(tenant, username)  # outside the lock: a slow directory blocks no one else
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (now + self._ttl, member)
        return member


def application_principal(app: Application) -> Principal:
    datasets = frozenset(app.dataset_ids) if app.dataset_ids is not None else None
    return Principal(user=f"app:{app.id}", tenant=app.tenant, roles=(app.role,), datasets=datasets)
