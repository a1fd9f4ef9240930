"""Signed, expiring grants for the local blob store's URLs (itsdangerous HMAC, never home-made)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, Signer

from service.adapters.files import create_once
from service.vocabulary.errors import Forbidden


@dataclass(frozen=True)
class Grant:
    """What one URL allows: an operation on one key, until `expires_at`."""

    op: str  # "put" | "post" | "part" | "get"
    key: str
    expires_at: int
    content_type: str = ""
    max_size: int = 0
    upload_id: str = ""
    part_number: int = 0
    filename: str = ""
    metadata: dict = field(default_factory=dict)  # user metadata the upload must carry
    version_id: str = ""  # a GET of a kept version (pin_versions) rather than the current object


_FIELDS = [f.name for f in dataclasses.fields(Grant)]


class UrlSigner:
    """Turns grants into URL tokens and back; the secret lives in the data dir (0600)."""

    def __init__(self, secret_file: Path):
        # One Signer over a compact payload: URLSafeSerializer made a signer and tried zlib per token,
        # 60% of the cost of the two URLs each item of a listing page carries.
        # The key is derived once here: Signer derives it again for every token otherwise (same tokens).
        secret = create_once(secret_file, lambda: secrets.token_bytes(32))
        key = Signer(secret, salt="edna-blob-url", digest_method=hashlib.sha256).derive_key()
        self._signer = Signer(key, salt="edna-blob-url", digest_method=hashlib.sha256, key_derivation="none")

    def sign(self, grant: Grant) -> str:
        # The fields in order, read directly: dataclasses.astuple deep-copies.
        fields = json.dumps([getattr(grant, name) for name in _FIELDS], separators=(",", ":"))
        return self._signer.sign(base64.urlsafe_b64encode(fields.encode()).rstrip(b"=")).decode()

    def verify(self, token: str, ops: set[str]) -> Grant:
        """The grant a token carries; Forbidden (403) when tampered, expired or for another op."""
        try:
            payload = self._signer.unsign(token.encode())
            grant = Grant(*json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))))
        except (BadSignature, TypeError, ValueError):  # binascii, JSON and encoding errors are ValueErrors
            raise Forbidden("the signed URL is invalid") from None
        if grant.op not in ops:
            raise Forbidden("the signed URL does not allow this method")
        if grant.expires_at < time.time():
            raise Forbidden("the signed URL has expired; request a new one")
        return grant
