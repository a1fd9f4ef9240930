"""Events to webhooks: `emit` queues one delivery per subscribed endpoint and never fails its caller."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from service.adapters.webhookqueue import WebhookQueue
from service.domain.timestamps import iso, now_iso
from service.domain.webhooks import Delivery, WebhookRegistry, newest_first_id
from service.vocabulary.errors import Unavailable
from service.vocabulary.ids import new_id

log = logging.getLogger("edna.webhooks")

SUBSCRIPTIONS_CACHE_SECONDS = 5.0  # how long another process may go on using a tenant's old subscriptions

# What the domain services call: emit(tenant, event type, data, key=None). `key` names an event that more
# than one process may see (a job's end, an upload's arrival): its id comes from the key, so a second
# sighting is delivered with the same event id and the receiver drops it (deliveries are at least once).
Emit = Callable[..., None]


def nobody(tenant: str, event_type: str, data: dict, key: str | None = None) -> None:
    """The emitter of services built without webhooks (benchmarks and scripts over a bare store)."""


def message(tenant: str, webhook_id: str, event: dict, redelivery_of: str | None = None) -> dict:
    """A queued delivery: everything its attempts need but the endpoint's record (read fresh each time)."""
    # One instant for the id and created_at: the log's id order is then its created_at order.
    ms = int(time.time() * 1000)
    delivery_id = newest_first_id(ms)
    return {
        "delivery_id": delivery_id,
        "tenant": tenant,
        "webhook_id": webhook_id,
        "event": event,
        "attempts": 0,
        "created_at": iso(ms / 1000),
        **({"redelivery_of": redelivery_of} if redelivery_of else {}),
    }


class Notifier:
    """The tenant's subscriptions are read from storage at most once per `cache_seconds` per process,
    and again at once after a change made here; an event nobody wants costs a dictionary look-up."""

    def __init__(self, registry: WebhookRegistry, queue: WebhookQueue, cache_seconds: float):
        self.registry = registry
        self.queue = queue
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, list[str]]]] = {}
        self._lock = threading.Lock()
        registry.changed.append(self.forget)

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._cache.pop(tenant, None)

    def _subscribers(self, tenant: str, event_type: str) -> list[str]:
        with self._lock:
            cached = self._cache.get(tenant)
        if cached is None or time.monotonic() - cached[0] > self.cache_seconds:
            by_type: dict[str, list[str]] = {}
            for hook in self.registry.all(tenant):
                if hook.active:
                    for subscribed in hook.events:
                        by_type.setdefault(subscribed, []).append(hook.id)
            cached = (time.monotonic(), by_type)
            with self._lock:
                self._cache[tenant] = cached
        return cached[1].get(event_type, [])

    def emit(self, tenant: str, event_type: str, data: dict, key: str | None = None) -> None:
        try:
            subscribers = self._subscribers(tenant, event_type)
            if not subscribers:
                return
            event_id = hashlib.sha256(f"{tenant}/{key}".encode()).hexdigest()[:26] if key else new_id()
            event = {"id": event_id, "type": event_type, "created_at": now_iso(), "tenant": tenant, "data": data}
            for webhook_id in subscribers:
                self.queue.send(message(tenant, webhook_id, event))
        except Exception:  # the change it reports is made: a lost event is logged, never the caller's failure
            log.exception("%s event of tenant %s not queued: %s", event_type, tenant, data)

    def redeliver(self, tenant: str, webhook_id: str, delivery_id: str) -> Delivery:
        """A new series of attempts of the same event; its log is written now (pending), then by the worker."""
        earlier = self.registry.delivery(tenant, webhook_id, delivery_id)
        queued = message(tenant, webhook_id, earlier.event, redelivery_of=earlier.id)
        delivery = Delivery(
            queued["delivery_id"], webhook_id, earlier.event, created_at=queued["created_at"], redelivery_of=earlier.id
        )
        self.registry.save_delivery(tenant, delivery)
        try:
            self.queue.send(queued)
        except Exception as exc:
            raise Unavailable("the delivery could not be queued; try again") from exc
        return delivery
