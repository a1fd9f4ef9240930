"""Kept object versions (what snapshots stand on), on both BlobStore adapters: a pinned version keeps
its exact bytes after overwrites and deletes, and goes when its holder lets go (local) or when the
bucket's lifecycle expires it (S3). An unversioned bucket refuses to keep versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from conftest import s3_client

from service.adapters.blobstore import BlobStore
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.blobstore.s3 import S3BlobStore
from service.vocabulary.errors import Conflict

KEYS = ["p/a/one.txt", "p/b/two.txt", "p/c/three.txt"]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("moto_endpoint")
    s3_client(endpoint).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3BlobStore(bucket, endpoint_url=endpoint)


def read_version(store: BlobStore, key: str, version_id: str) -> bytes:
    if isinstance(store, LocalBlobStore):  # its URLs are served by the app: read what the route serves
        path, info = store.open_version(key, version_id)
        assert info.content_type == "text/plain"
        return path.read_bytes()
    url = store.presign_get(key, 60, version_id=version_id)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.content


def test_pinned_versions_outlive_overwrites_and_deletes(store: BlobStore):
    for key in KEYS:
        store.put_bytes(key, f"first {key}".encode(), "text/plain")
    store.put_bytes("p/zz-unlisted.txt", b"not asked for", "text/plain")
    wanted = [(key, n) for n, key in enumerate(KEYS)] + [("p/d/missing.txt", 9)]
    pinned = list(store.pin_versions("p/", iter(wanted), "holders/h1"))
    assert [n for n, _ in pinned] == [0, 1, 2]  # in order; a key that does not exist is left out
    versions = {KEYS[n]: version for n, version in pinned}

    store.put_bytes(KEYS[0], b"second", "text/plain")
    store.delete_many([KEYS[1]])
    assert [o.key for o in store.iter_objects("p/")] == [KEYS[0], KEYS[2], "p/zz-unlisted.txt"]  # never listed
    for key in KEYS:
        assert store.has_version(key, versions[key])
        assert read_version(store, key, versions[key]) == f"first {key}".encode()
    assert not store.has_version(KEYS[0], versions[KEYS[1]])  # a version of another key
    assert store.get_bytes(KEYS[0]) == b"second"

    # A second holder keeps the current versions; letting go of the first leaves the second's.
    again = dict((KEYS[n], v) for n, v in store.pin_versions("p/", iter([(KEYS[0], 0)]), "holders/h2"))
    store.release_versions("holders/h1")
    assert read_version(store, KEYS[0], again[KEYS[0]]) == b"second"
    if isinstance(store, LocalBlobStore):
        assert not store.has_version(KEYS[2], versions[KEYS[2]])
        assert not (store.pins / "holders/h1").exists()


def test_an_unversioned_bucket_refuses_to_keep_versions(s3_bucket: str, moto_endpoint: str):
    store = S3BlobStore(s3_bucket, endpoint_url=moto_endpoint)
    store.put_bytes("p/a.txt", b"x", "text/plain")
    with pytest.raises(Conflict, match="versioning"):
        list(store.pin_versions("p/", iter([("p/a.txt", 0)]), "holders/h"))
