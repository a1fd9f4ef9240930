"""Bytes to and from storage through the signed URLs the API hands out (the API never carries them)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import requests

from edna_client.records import Item
from edna_client.session import ApiError, EdnaError, Session, error_body

CHUNK = 1024 * 1024
SMALL_FILE = 8 * 1024 * 1024  # read whole into memory below this (one read, one hash pass)


def run_parallel(jobs: list[tuple[str, Callable[[], tuple[str, int]]]], workers: int, progress, report) -> None:
    """Each (name, job) on a pool of `workers`; a job answers (outcome, bytes), counted in `report`,
    and a failure is reported by its name without stopping the others."""
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(job): name for name, job in jobs}
        for future in as_completed(futures):
            try:
                outcome, size = future.result()
            except (EdnaError, requests.RequestException, OSError) as exc:
                report.failures.append(f"{futures[future]}: {exc}")
                progress.add(failed=1)
                continue
            report.counts[outcome] += 1
            progress.add(nbytes=size, files=1)
    progress.close()


def sha256_of(path: Path) -> tuple[str, int]:
    """(hex digest, size) of a local file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def content_type_of(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def item_path(dataset_id: str, item_id: str = "", snapshot_id: str = "") -> str:
    base = f"/api/datasets/{dataset_id}"
    if snapshot_id:
        base += f"/snapshots/{snapshot_id}"
    return f"{base}/items/{item_id}" if item_id else f"{base}/items"


def upload(session: Session, dataset_id: str, filename: str, path: Path, sha256: str, size: int) -> Item:
    """Request an upload, send the file to its signed URL(s), complete it: the available item."""
    body = {"filename": filename, "content_type": content_type_of(path), "size": size, "sha256": sha256}
    ticket = session.call("POST", item_path(dataset_id), json=body)
    item_id = ticket["item"]["id"]
    parts = send(session, ticket["upload"], path)
    complete = {"parts": parts} if parts else {}
    return Item.of(session.call("POST", item_path(dataset_id, item_id) + "/complete", json=complete))


def send(session: Session, upload: dict, path: Path) -> list[dict] | None:
    """The file to storage as the upload object says; the parts (with ETags) of a multipart upload."""
    if upload["method"] == "PUT":
        with open(path, "rb") as fh:
            data = fh.read() if path.stat().st_size <= SMALL_FILE else fh
            resp = session.http.put(
                session.url(upload["url"]), data=data, headers=upload["headers"], timeout=session.timeout
            )
        _check(resp, "upload")
        return None
    if upload["method"] != "MULTIPART":
        raise EdnaError(f"unexpected upload method {upload['method']}")
    parts = []
    with open(path, "rb") as fh:
        for part in upload["parts"]:
            fh.seek((part["part_number"] - 1) * upload["part_size"])
            chunk = fh.read(upload["part_size"])
            resp = session.http.put(session.url(part["url"]), data=chunk, timeout=session.timeout)
            _check(resp, f"upload of part {part['part_number']}")
            parts.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
    return parts


def _check(resp: requests.Response, what: str) -> None:
    if resp.status_code not in (200, 204):
        raise ApiError(resp.status_code, error_body(resp), what)


def signed_get_url(session: Session, dataset_id: str, item_id: str, snapshot_id: str = "") -> str:
    """A fresh signed URL from the API's download route (a 302 whose Location is the URL)."""
    resp = session.request("GET", item_path(dataset_id, item_id, snapshot_id) + "/download", allow_redirects=False)
    if resp.status_code != 302:
        raise ApiError(resp.status_code, error_body(resp), "download")
    return session.url(resp.headers["Location"])


def open_download(session: Session, dataset_id: str, item: Item, snapshot_id: str = "") -> requests.Response:
    """A streamed GET of the item's bytes (a snapshot's: the version it kept): the listing's signed URL
    while it is valid, else a fresh one from the download route."""
    listed = item.raw.get("download_url")
    if listed:
        resp = session.http.get(session.url(listed), stream=True, timeout=session.timeout)
        if resp.status_code == 200:
            return resp
        resp.close()  # expired since the listing was read: ask for a new one
    resp = session.http.get(
        signed_get_url(session, dataset_id, item.id, snapshot_id), stream=True, timeout=session.timeout
    )
    _check(resp, "download")
    return resp


def verify(item: Item, size: int, digest: str) -> None:
    if size != item.size:
        raise EdnaError(f"{item.filename}: got {size} bytes, the item has {item.size}")
    if item.sha256 and digest != item.sha256:
        raise EdnaError(f"{item.filename}: sha256 {digest} differs from the item's {item.sha256}")


def download_to(session: Session, dataset_id: str, item: Item, target: Path, snapshot_id: str = "") -> None:
    """The item's bytes into `target`, verified by size and sha256 before the file appears under its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.edna-partial")
    try:
        if item.size <= SMALL_FILE:  # verified in memory, written once
            partial.write_bytes(fetch(session, dataset_id, item, snapshot_id))
        else:
            digest = hashlib.sha256()
            size = 0
            with open_download(session, dataset_id, item, snapshot_id) as resp, open(partial, "wb") as out:
                for chunk in resp.iter_content(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            verify(item, size, digest.hexdigest())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def fetch(session: Session, dataset_id: str, item: Item, snapshot_id: str = "") -> bytes:
    """The item's bytes in memory, verified."""
    with open_download(session, dataset_id, item, snapshot_id) as resp:
        data = resp.content
    verify(item, len(data), hashlib.sha256(data).hexdigest() if item.sha256 else "")
    return data
