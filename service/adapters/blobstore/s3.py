"""S3BlobStore: the data bucket through boto3, with SigV4 pre-signed URLs for every transfer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.blobstore import (
    WRITE_ONCE,
    BlobStore,
    InvalidParts,
    Listing,
    ObjectInfo,
    ObjectMissing,
    PreconditionFailed,
    metadata_headers,
)
from service.vocabulary.errors import Conflict, Unavailable

_MISSING = {"404", "NoSuchKey", "NoSuchUpload", "NotFound"}
_BAD_PARTS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}
READ_CHUNK = 1024 * 1024
SINGLE_COPY_BYTES = 5 * 1024**3  # the largest object one CopyObject call copies
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict"}
# A version that expired or never was; HEAD answers 400 for a malformed version id.
_NO_VERSION = {"NoSuchVersion", "400", "InvalidArgument"}

T = TypeVar("T")


def _translated(fn: Callable[..., T]) -> Callable[..., T]:
    """S3's errors in the port's terms: missing → ObjectMissing, outage → Unavailable (503)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _MISSING:
                raise ObjectMissing("object not found in storage") from exc
            if code in _BAD_PARTS:
                raise InvalidParts(f"multipart upload rejected: {code}") from exc
            if code in _CONDITION_FAILED:
                raise PreconditionFailed("an object is already stored here and uploads never replace one") from exc
            raise Unavailable(f"storage refused the request ({code}); try again") from exc
        except BotoCoreError as exc:
            raise Unavailable("storage is unreachable; try again") from exc

    return wrapper


class S3BlobStore(BlobStore):
    """One bucket; any S3-compatible endpoint (moto in tests) when `endpoint_url` is given."""

    name = "s3"

    def __init__(self, bucket: str, endpoint_url: str | None = None, client: Any = None):
        self.bucket = bucket
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            # SigV4 everywhere: pre-signed URLs come out SigV2 otherwise on some endpoints.
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    @_translated
    def put_bytes(self, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> str:
        response = self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )
        return response["ETag"].strip('"')  # from the PUT's own answer: no second round trip

    def put_bytes_if(self, key: str, data: bytes, content_type: str, expected_etag: str | None) -> str:
        # S3 conditional writes: a real compare-and-swap, across every process.
        condition = {"IfMatch": f'"{expected_etag}"'} if expected_etag else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _CONDITION_FAILED:
                raise PreconditionFailed("someone else changed it first; read it again") from None
            raise Unavailable("storage refused the request; try again") from exc
        return response["ETag"].strip('"')

    @_translated
    def put_file(self, key: str, path: Path, content_type: str, metadata: dict | None = None) -> ObjectInfo:
        extra = {"ContentType": content_type, "Metadata": metadata or {}}
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
        return self._written(key)

    @_translated
    def copy_in(
        self,
        source_bucket: str,
        source_key: str,
        key: str,
        content_type: str,
        metadata: dict | None = None,
        size: int | None = None,
    ) -> ObjectInfo:
        """Server-side copy from another bucket or prefix: no bytes pass through Edna. With the `size`
        a listing gave, one CopyObject call (up to 5 GB) whose answer says what was written."""
        extra = {"MetadataDirective": "REPLACE", "ContentType": content_type, "Metadata": metadata or {}}
        if size is None or size > SINGLE_COPY_BYTES:
            self.client.copy({"Bucket": source_bucket, "Key": source_key}, self.bucket, key, ExtraArgs=extra)
            return self._written(key)
        copied = self.client.copy_object(
            CopySource={"Bucket": source_bucket, "Key": source_key}, Bucket=self.bucket, Key=key, **extra
        )["CopyObjectResult"]
        return ObjectInfo(key, size, copied["ETag"].strip('"'), copied["LastModified"], content_type, metadata or {})

    def _written(self, key: str) -> ObjectInfo:
        info = self.head(key)
        if info is None:
            raise Unavailable("storage did not keep the object; try again")
        return info

    @_translated
    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    @_translated
    def read_into(self, key: str, out: BinaryIO) -> None:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(READ_CHUNK):
            out.write(chunk)

    @_translated
    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _MISSING:
                return None
            raise
        return ObjectInfo(
            key=key,
            size=meta["ContentLength"],
            etag=meta["ETag"].strip('"'),
            last_modified=meta["LastModified"],
            content_type=meta.get("ContentType"),
            metadata=meta.get("Metadata", {}),
        )

    @_translated
    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )

    @_translated
    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        limit: int = 1000,
    ) -> Listing:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if delimiter:
            params["Delimiter"] = delimiter
        if token:
            params["ContinuationToken"] = token
        elif start_after:
            params["StartAfter"] = start_after
        page = self.client.list_objects_v2(**params)
        return Listing(
            objects=[
                ObjectInfo(o["Key"], o["Size"], o["ETag"].strip('"'), o["LastModified"])
                for o in page.get("Contents", [])
            ],
            prefixes=[p["Prefix"] for p in page.get("CommonPrefixes", [])],
            next_token=page.get("NextContinuationToken") if page.get("IsTruncated") else None,
        )

    @_translated
    def get_tags(self, key: str) -> dict[str, str]:
        tagset = self.client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {t["Key"]: t["Value"] for t in tagset}

    @_translated
    def put_tags(self, key: str, tags: dict[str, str]) -> None:
        if not tags:
            self.client.delete_object_tagging(Bucket=self.bucket, Key=key)
            return
        self.client.put_object_tagging(
            Bucket=self.bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
        )

    def presign_put(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        # Content type, metadata and If-None-Match become signed headers: S3 refuses a PUT that
        # changes or drops them, so the URL can never replace an object, even after `complete`.
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, "Metadata": metadata or {}}
        url = self.client.generate_presigned_url(
            "put_object", Params={**params, "IfNoneMatch": WRITE_ONCE["If-None-Match"]}, ExpiresIn=expires
        )
        headers = {"Content-Type": content_type, **metadata_headers(metadata), **WRITE_ONCE}
        return {"method": "PUT", "url": url, "headers": headers}

    def presign_post(self, key: str, content_type: str, size: int, expires: int, metadata: dict | None = None) -> dict:
        # S3's POST policies have no conditional write: this form can replace its object until it
        # expires. The event path still discards what arrives for a deleted item (README).
        fields = {"Content-Type": content_type, **metadata_headers(metadata)}
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields=fields,
            Conditions=[*({k: v} for k, v in fields.items()), ["content-length-range", 1, size]],
            ExpiresIn=expires,
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}

    @_translated
    def create_multipart(self, key: str, content_type: str, size: int, metadata: dict | None = None) -> str:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type, Metadata=metadata or {}
        )
        return upload["UploadId"]

    def presign_part(self, key: str, upload_id: str, part_number: int, part_size: int, expires: int) -> str:
        return self.client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
            ExpiresIn=expires,
        )

    @_translated
    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            IfNoneMatch="*",  # write-once, like a signed PUT
        )

    @_translated
    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in _MISSING:
                raise

    def presign_get(self, key: str, expires: int, filename: str | None = None, version_id: str | None = None) -> str:
        # A signed download is for its holder: no shared cache may keep it past the URL's expiry.
        params = {"Bucket": self.bucket, "Key": key, "ResponseCacheControl": f"private, max-age={expires}"}
        if filename:
            params["ResponseContentDisposition"] = _disposition(filename)
        if version_id:
            params["VersionId"] = version_id
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def pin_versions(self, prefix: str, entries: Iterable[tuple[str, T]], holder: str) -> Iterator[tuple[T, str]]:
        """The bucket keeps every version itself (versioning): a merge of `entries` with the listing of
        versions under `prefix`, a page at a time, names the current ones. `holder` needs no record."""
        self._require_versioning()
        wanted = iter(entries)
        entry = next(wanted, None)
        for key, version_id in self._current_versions(prefix):
            while entry is not None and entry[0] < key:
                entry = next(wanted, None)  # gone from the bucket since it was listed: not kept
            if entry is None:
                return
            if entry[0] == key:
                yield entry[1], version_id
                entry = next(wanted, None)

    @_translated
    def _require_versioning(self) -> None:
        status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if status != "Enabled":
            raise Conflict(
                f"the bucket {self.bucket} does not keep object versions (versioning is {status or 'off'}): "
                "snapshots need S3 versioning enabled"
            )

    def _current_versions(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, version id) of every live object under `prefix`, in key order (S3's listing order)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
        while True:
            page = _translated(self.client.list_object_versions)(**params)
            for version in page.get("Versions", []):
                if version["IsLatest"]:  # a deleted key's latest is its delete marker, listed apart
                    yield version["Key"], version["VersionId"]
            if not page.get("IsTruncated"):
                return
            params["KeyMarker"] = page["NextKeyMarker"]
            params["VersionIdMarker"] = page["NextVersionIdMarker"]

    def release_versions(self, holder_prefix: str) -> None:
        """Nothing to do here: the bucket's lifecycle rule expires noncurrent versions (README)."""

    @_translated
    def has_version(self, key: str, version_id: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _MISSING | _NO_VERSION:
                return False
            raise
        return True


def _disposition(filename: str) -> str:
    """An RFC 6266 `inline` disposition that survives any Unicode file name."""
    return f"inline; filename*=UTF-8''{quote(filename, safe='')}"
