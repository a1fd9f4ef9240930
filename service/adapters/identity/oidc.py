"""Any OIDC provider (Auth0, Keycloak, Okta, ...): issuer discovery, its JWKS, configurable claim names.

The provider owns the users: there is no member directory, and a token's tenant and roles are
the caller's (no look-up per request). Discovery is read on the first token, not at start, so a
provider that is briefly down delays sign-ins (503) instead of stopping the service; a
discovery document that names another issuer is a misconfiguration, answered 503 until fixed.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from service.adapters.identity.http_jwks import REFRESH_AT_MOST_EVERY, HttpJwks, SigningKey, fetch_json
from service.adapters.identity.jwks import ClaimNames, JwksTokenVerifier
from service.vocabulary import names
from service.vocabulary.errors import BadRequest, Unavailable

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")  # asymmetric only: a symmetric key would be a secret shared with every client
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class OidcSettings:
    """The `EDNA_OIDC_*` settings, parsed."""

    issuer: str
    audience: str
    user_claims: tuple[str, ...] = ("sub",)
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"
    role_prefix: str = ""
    tenant: str = ""

    @classmethod
    def from_config(cls, config: Any) -> OidcSettings:
        return cls(
            issuer=config.oidc_issuer,
            audience=config.oidc_audience,
            user_claims=tuple(c.strip() for c in config.oidc_user_claim.split(",") if c.strip()),
            tenant_claim=config.oidc_tenant_claim,
            roles_claim=config.oidc_roles_claim,
            role_prefix=config.oidc_role_prefix,
            tenant=config.oidc_tenant,
        )


def require_https(url: str, setting: str) -> None:
    """https, or http to this machine only (tests, a provider on localhost): tokens' keys travel on it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise ValueError(f"{setting} must be an https URL (http only for a loopback host), not {url!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DiscoveredJwks:
    """The keys at the `jwks_uri` of the issuer's discovery document, which is fetched once and kept."""

    def __init__(self, issuer: str, timeout: float = 5.0):
        self.issuer = issuer
        self.timeout = timeout
        self._jwks: HttpJwks | None = None
        self._failed: tuple[float, str] | None = None  # the last failure, answered again for a while
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> SigningKey | None:
        return self._keys()(kid)

    def _keys(self) -> HttpJwks:
        with self._lock:
            if self._jwks is None:
                if self._failed and time.monotonic() - self._failed[0] < REFRESH_AT_MOST_EVERY:
                    raise Unavailable(self._failed[1])  # while it is down, a flood of requests costs the provider none
                try:
                    self._jwks = HttpJwks(self._discover(), self.timeout)
                except Unavailable as exc:
                    self._failed = (time.monotonic(), exc.message)
                    raise
            return self._jwks

    def _discover(self) -> str:
        """The discovery document's `jwks_uri`, once its `issuer` is the configured one."""
        document = fetch_json(self.issuer.rstrip("/") + DISCOVERY_PATH, self.timeout, "discovery document")
        if not isinstance(document, dict):
            raise Unavailable("the identity provider's discovery document is not a JSON object")
        if document.get("issuer") != self.issuer:
            # a mix-up (another tenant's URL, a trailing slash): tokens would name that issuer, not ours
            log.error("OIDC discovery names issuer %r, EDNA_OIDC_ISSUER is %r", document.get("issuer"), self.issuer)
            raise Unavailable(
                "identity provider misconfigured: its discovery document names another issuer than"
                " EDNA_OIDC_ISSUER (compare them exactly, trailing slash included)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Unavailable("the identity provider's discovery document has no jwks_uri")
        try:
            require_https(jwks_uri, "the discovery document's jwks_uri")
        except ValueError as exc:
            raise Unavailable(f"identity provider misconfigured: {exc}") from None
        return jwks_uri


def oidc_verifier(settings: OidcSettings) -> JwksTokenVerifier:
    """Tokens of `settings.issuer` for `settings.audience`; no `token_use` (OIDC has none)."""
    require_https(settings.issuer, "EDNA_OIDC_ISSUER")
    if not settings.audience:
        raise ValueError("EDNA_OIDC_AUDIENCE is required when EDNA_IDENTITY=oidc")
    if not settings.user_claims or not settings.roles_claim or not (settings.tenant or settings.tenant_claim):
        raise ValueError("EDNA_OIDC_USER_CLAIM, EDNA_OIDC_ROLES_CLAIM and EDNA_OIDC_TENANT_CLAIM or _TENANT are needed")
    if settings.tenant:
        try:
            names.tenant(settings.tenant)
        except BadRequest as exc:
            raise ValueError(f"EDNA_OIDC_TENANT: {exc.message}") from None
    return JwksTokenVerifier(
        name="oidc",
        keys=DiscoveredJwks(settings.issuer),
        issuer=settings.issuer,
        audience=settings.audience,
        claims=ClaimNames(
            user=settings.user_claims,
            tenant=settings.tenant_claim,
            roles=settings.roles_claim,
            role_prefix=settings.role_prefix,
            fixed_tenant=settings.tenant,
        ),
        algorithms=ALGORITHMS,
    )
