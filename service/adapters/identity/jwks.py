"""RS256 JWT verification against a JWKS, shared by the local and Cognito adapters."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from service.adapters.identity import InvalidToken, TokenVerifier
from service.vocabulary import names
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Principal

LEEWAY_SECONDS = 10  # clock skew tolerated on exp/nbf/iat


@dataclass(frozen=True)
class ClaimNames:
    """Where a token keeps the user, the tenant and the roles."""

    user: tuple[str, ...]
    tenant: str
    roles: str


class JwksTokenVerifier(TokenVerifier):
    """Verifies signature (RS256 only, key chosen by `kid`), issuer, audience, use and lifetime."""

    def __init__(
        self,
        name: str,
        keys: Callable[[str], RSAKey | None],
        issuer: str,
        audience: str,
        token_uses: Collection[str],
        claims: ClaimNames,
    ):
        self.name = name
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._token_uses = set(token_uses)
        self._claims = claims

    def _key_for(self, obj) -> RSAKey:
        kid = obj.headers().get("kid")
        key = self._keys(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("token signed with an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key_for, algorithms=["RS256"])
        except InvalidToken:
            raise
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(f"token rejected: {exc.__class__.__name__}") from None
        claims = decoded.claims
        self._check_claims(claims)
        return self._principal(claims)

    def _check_claims(self, claims: dict) -> None:
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float):
            raise InvalidToken("token has no expiry")
        if exp < now - LEEWAY_SECONDS:
            raise InvalidToken("token has expired; sign in again")
        if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + LEEWAY_SECONDS):
            raise InvalidToken("token is not valid yet")
        if claims.get("iss") != self._issuer:
            raise InvalidToken("token comes from another issuer")
        aud = claims.get("aud", claims.get("client_id"))
        audiences = aud if isinstance(aud, list) else [aud]
        if self._audience not in audiences:
            raise InvalidToken("token is meant for another audience")
        if claims.get("token_use") not in self._token_uses:
            raise InvalidToken(f"token_use must be one of {sorted(self._token_uses)}")

    def _principal(self, claims: dict) -> Principal:
        user = next((claims[c] for c in self._claims.user if isinstance(claims.get(c), str)), None)
        tenant = claims.get(self._claims.tenant)
        if not user or not isinstance(tenant, str):
            raise InvalidToken("token carries no user or tenant")
        try:
            names.tenant(tenant)
        except BadRequest:
            raise InvalidToken("token carries an invalid tenant") from None
        iat = claims.get("iat")
        return Principal(
            user=user,
            tenant=tenant,
            roles=parse_roles(claims.get(self._claims.roles)),
            issued_at=iat if isinstance(iat, int | float) else 0,
        )


def parse_roles(value: object) -> tuple[str, ...]:
    """Roles as a list, flattened by API Gateway's JWT authorizer (`"[admin editor]"`), or as JSON text."""
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        return tuple(value.strip("[]").replace(",", " ").replace('"', " ").split())
    return ()


def keyset_lookup(keyset: KeySet) -> Callable[[str], RSAKey | None]:
    """A `kid` → key function over a fixed key set."""
    by_kid = {k.kid: k for k in keyset.keys if isinstance(k, RSAKey)}
    return by_kid.get
