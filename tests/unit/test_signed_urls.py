"""UrlSigner: the HMAC-signed, expiring grants behind the local blob store's URLs."""

from __future__ import annotations

import dataclasses
import stat

import pytest

from service.adapters.blobstore.signed_urls import Grant, UrlSigner
from service.vocabulary.errors import Forbidden

FAR_FUTURE = 2**40  # seconds since the epoch: thousands of years ahead
GRANT = Grant("put", "tenants/t/datasets/d/items/i/cat.png", FAR_FUTURE, "image/png", 1234)


@pytest.fixture
def signer(tmp_path) -> UrlSigner:
    return UrlSigner(tmp_path / "keys" / "url-signing.key")


def test_round_trip(signer):
    token = signer.sign(GRANT)

    assert signer.verify(token, {"put", "part"}) == GRANT
    assert token.isascii()
    assert "/" not in token  # the token is one URL path segment


def test_every_field_survives(signer):
    grant = Grant("part", "p/ünï cødé.bin", FAR_FUTURE, "", 5 * 1024 * 1024, "01hupload", 7, "名前.bin")
    assert signer.verify(signer.sign(grant), {"part"}) == grant


def flip(token: str, index: int) -> str:
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature", "truncated", "garbage", "empty"])
def test_tampered_token_is_forbidden(signer, where):
    token = signer.sign(GRANT)
    bad = {
        "payload": flip(token, 3),
        "signature": flip(token, len(token) - 2),
        "truncated": token[:-5],
        "garbage": "not-a-token",
        "empty": "",
    }[where]

    with pytest.raises(Forbidden, match="invalid"):
        signer.verify(bad, {"put"})


def test_a_grant_cannot_be_widened(signer):
    # Swap in the payload of a grant for a bigger upload; the signature no longer matches.
    token = signer.sign(GRANT)
    bigger = signer.sign(dataclasses.replace(GRANT, max_size=10**12))
    forged = bigger.split(".")[0] + "." + token.split(".")[1]

    with pytest.raises(Forbidden):
        signer.verify(forged, {"put"})


@pytest.mark.parametrize("expires_at", [0, 1_000_000_000])
def test_expired_grant_is_forbidden(signer, expires_at):
    token = signer.sign(dataclasses.replace(GRANT, expires_at=expires_at))

    with pytest.raises(Forbidden, match="expired"):
        signer.verify(token, {"put"})


@pytest.mark.parametrize("ops", [{"get"}, {"post", "part"}, set()])
def test_wrong_operation_is_forbidden(signer, ops):
    with pytest.raises(Forbidden, match="method"):
        signer.verify(signer.sign(GRANT), ops)


def test_secret_file_is_private_and_reused(tmp_path):
    secret = tmp_path / "keys" / "url-signing.key"
    first = UrlSigner(secret)

    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    content = secret.read_bytes()
    assert len(content) >= 32

    second = UrlSigner(secret)

    assert secret.read_bytes() == content
    assert second.verify(first.sign(GRANT), {"put"}) == GRANT
    assert list(secret.parent.iterdir()) == [secret]  # no temporary files left behind


def test_another_secret_does_not_verify(tmp_path):
    token = UrlSigner(tmp_path / "one.key").sign(GRANT)

    with pytest.raises(Forbidden):
        UrlSigner(tmp_path / "two.key").verify(token, {"put"})
