"""A small Python client of Edna's REST API that uploads the way a browser does: straight to storage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import requests


class ApiError(Exception):
    def __init__(self, status: int, body: dict | str):
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class EdnaClient:
    """Thread-safe: each thread gets its own HTTP session."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def url(self, path_or_url: str) -> str:
        """Signed URLs may be absolute (S3) or relative to the API's origin (local store)."""
        return urljoin(self.base_url, path_or_url)

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 202, 204), **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        resp = self.session.request(method, self.url(path), headers=headers, timeout=self.timeout, **kwargs)
        if resp.status_code not in expect:
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
            raise ApiError(resp.status_code, body)
        return (
            resp.json()
            if resp.content and resp.headers.get("Content-Type", "").startswith("application/json")
            else None
        )

    def login(self, username: str, password: str) -> str:
        self.token = None
        self.token = self.call("POST", "/api/auth/token", json={"username": username, "password": password})[
            "access_token"
        ]
        return self.token

    def pages(self, path: str, **params) -> Iterator[dict]:
        """Every entry of a paginated list, following next_cursor."""
        params = {"limit": 1000, **params}
        while True:
            body = self.call("GET", path, params=params)
            yield from body["items"]
            if not body["next_cursor"]:
                return
            params["cursor"] = body["next_cursor"]

    def transfer(self, upload: dict, data: bytes, content_type: str) -> list[dict] | None:
        """Send the bytes to storage as the upload object says; returns the parts of a multipart upload."""
        method = upload["method"]
        if method == "PUT":
            resp = self.session.put(self.url(upload["url"]), data=data, headers=upload["headers"], timeout=self.timeout)
        elif method == "POST":
            files = {"file": ("blob", data, content_type)}
            resp = self.session.post(self.url(upload["url"]), data=upload["fields"], files=files, timeout=self.timeout)
        else:
            parts = []
            size = upload["part_size"]
            for part in upload["parts"]:
                start = (part["part_number"] - 1) * size
                resp = self.session.put(self.url(part["url"]), data=data[start : start + size], timeout=self.timeout)
                if resp.status_code != 200:
                    raise ApiError(resp.status_code, resp.text)
                parts.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
            return parts
        if resp.status_code not in (200, 204):
            raise ApiError(resp.status_code, resp.text)
        return None

    def upload(self, dataset_id: str, filename: str, data: bytes, content_type: str, method: str = "PUT") -> dict:
        """Request, transfer, complete: the item, now available."""
        body = {"filename": filename, "content_type": content_type, "size": len(data), "method": method}
        ticket = self.call("POST", f"/api/datasets/{dataset_id}/items", json=body)
        parts = self.transfer(ticket["upload"], data, content_type)
        item_id = ticket["item"]["id"]
        return self.call(
            "POST",
            f"/api/datasets/{dataset_id}/items/{item_id}/complete",
            json={"parts": parts} if parts else {},
        )

    def upload_many(self, dataset_id: str, files: list[tuple[str, bytes, str]], workers: int = 8) -> list[dict]:
        """Upload batches: one request for up to `BATCH` files' URLs, the transfers `workers` at a time,
        one request to complete them: the available items, in order. A file refused raises ApiError."""
        items: list[dict] = []
        path = f"/api/datasets/{dataset_id}/items"
        with ThreadPoolExecutor(workers) as pool:
            for start in range(0, len(files), BATCH):
                chunk = files[start : start + BATCH]
                body = {
                    "items": [{"filename": f, "content_type": t, "size": len(d), "method": "PUT"} for f, d, t in chunk]
                }
                tickets = [_accepted(r, 201) for r in self.call("POST", f"{path}/bulk", json=body)["results"]]
                parts = list(pool.map(lambda t, f: self.transfer(t["upload"], f[1], f[2]), tickets, chunk))
                single = [t["item"]["id"] for t, p in zip(tickets, parts, strict=True) if not p]
                done = {}
                if single:
                    results = self.call("POST", f"{path}/complete", json={"item_ids": single})["results"]
                    done = {r["item_id"]: _accepted(r, 200)["item"] for r in results}
                for ticket, sent in zip(tickets, parts, strict=True):
                    item_id = ticket["item"]["id"]
                    items.append(
                        done.get(item_id) or self.call("POST", f"{path}/{item_id}/complete", json={"parts": sent})
                    )
        return items


# The upload batch routes' limit, service.domain.upload_batches.MAX_ENTRIES (not imported: it pulls the domain in).
BATCH = 1000


def _accepted(result: dict, status: int) -> dict:
    """A batch entry that succeeded, or its own error raised."""
    if result["status"] != status:
        raise ApiError(result["status"], result.get("error", ""))
    return result
