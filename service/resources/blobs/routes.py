"""The local blob store's signed URLs, served by the app itself (only when storage is local)."""

from __future__ import annotations

import contextlib

from flask import Blueprint, current_app, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from service.adapters.blobstore import metadata_headers
from service.adapters.blobstore.local import LocalBlobStore
from service.vocabulary.errors import Forbidden

bp = Blueprint("blobs", __name__)

FORM_OVERHEAD = 64 * 1024  # room for the multipart/form-data envelope around a POSTed file


def _store() -> LocalBlobStore:
    return current_app.extensions["edna"].blobs


@contextlib.contextmanager
def _limited(max_size: int, overhead: int = 0):
    """Bodies beyond the signed size are refused like a bad S3 signature: 403, nothing kept."""
    if request.content_length is not None and request.content_length > max_size + overhead:
        raise Forbidden(f"the upload is larger than the {max_size} bytes it was signed for")
    # One byte more: where the server ends the stream itself (gunicorn), werkzeug refuses the read that
    # finds the end of a body exactly at its limit; the store's own count refuses that extra byte.
    request.max_content_length = max_size + overhead + 1
    try:
        yield
    except RequestEntityTooLarge:
        raise Forbidden(f"the upload is larger than the {max_size} bytes it was signed for") from None


def _check_metadata(signed: dict, sent) -> None:
    """Signed metadata must be sent as signed, like S3's signed x-amz-meta-* headers."""
    for key, value in metadata_headers(signed).items():
        if sent.get(key) != value:
            raise Forbidden(f"{key} must be sent as the URL was signed for")


def _hardened(response):
    # User content on the app's own origin: never sniffed, never scripted.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.put("/<token>")
def put_object(token: str):
    """A pre-signed single PUT or multipart part PUT."""
    store = _store()
    grant = store.signer.verify(token, {"put", "part"})
    with _limited(grant.max_size):
        if grant.op == "part":
            etag = store.write_part(grant.key, grant.upload_id, grant.part_number, request.stream, grant.max_size)
            return _hardened(current_app.response_class(status=200, headers={"ETag": f'"{etag}"'}))
        sent_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if sent_type != grant.content_type:
            raise Forbidden(f"Content-Type must be {grant.content_type!r}, as the URL was signed for")
        _check_metadata(grant.metadata, request.headers)
        info = store.accept_upload(grant, token, request.stream)
    return _hardened(current_app.response_class(status=200, headers={"ETag": f'"{info.etag}"'}))


@bp.post("/<token>")
def post_object(token: str):
    """A pre-signed form POST (the local twin of an S3 POST policy)."""
    store = _store()
    grant = store.signer.verify(token, {"post"})
    with _limited(grant.max_size, FORM_OVERHEAD):
        if request.form.get("Content-Type", "").strip().lower() != grant.content_type:
            raise Forbidden(f"the Content-Type field must be {grant.content_type!r}, as the policy says")
        _check_metadata(grant.metadata, request.form)
        upload = request.files.get("file")
        if upload is None:
            raise Forbidden("the form has no 'file' field")
        info = store.accept_upload(grant, token, upload.stream, min_size=1)
    return _hardened(current_app.response_class(status=204, headers={"ETag": f'"{info.etag}"'}))


@bp.get("/<token>")
@bp.get("/<token>/<path:_name>")
def get_object(token: str, _name: str = ""):
    """A pre-signed GET; the optional trailing name only makes saved files look right."""
    store = _store()
    grant = store.signer.verify(token, {"get"})
    path, info = store.open_version(grant.key, grant.version_id) if grant.version_id else store.open(grant.key)
    response = send_file(
        path,
        mimetype=info.content_type or "application/octet-stream",
        download_name=grant.filename or path.name,
        conditional=True,
        etag=info.etag,
        max_age=60,
    )
    # A signed download is for its holder: no shared cache may keep it past the URL's expiry.
    response.cache_control.public = False
    response.cache_control.private = True
    return _hardened(response)
