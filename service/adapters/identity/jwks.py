"""JWT verification against a JWKS (RS256, and ES256 where a provider uses it), shared by every identity adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import KeySet, RSAKey

from service.adapters.identity import InvalidToken, TokenVerifier
from service.adapters.identity.http_jwks import SigningKey
from service.vocabulary import names
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Principal, Role

LEEWAY_SECONDS = 10  # clock skew tolerated on exp/nbf/iat


@dataclass(frozen=True)
class ClaimNames:
    """Where a token keeps the user (the first of these claims present), the tenant and the roles.
    Each name is a claim's literal name (Auth0's `https://edna.example.com/tenant`) or, failing
    that, a dotted path into nested claims (Keycloak's `realm_access.roles`)."""

    user: tuple[str, ...]
    tenant: str
    roles: str
    role_prefix: str = ""  # only roles named so count, the prefix removed (`edna:admin` is admin)
    fixed_tenant: str = ""  # single-tenant deployments: every token's tenant, the tenant claim unread


# Why a token is refused, said so that the person signing in knows what to do.
UNKNOWN_KEY = "This sign-in token was signed with an unknown key (not issued here, or keys changed): sign in again."
OTHER_ISSUER = "This sign-in token comes from another issuer (another sign-in service): sign in again here."
OTHER_AUDIENCE = "This sign-in token is meant for another application (another audience): sign in again here."


def _rejection(exc: Exception) -> str:
    """Why a token's signature or shape was refused, in words a person signing in understands."""
    if isinstance(exc, BadSignatureError):
        return "This sign-in token is not valid: it was altered or not issued here. Sign in again."
    if isinstance(exc, UnsupportedAlgorithmError):
        return "This sign-in token is signed in a way Edna does not accept. Sign in again."
    return "This is not a sign-in token Edna can read. Sign in again."


class JwksTokenVerifier(TokenVerifier):
    """Verifies signature (key chosen by `kid`, algorithms allow-listed), issuer, audience, use and lifetime."""

    def __init__(
        self,
        name: str,
        keys: Callable[[str], SigningKey | None],
        issuer: str,
        audience: str,
        claims: ClaimNames,
        token_uses: Collection[str] | None = None,
        algorithms: Collection[str] = ("RS256",),
    ):
        self.name = name
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._token_uses = None if token_uses is None else set(token_uses)  # None: `token_use` is not read
        self._claims = claims
        self._algorithms = list(algorithms)

    def _key_for(self, obj) -> SigningKey:
        kid = obj.headers().get("kid")
        key = self._keys(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken(UNKNOWN_KEY)
        return key

    def verify(self, token: str) -> Principal:
        claims = self.decode(token)
        self.check_audience(claims)
        return self.principal(claims)

    def decode(self, token: str) -> dict:
        """The claims of a token this issuer signed and that is valid now; audience and use not yet checked."""
        try:
            decoded = jwt.decode(token, self._key_for, algorithms=self._algorithms)
        except InvalidToken:
            raise
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(_rejection(exc)) from None
        claims = decoded.claims
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: dict) -> None:
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float):
            raise InvalidToken("This sign-in token has no expiry, so it is not accepted: sign in again.")
        if exp < now - LEEWAY_SECONDS:
            raise InvalidToken("Your session has expired: sign in again.")
        if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + LEEWAY_SECONDS):
            raise InvalidToken("This sign-in token is not valid yet: check this computer's clock, then sign in again.")
        if claims.get("iss") != self._issuer:
            raise InvalidToken(OTHER_ISSUER)

    def check_audience(self, claims: dict) -> None:
        """A person's token: meant for Edna's client, of an accepted use."""
        aud = claims.get("aud", claims.get("client_id"))
        audiences = aud if isinstance(aud, list) else [aud]
        if self._audience not in audiences:
            raise InvalidToken(OTHER_AUDIENCE)
        if self._token_uses is not None and claims.get("token_use") not in self._token_uses:
            raise InvalidToken(
                f"This kind of token is not accepted here: token_use must be one of {sorted(self._token_uses)}."
            )

    def check_application(self, claims: dict) -> None:
        """An application's access token: its client, not Edna's audience, is what the directory binds.
        A token with an audience must still name Edna's (the local issuer's own application tokens do)."""
        if claims.get("token_use", "access") != "access":
            raise InvalidToken("An application signs in with an access token, not this kind of token.")
        if "aud" in claims:
            audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            if self._audience not in audiences:
                raise InvalidToken(OTHER_AUDIENCE)

    def principal(self, claims: dict) -> Principal:
        where = self._claims
        user = next((v for v in (claim(claims, c) for c in where.user) if isinstance(v, str)), None)
        tenant = where.fixed_tenant or claim(claims, where.tenant)
        if not user or not isinstance(tenant, str):
            raise InvalidToken("This sign-in token names no user or tenant: sign in again.")
        try:
            names.tenant(tenant)
        except BadRequest:
            raise InvalidToken("This sign-in token names an invalid tenant: sign in again.") from None
        iat = claims.get("iat")
        return Principal(
            user=user,
            tenant=tenant,
            roles=edna_roles(parse_roles(claim(claims, where.roles)), where.role_prefix),
            issued_at=iat if isinstance(iat, int | float) else 0,
        )


def application_client(claims: dict) -> str | None:
    """The client of an application's token (its subject is its own client, as in OAuth2's
    client-credentials grant); None for a person's token."""
    client_id = claims.get("client_id")
    return client_id if isinstance(client_id, str) and client_id and claims.get("sub") == client_id else None


def claim(claims: dict, name: str) -> object:
    """A claim by its literal name, else by its dotted path into nested objects; None when absent."""
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def edna_roles(roles: tuple[str, ...], prefix: str = "") -> tuple[str, ...]:
    """The token's roles that name Edna roles (after the prefix, when one is set); a provider's others are dropped."""
    named = (r.removeprefix(prefix) for r in roles if r.startswith(prefix))
    return tuple(r for r in named if r in Role.__members__)


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
