"""HttpJwks: an identity provider's signing keys fetched from its JWKS URL, cached, refetched on rotation."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from service.vocabulary.errors import Unavailable

JWKS_TTL_SECONDS = 3600
REFRESH_AT_MOST_EVERY = 30  # an unknown kid refetches, but a flood of forged kids cannot hammer the provider

SigningKey = RSAKey | ECKey
_KEY_TYPES: dict[str, type[RSAKey] | type[ECKey]] = {"RSA": RSAKey, "EC": ECKey}


def fetch_json(url: str, timeout: float, what: str) -> object:
    """A provider's JSON document; Unavailable (503) when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (configured https URL)
            return json.load(resp)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"cannot fetch the identity provider's {what}: {exc}") from None


def signing_keys(document: object) -> dict[str, SigningKey]:
    """The RSA and EC signature keys of a JWKS by kid; encryption, symmetric and malformed keys are left out."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise Unavailable("the identity provider's keys are not a JWKS (no `keys` list)")
    found: dict[str, SigningKey] = {}
    for data in keys:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig" or not isinstance(data.get("kid"), str):
            continue
        key_type = _KEY_TYPES.get(data.get("kty"))
        if key_type is None:
            continue
        try:
            found[data["kid"]] = key_type.import_key(data)
        except (JoseError, ValueError, TypeError):
            continue  # one odd key must not take the provider's other keys down with it
    return found


class HttpJwks:
    """The provider's public signing keys; refetched when a token names a kid we have not seen."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # not 0: a fresh host's monotonic clock may read less than a refresh
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> SigningKey | None:
        with self._lock:
            age = None if self._fetched_at is None else time.monotonic() - self._fetched_at
            if age is None or age > JWKS_TTL_SECONDS or (kid not in self._keys and age > REFRESH_AT_MOST_EVERY):
                try:
                    self._keys = signing_keys(fetch_json(self.url, self.timeout, "keys"))
                except Unavailable:
                    if not self._keys:
                        raise
                    # the provider is down: the keys we hold still verify what they signed; try again later
                self._fetched_at = time.monotonic()
            return self._keys.get(kid)
