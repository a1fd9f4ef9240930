"""The client session's retries, against a small WSGI app that answers as Edna does when it refuses."""

from __future__ import annotations

import json

from conftest import serve
from edna_client.session import Credentials, Session


class Refusing:
    """Signs in anyone; answers the first `busy` API calls 429 (with `retry_after`), the rest 200."""

    def __init__(self, busy: int, retry_after: str = "0"):
        self.busy = busy
        self.retry_after = retry_after
        self.calls = 0
        self.sign_ins = 0

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/api/auth/token":
            self.sign_ins += 1
            return self._json(start_response, "200 OK", {"access_token": f"t{self.sign_ins}"})
        self.calls += 1
        if self.calls <= self.busy:
            body = {"code": 429, "status": "Too Many Requests", "message": "slow down"}
            return self._json(start_response, "429 Too Many Requests", body, [("Retry-After", self.retry_after)])
        return self._json(start_response, "200 OK", {"items": [], "next_cursor": None})

    @staticmethod
    def _json(start_response, status: str, body: dict, extra: list | None = None):
        start_response(status, [("Content-Type", "application/json"), *(extra or [])])
        return [json.dumps(body).encode()]


def test_a_429_is_retried_after_its_retry_after():
    app = Refusing(busy=3)
    with serve(app) as url:
        session = Session(url, Credentials(username="u", password="p"))
        assert list(session.pages("/api/datasets")) == []
    assert (app.calls, app.sign_ins) == (4, 1)


def test_a_429_that_does_not_end_reaches_the_caller():
    app = Refusing(busy=1000)
    with serve(app) as url:
        resp = Session(url, Credentials(username="u", password="p")).request("GET", "/api/datasets")
    assert resp.status_code == 429 and app.calls == 11


def test_a_429_asking_for_more_than_a_minute_reaches_the_caller_at_once():
    """A full storage quota answers Retry-After: 3600; waiting it out would only hang the caller."""
    app = Refusing(busy=1000, retry_after="3600")
    with serve(app) as url:
        resp = Session(url, Credentials(username="u", password="p")).request("GET", "/api/datasets")
    assert resp.status_code == 429 and app.calls == 1
