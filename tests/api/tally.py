"""Helpers for the metering tests: a client that tallies what it asked of the API, raw calls, the ledger."""

from __future__ import annotations

import collections
import threading
import time

import requests

from service.client import EdnaClient

UNMETERED = ("/api/blobs/", "/api/auth/token")  # no principal: neither metered nor audited


class Tally:
    """Responses of the API (not of storage, not of the unmetered routes), by status class."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.classes: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        if not response.url.startswith(self.base_url + "/api/"):
            return  # S3 on moto, or the web app
        path = response.url[len(self.base_url) :]
        if path.startswith(UNMETERED) or response.status_code == 401:
            return
        with self._lock:
            self.classes[f"{response.status_code // 100}xx"] += 1

    @property
    def total(self) -> int:
        return sum(self.classes.values())

    def expected(self) -> dict:
        """The `requests` object of a usage report that saw exactly these responses."""
        return {"total": self.total, **{f"{c}xx": self.classes[f"{c}xx"] for c in (2, 3, 4, 5)}}


class TalliedClient(EdnaClient):
    """An EdnaClient whose every HTTP response is added to a tally (polling included)."""

    def __init__(self, base_url: str, token: str, tally: Tally):
        super().__init__(base_url, token)
        self.tally = tally

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.hooks["response"].append(self.tally.hook)
        return session

    def raw(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.session.request(
            method, self.url(path), headers=headers, allow_redirects=False, timeout=30, **kwargs
        )


def raw(stack, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    """One request as it is sent, redirects not followed."""
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, stack.base_url + path, headers=headers, allow_redirects=False, timeout=30, **kwargs)


def audit_entries(client: EdnaClient, **params) -> list[dict]:
    return list(client.pages("/api/audit", **params))


def storage_keys(stack, prefix: str = "tenants/") -> list[str]:
    return sorted(o.key for o in stack.edna.blobs.iter_objects(prefix))


def wait_until_not_near_a_new_minute(margin: float = 3.0) -> None:
    """The request quota is a fixed window per minute: a test of it must not straddle two."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)
