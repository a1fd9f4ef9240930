"""One attempt at a webhook delivery: sign, POST, log; retries back off exponentially."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.domain.timestamps import iso
from service.domain.webhooks import FAILED, PENDING, SUCCEEDED, Delivery, WebhookRegistry
from service.vocabulary.errors import BadRequest, NotFound

log = logging.getLogger("edna.webhooks")

MAX_BACKOFF = 900.0  # seconds between two attempts at most (SQS's longest delay)
ERROR_CHARS = 300

# post(url, body, headers) → (status code, excerpt of the answer); raises BadRequest when the
# destination is refused, OSError when the receiver cannot be reached or does not answer in time.
Post = Callable[[str, bytes, dict[str, str]], tuple[int, str]]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Edna-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class Backoff:
    max_attempts: int
    base_seconds: float

    def delay(self, attempts: int) -> float:
        """After the n-th failed attempt: base, 4 x base, 16 x base ... capped."""
        return min(MAX_BACKOFF, self.base_seconds * 4 ** (attempts - 1))


class Deliverer:
    def __init__(self, registry: WebhookRegistry, post: Post, backoff: Backoff):
        self.registry = registry
        self.post = post
        self.backoff = backoff

    def attempt(self, message: dict) -> tuple[dict, float] | None:
        """POST the message's event once and log the outcome; the next attempt's message and delay,
        or None when the delivery is over. Storage errors propagate: the queue tries again later."""
        tenant, webhook_id = message["tenant"], message["webhook_id"]
        try:
            hook = self.registry.get(tenant, webhook_id)
        except NotFound:
            return None  # deleted since: its log went with it
        attempts = message["attempts"] + 1
        delivery = Delivery(
            message["delivery_id"],
            webhook_id,
            message["event"],
            attempts=attempts,
            created_at=message["created_at"],
            redelivery_of=message.get("redelivery_of"),
        )
        body = json.dumps(message["event"], separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Edna-Event": message["event"]["type"],
            "Edna-Delivery": delivery.id,
            "Edna-Signature": signature(self.registry.signing_secret(tenant, hook), int(time.time()), body),
        }
        retry = True
        try:
            delivery.response_code, excerpt = self.post(hook.url, body, headers)
            if 200 <= delivery.response_code < 300:
                delivery.status = SUCCEEDED
            else:
                delivery.last_error = f"HTTP {delivery.response_code}: {excerpt}"[:ERROR_CHARS]
        except BadRequest as refused:  # the URL now resolves somewhere Edna must not call: no retries
            delivery.last_error = refused.message[:ERROR_CHARS]
            retry = False
        except OSError as exc:  # unreachable, timed out, reset: the receiver's trouble, retried
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        following = None
        if delivery.status != SUCCEEDED:
            if retry and attempts < self.backoff.max_attempts:
                delay = self.backoff.delay(attempts)
                delivery.status, delivery.next_attempt_at = PENDING, iso(time.time() + delay)
                following = ({**message, "attempts": attempts}, delay)
            else:
                delivery.status = FAILED
        self.registry.save_delivery(tenant, delivery)
        level = logging.DEBUG if delivery.status == SUCCEEDED else logging.INFO  # a failing receiver shows
        log.log(level, "webhook %s delivery %s attempt %d: %s", webhook_id, delivery.id, attempts, delivery.status)
        return following
