"""The HTTP session: sign-in (password, service account, OAuth2 client credentials) and JSON calls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

TIMEOUT = 60.0  # seconds for one request (a bound, so a dead server fails a command instead of hanging it)
RATE_LIMIT_RETRIES = 10  # 429s in a row before the error is the caller's
LONGEST_WAIT = 60.0  # a 429 asking for longer (a full storage quota) is the caller's at once


class EdnaError(Exception):
    """A failure with a one-line message fit for the command line."""


class ApiError(EdnaError):
    """The API (or storage) answered with an error status; `message` comes from its error body."""

    def __init__(self, status: int, body: dict | str, what: str = ""):
        message = body.get("message", body) if isinstance(body, dict) else (body or "").strip()[:300]
        super().__init__(f"{what + ': ' if what else ''}{status} {message}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Credentials:
    """How to get a token: a member's password, or a service account's client id and secret.

    With `token_url` the service account signs in at that OAuth2 token endpoint (the identity
    provider's client-credentials grant, as on AWS); without it at Edna's own `/api/auth/service-token`.
    """

    username: str = ""
    password: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_url: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        return cls(
            username=env.get("EDNA_USERNAME", ""),
            password=env.get("EDNA_PASSWORD", ""),
            client_id=env.get("EDNA_CLIENT_ID", ""),
            client_secret=env.get("EDNA_CLIENT_SECRET", ""),
            token_url=env.get("EDNA_TOKEN_URL", ""),
        )

    @property
    def usable(self) -> bool:
        return bool((self.username and self.password) or (self.client_id and self.client_secret))


def retry_after(resp: requests.Response) -> float:
    """Seconds a 429 asks to wait (Retry-After in seconds), at least 0.1; 1 when it does not say."""
    try:
        return max(float(resp.headers.get("Retry-After", "1")), 0.1)
    except ValueError:
        return 1.0


def error_body(resp: requests.Response) -> dict | str:
    try:
        return resp.json()
    except ValueError:
        return resp.text


class Session:
    """Thread-safe: every thread has its own connection pool; one token is shared and renewed on a 401."""

    def __init__(self, url: str, credentials: Credentials | None = None, token: str = "", timeout: float = TIMEOUT):
        if not url:
            raise EdnaError("no Edna URL: set EDNA_URL or pass --url")
        self.base_url = url.rstrip("/") + "/"
        self.credentials = credentials or Credentials()
        self.timeout = timeout
        self._token = token
        self._token_lock = threading.Lock()
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return http

    def url(self, path_or_url: str) -> str:
        """Signed URLs may be absolute (S3) or relative to the API's origin (the local store)."""
        return urljoin(self.base_url, path_or_url)

    def token(self) -> str:
        with self._token_lock:
            if not self._token:
                self._token = self._sign_in()
            return self._token

    def _sign_in(self) -> str:
        creds = self.credentials
        if creds.username and creds.password:
            resp = self.http.post(
                self.url("/api/auth/token"),
                json={"username": creds.username, "password": creds.password},
                timeout=self.timeout,
            )
        elif creds.client_id and creds.client_secret and creds.token_url:
            resp = self.http.post(
                creds.token_url,
                data={"grant_type": "client_credentials"},
                auth=(creds.client_id, creds.client_secret),
                timeout=self.timeout,
            )
        elif creds.client_id and creds.client_secret:
            resp = self.http.post(
                self.url("/api/auth/service-token"),
                json={"client_id": creds.client_id, "client_secret": creds.client_secret},
                timeout=self.timeout,
            )
        else:
            raise EdnaError(
                "no credentials: set EDNA_USERNAME and EDNA_PASSWORD, or EDNA_CLIENT_ID and EDNA_CLIENT_SECRET"
            )
        if resp.status_code != 200:
            raise ApiError(resp.status_code, error_body(resp), "sign-in failed")
        return resp.json()["access_token"]

    def _renew(self, stale: str) -> bool:
        """Sign in again after a 401, once per stale token (threads that saw it share the new one)."""
        if not self.credentials.usable:
            return False
        with self._token_lock:
            if self._token == stale:
                self._token = self._sign_in()
        return True

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """An authorized API request; any status comes back (the caller decides). A 401 is retried once
        with a new token, a 429 after its Retry-After (a few times)."""
        headers = kwargs.pop("headers", {})

        def send(token: str) -> requests.Response:
            auth = {**headers, "Authorization": f"Bearer {token}"}
            return self.http.request(method, self.url(path), headers=auth, timeout=self.timeout, **kwargs)

        renewed, waits = False, 0
        while True:
            token = self.token()
            resp = send(token)
            if resp.status_code == 401 and not renewed and self._renew(token):
                renewed = True
                resp = send(self.token())
            if resp.status_code != 429 or waits == RATE_LIMIT_RETRIES or retry_after(resp) > LONGEST_WAIT:
                return resp
            waits += 1
            time.sleep(retry_after(resp))  # a 429 wrote nothing: the same request may go again

    def call(self, method: str, path: str, **kwargs):
        """A JSON call: the decoded body on 2xx (None when empty), else ApiError."""
        resp = self.request(method, path, **kwargs)
        if resp.status_code >= 300:
            raise ApiError(resp.status_code, error_body(resp), f"{method} {path.split('?')[0]}")
        return resp.json() if resp.content else None

    def pages(self, path: str, **params) -> Iterator[dict]:
        """Every entry of a cursor-paginated list."""
        params = {"limit": 1000, **params}
        while True:
            body = self.call("GET", path, params=params)
            yield from body["items"]
            if not body.get("next_cursor"):
                return
            params["cursor"] = body["next_cursor"]
