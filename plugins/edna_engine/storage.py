"""The storage protocol the engine needs, and its S3 implementation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Storage(Protocol):
    """Where items, the model and the engine's outputs live; callers pass their own (local disk, S3...)."""

    def list_page(
        self, prefix: str, start_after: str | None = None, token: str | None = None, limit: int = 1000
    ) -> tuple[list[str], str | None]:
        """One page of keys under `prefix` in lexicographic order, and the next page's token or None."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; raises when it does not exist."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write an object atomically: readers see all of it or nothing."""
        ...

    def exists(self, key: str) -> bool:
        """Whether the key holds an object."""
        ...

    def label(self, key: str) -> str | None:
        """The item's ground truth if the storage knows one."""
        ...


class S3Storage:
    """Storage on one S3 bucket; the endpoint comes from boto3's usual settings (AWS_ENDPOINT_URL_S3...)."""

    # Fetches run in a small thread pool: room for them and the main thread in the connection pool.
    MAX_CONNECTIONS = 16

    def __init__(self, bucket: str, client=None):
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                max_pool_connections=self.MAX_CONNECTIONS,
                retries={"max_attempts": 5, "mode": "standard"},
            )
            client = boto3.client("s3", config=config)
        self.bucket = bucket
        self.client = client

    def list_page(
        self, prefix: str, start_after: str | None = None, token: str | None = None, limit: int = 1000
    ) -> tuple[list[str], str | None]:
        """One page of keys under `prefix` in lexicographic order, and the next page's token or None."""
        kwargs = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if token:
            kwargs["ContinuationToken"] = token
        elif start_after:
            kwargs["StartAfter"] = start_after
        resp = self.client.list_objects_v2(**kwargs)
        keys = [obj["Key"] for obj in resp.get("Contents", [])]
        return keys, resp.get("NextContinuationToken") if resp.get("IsTruncated") else None

    def get(self, key: str) -> bytes:
        """The whole object; raises when it does not exist."""
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        """Write an object; a single S3 PUT is atomic."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def exists(self, key: str) -> bool:
        """Whether the key holds an object."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def label(self, key: str) -> str | None:
        """The object's `label` tag, or None."""
        tags = self.client.get_object_tagging(Bucket=self.bucket, Key=key).get("TagSet", [])
        return next((t["Value"] for t in tags if t["Key"] == "label"), None)
