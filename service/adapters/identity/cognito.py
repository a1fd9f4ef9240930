"""Cognito identity: tokens of a user pool, verified against its JWKS (fetched and cached)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from joserfc.jwk import KeySet, RSAKey

from service.adapters.identity.jwks import ClaimNames, JwksTokenVerifier
from service.vocabulary.errors import Unavailable

JWKS_TTL_SECONDS = 3600
REFRESH_AT_MOST_EVERY = 30  # an unknown kid refetches, but a flood of forged kids cannot hammer Cognito


class HttpJwks:
    """The pool's public keys; refetched when a token names a kid we have not seen."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:  # noqa: S310 (configured https URL)
                document = json.load(resp)
        except (OSError, ValueError) as exc:
            raise Unavailable(f"cannot fetch the identity provider's keys: {exc}") from None
        keyset = KeySet.import_key_set(document)
        self._keys = {k.kid: k for k in keyset.keys if isinstance(k, RSAKey) and k.kid}
        self._fetched_at = time.monotonic()

    def __call__(self, kid: str) -> RSAKey | None:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > JWKS_TTL_SECONDS or (kid not in self._keys and age > REFRESH_AT_MOST_EVERY):
                self._fetch()
            return self._keys.get(kid)


def cognito_verifier(issuer: str, jwks_url: str, client_id: str, token_uses: set[str]) -> JwksTokenVerifier:
    """Cognito ID tokens carry `aud`, access tokens `client_id`; both name the app client."""
    return JwksTokenVerifier(
        name="cognito",
        keys=HttpJwks(jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"),
        issuer=issuer,
        audience=client_id,
        token_uses=token_uses,
        claims=ClaimNames(user=("cognito:username", "username"), tenant="custom:tenant", roles="cognito:groups"),
    )
