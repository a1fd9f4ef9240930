"""Sealed secrets: both boxes open only what they sealed, for the context it was sealed for."""

from __future__ import annotations

import base64
from pathlib import Path

import boto3
import pytest

from service.adapters.secretbox import SealBroken
from service.adapters.secretbox.kms import KmsSecretBox
from service.adapters.secretbox.local import LocalSecretBox


@pytest.fixture(params=["local", "kms"])
def box(request, tmp_path: Path, moto_endpoint: str):
    if request.param == "local":
        return LocalSecretBox(tmp_path / "keys" / "secrets.key")
    kms = boto3.client("kms", endpoint_url=moto_endpoint)
    return KmsSecretBox(kms.create_key()["KeyMetadata"]["Arn"], kms)


def test_a_sealed_secret_opens_for_its_context_only(box):
    sealed = box.seal("whsec_abc", "webhook/demo/1")
    assert "whsec_abc" not in sealed and box.open(sealed, "webhook/demo/1") == "whsec_abc"
    assert box.seal("whsec_abc", "webhook/demo/1") != sealed  # fresh nonce each time
    for context in ("webhook/acme/1", "webhook/demo/2", ""):
        with pytest.raises(SealBroken):
            box.open(sealed, context)


def test_a_tampered_or_foreign_value_does_not_open(box, tmp_path: Path):
    sealed = box.seal("whsec_abc", "c")
    prefix, body = sealed.split(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body) if box.name == "local" else base64.b64decode(body))
    raw[-1] ^= 1
    flipped = base64.urlsafe_b64encode(raw) if box.name == "local" else base64.b64encode(raw)
    for bad in (f"{prefix}:{flipped.decode()}", "whsec_abc", f"{prefix}:!!!"):
        with pytest.raises(SealBroken):
            box.open(bad, "c")
    other = LocalSecretBox(tmp_path / "other.key")
    with pytest.raises(SealBroken):
        other.open(sealed, "c")


def test_the_local_key_is_made_once_and_private(tmp_path: Path):
    key = tmp_path / "keys" / "secrets.key"
    sealed = LocalSecretBox(key).seal("s", "c")
    assert LocalSecretBox(key).open(sealed, "c") == "s"  # a restart opens what was sealed before
    assert key.stat().st_mode & 0o077 == 0
