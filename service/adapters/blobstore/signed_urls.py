"""Signed, expiring grants for the local blob store's URLs (itsdangerous HMAC, never home-made)."""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

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
        self._serializer = URLSafeSerializer(
            create_once(secret_file, lambda: secrets.token_bytes(32)), salt="edna-blob-url"
        )

    def sign(self, grant: Grant) -> str:
        # The fields in order, read directly: dataclasses.astuple deep-copies and cost a third of a
        # listing page's time (every item signs a download and a thumbnail URL).
        return self._serializer.dumps([getattr(grant, name) for name in _FIELDS])

    def verify(self, token: str, ops: set[str]) -> Grant:
        """The grant a token carries; Forbidden (403) when tampered, expired or for another op."""
        try:
            fields = self._serializer.loads(token)
            grant = Grant(*fields)
        except (BadSignature, TypeError, ValueError):
            raise Forbidden("the signed URL is invalid") from None
        if grant.op not in ops:
            raise Forbidden("the signed URL does not allow this method")
        if grant.expires_at < time.time():
            raise Forbidden("the signed URL has expired; request a new one")
        return grant
