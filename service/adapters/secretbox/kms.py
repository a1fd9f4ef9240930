"""Secrets sealed by AWS KMS: the key never leaves KMS, and the context is KMS's encryption context
(logged in CloudTrail with every use). A webhook secret is under 4 KiB: KMS encrypts it directly."""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from service.adapters.secretbox import SealBroken, SecretBox
from service.vocabulary.errors import Unavailable

PREFIX = "kms1:"


class KmsSecretBox(SecretBox):
    name = "kms"

    def __init__(self, key_id: str, client: Any = None):
        self.key_id = key_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    def seal(self, secret: str, context: str) -> str:
        try:
            blob = self.client.encrypt(
                KeyId=self.key_id, Plaintext=secret.encode(), EncryptionContext={"edna": context}
            )["CiphertextBlob"]
        except ClientError as exc:
            raise Unavailable(f"KMS did not seal the secret: {exc.response['Error']['Code']}") from None
        return PREFIX + base64.b64encode(blob).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SealBroken("a sealed secret of another kind")
        try:
            blob = base64.b64decode(sealed[len(PREFIX) :])
            plain = self.client.decrypt(KeyId=self.key_id, CiphertextBlob=blob, EncryptionContext={"edna": context})[
                "Plaintext"
            ]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise SealBroken("a sealed secret that does not open with this key and context") from None
            raise Unavailable(f"KMS did not open the secret: {exc.response['Error']['Code']}") from None
        except ValueError:
            raise SealBroken("a sealed secret that is not base64") from None
        return plain.decode()
