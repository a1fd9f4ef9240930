"""Secrets sealed with AES-256-GCM under a key in the data dir (made at first use, the server's user only)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.adapters.files import create_once
from service.adapters.secretbox import SealBroken, SecretBox

PREFIX = "aesgcm1:"
NONCE_BYTES = 12


class LocalSecretBox(SecretBox):
    name = "local"

    def __init__(self, key_file: Path):
        self._aead = AESGCM(create_once(key_file, lambda: AESGCM.generate_key(bit_length=256)))

    def seal(self, secret: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SealBroken("a sealed secret of another kind")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SealBroken("a sealed secret that does not open with this key and context") from None
