"""Webhooks: a tenant's endpoints and the events they want, and the log of each delivery."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.secretbox import SecretBox
from service.domain.records import records_page
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest, NotFound
from service.vocabulary.ids import is_id, new_id
from service.vocabulary.roles import Principal

EVENT_TYPES = (
    "item.available",
    "item.deleted",
    "label.changed",
    "annotations.changed",
    "job.finished",
    "comparison.finished",
    "snapshot.created",
)
MAX_WEBHOOKS = 50  # per tenant: every event is looked up against all of them
MAX_URL = 2048
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"

# Checks a URL before it is stored (outbound.destination: http(s), resolves to allowed addresses only).
UrlCheck = Callable[[str], object]


@dataclass
class Webhook:
    id: str
    url: str
    events: list[str]
    description: str
    active: bool
    secret: str  # signs the deliveries: sealed by the secret box (DESIGN §8), never shown again
    created_by: str
    created_at: str
    updated_at: str

    def view(self) -> dict:
        data = asdict(self)
        data.pop("secret")
        return data


@dataclass
class Delivery:
    id: str
    webhook_id: str
    event: dict
    status: str = PENDING
    attempts: int = 0
    response_code: int | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    created_at: str = field(default_factory=now_iso)
    redelivery_of: str | None = None

    def view(self) -> dict:
        return {**asdict(self), "event_id": self.event["id"], "type": self.event["type"]}


def newest_first_id(ms: int | None = None) -> str:
    """A new id whose order is the reverse of creation: a listing of the log reads newest first."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return new_id(ms).translate(str.maketrans(alphabet, alphabet[::-1]))


def check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise BadRequest(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    if not events:
        raise BadRequest("name at least one event type")
    return sorted(set(events))


class WebhookRegistry:
    """Records under the tenant; `changed` listeners hear of every change (the notifier's cache)."""

    def __init__(self, blobs: BlobStore, check_url: UrlCheck, box: SecretBox):
        self.blobs = blobs
        self.check_url = check_url
        self.box = box
        self.changed: list[Callable[[str], None]] = []

    def _save(self, tenant: str, hook: Webhook) -> None:
        self.blobs.put_bytes(
            layout.webhook_record(tenant, hook.id), json.dumps(asdict(hook)).encode(), "application/json"
        )
        for listener in self.changed:
            listener(tenant)

    def _url(self, url: str) -> str:
        if len(url) > MAX_URL:
            raise BadRequest(f"url is longer than {MAX_URL} characters")
        self.check_url(url)
        return url

    def get(self, tenant: str, webhook_id: str) -> Webhook:
        if not is_id(webhook_id):
            raise NotFound("webhook not found")
        try:
            return Webhook(**json.loads(self.blobs.get_bytes(layout.webhook_record(tenant, webhook_id))))
        except ObjectMissing:
            raise NotFound("webhook not found") from None

    def list(self, tenant: str, limit: int, after: str | None) -> tuple[list[Webhook], str | None]:
        prefix = layout.webhooks_prefix(tenant)
        return records_page(self.blobs, prefix, after, limit, lambda w: self.get(tenant, w), suffix=".json")

    def all(self, tenant: str) -> list[Webhook]:
        return self.list(tenant, MAX_WEBHOOKS, None)[0]

    def create(self, principal: Principal, url: str, events: list[str], description: str) -> tuple[Webhook, str]:
        """The new webhook and its secret, which only this answer shows."""
        events = check_events(events)
        if len(self.all(principal.tenant)) >= MAX_WEBHOOKS:
            raise BadRequest(f"a tenant has at most {MAX_WEBHOOKS} webhooks; delete one first")
        now = now_iso()
        secret, webhook_id = "whsec_" + secrets.token_urlsafe(32), new_id()
        sealed = self.box.seal(secret, _context(principal.tenant, webhook_id))
        hook = Webhook(webhook_id, self._url(url), events, description, True, sealed, principal.user, now, now)
        self._save(principal.tenant, hook)
        return hook, secret

    def signing_secret(self, tenant: str, hook: Webhook) -> str:
        """The secret a delivery is signed with, opened only for the record it was sealed for."""
        return self.box.open(hook.secret, _context(tenant, hook.id))

    def update(self, tenant: str, webhook_id: str, changes: dict) -> Webhook:
        hook = self.get(tenant, webhook_id)
        if "url" in changes:
            hook.url = self._url(changes["url"])
        if "events" in changes:
            hook.events = check_events(changes["events"])
        for name in ("description", "active"):
            if name in changes:
                setattr(hook, name, changes[name])
        hook.updated_at = now_iso()
        self._save(tenant, hook)
        return hook

    def delete(self, tenant: str, webhook_id: str) -> None:
        self.get(tenant, webhook_id)
        self.blobs.delete_many([layout.webhook_record(tenant, webhook_id)])
        self.blobs.delete_prefix(layout.webhook_deliveries_prefix(tenant, webhook_id))
        for listener in self.changed:
            listener(tenant)

    def save_delivery(self, tenant: str, delivery: Delivery) -> None:
        key = layout.webhook_delivery(tenant, delivery.webhook_id, delivery.id)
        self.blobs.put_bytes(key, json.dumps(asdict(delivery)).encode(), "application/json")

    def delivery(self, tenant: str, webhook_id: str, delivery_id: str) -> Delivery:
        self.get(tenant, webhook_id)
        return self._delivery(tenant, webhook_id, delivery_id)

    def _delivery(self, tenant: str, webhook_id: str, delivery_id: str) -> Delivery:
        if not is_id(delivery_id):
            raise NotFound("delivery not found")
        try:
            return Delivery(
                **json.loads(self.blobs.get_bytes(layout.webhook_delivery(tenant, webhook_id, delivery_id)))
            )
        except ObjectMissing:
            raise NotFound("delivery not found") from None

    def deliveries(
        self, tenant: str, webhook_id: str, limit: int, after: str | None
    ) -> tuple[list[Delivery], str | None]:
        """Newest first (the ids sort that way)."""
        self.get(tenant, webhook_id)
        prefix = layout.webhook_deliveries_prefix(tenant, webhook_id)
        return records_page(
            self.blobs, prefix, after, limit, lambda d: self._delivery(tenant, webhook_id, d), suffix=".json"
        )


def _context(tenant: str, webhook_id: str) -> str:
    return f"webhook/{tenant}/{webhook_id}"
