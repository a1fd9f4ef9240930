"""Webhooks over both blob stores: a loopback receiver that verifies each delivery's signature hears every
event type; failures are retried and logged, deliveries can be sent again, private addresses are refused
unless allowed, and a receiver that hangs or is down never holds up the request that caused the event."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from conftest import STORES, free_port, running_stack
from digits import models, register, wait_for

from service.adapters.webhookqueue import outbound
from service.adapters.webhookqueue.sqs import SqsWebhookQueue
from service.domain.notifications import Notifier, message
from service.domain.webhook_delivery import Backoff, Deliverer
from service.handlers import sqs_webhooks
from service.vocabulary.errors import BadRequest

DEADLINE = 60  # seconds a delivery may take here before a test gives up (a bound, not a measurement)
ALL_EVENTS = [
    "item.available",
    "item.deleted",
    "label.changed",
    "annotations.changed",
    "job.finished",
    "comparison.finished",
    "snapshot.created",
]


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (the README's snippet): recompute the HMAC over "<t>.<raw body>"."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < tolerance


class Receiver:
    """An HTTP server on loopback that records every POST by path and answers as each path is scripted."""

    def __init__(self):
        self.received: list[tuple[str, dict, bytes]] = []
        self.scripts: dict[str, list[int]] = {}
        self.hanging = threading.Event()  # set while a POST to /hang is held
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), body))
                if self.path == "/hang":
                    receiver.hanging.set()
                    receiver.release.wait(10)
                script = receiver.scripts.get(self.path) or []
                status = script.pop(0) if script else 200
                self.send_response(status)
                if self.path == "/redirect":
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/target")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[tuple[dict, bytes]]:
        return [(headers, body) for p, headers, body in list(self.received) if p == path]

    def wait(self, path: str, done) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            got = self.at(path)
            if done(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path}: {[json.loads(b)['type'] for _, b in self.at(path)]}")


@pytest.fixture(scope="module")
def receiver(hooked):
    """One per stack: what it records belongs to that stack's webhooks alone."""
    r = Receiver()
    yield r
    r.release.set()
    r.server.shutdown()


@pytest.fixture(scope="module", params=STORES)
def hooked(request, tmp_path_factory, moto_endpoint):
    """A stack that may call the loopback receiver, retries fast and gives up after a few attempts."""
    overrides = dict(
        webhook_allowed_hosts="127.0.0.1",
        webhook_retry_base_seconds=0.2,
        webhook_max_attempts=4,
        webhook_timeout_seconds=1.0,
    )
    data_dir = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    with running_stack(request.param, data_dir, moto_endpoint, **overrides) as stack:
        admin = stack.client("admin")
        dataset_id = admin.call("POST", "/api/datasets", json={"name": "hooks", "label_classes": ["cat", "dog"]})["id"]
        yield stack, admin, dataset_id


def subscribe(admin, receiver: Receiver, path: str, events=("label.changed",)) -> dict:
    return admin.call("POST", "/api/webhooks", json={"url": receiver.url(path), "events": list(events)})


def upload(admin, dataset_id: str, name: str = "x.png") -> dict:
    return admin.upload(dataset_id, name, b"not-really-a-png", "image/png")


def label(admin, dataset_id: str, item_id: str, value: str | None) -> None:
    admin.call("PUT", f"/api/datasets/{dataset_id}/items/{item_id}/label", json={"label": value})


def deliveries(admin, hook: dict) -> list[dict]:
    return admin.call("GET", f"/api/webhooks/{hook['id']}/deliveries")["items"]


def wait_for_log(admin, hook: dict, done) -> list[dict]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        log = deliveries(admin, hook)
        if done(log):
            return log
        time.sleep(0.1)
    raise AssertionError(f"deliveries of {hook['url']}: {log}")


def test_registration_read_change_remove_and_the_secret_is_shown_once(hooked, receiver):
    stack, admin, _ = hooked
    created = subscribe(admin, receiver, "/crud", ["item.available"])
    assert created["secret"].startswith("whsec_") and created["active"] is True
    assert created["events"] == ["item.available"]
    read = admin.call("GET", f"/api/webhooks/{created['id']}")
    assert "secret" not in read and read["url"] == receiver.url("/crud")
    assert created["id"] in [h["id"] for h in admin.pages("/api/webhooks")]
    assert all("secret" not in h for h in admin.pages("/api/webhooks"))
    stored = b"".join(stack.edna.blobs.get_bytes(o.key) for o in stack.edna.blobs.iter_objects("tenants/"))
    assert created["secret"].encode() not in stored  # sealed at rest (DESIGN §8)
    changed = admin.call(
        "PATCH", f"/api/webhooks/{created['id']}", json={"events": ["item.deleted", "label.changed"], "active": False}
    )
    assert changed["events"] == ["item.deleted", "label.changed"] and changed["active"] is False
    for body, word in (
        ({"url": receiver.url("/x"), "events": ["item.exploded"]}, "unknown event"),
        ({"url": receiver.url("/x"), "events": []}, "at least one"),
        ({"url": "ftp://127.0.0.1/x", "events": ["item.deleted"]}, "http"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["item.deleted"]}, "credentials"),
    ):
        refused = admin.call("POST", "/api/webhooks", json=body, expect=(400,))
        assert word in refused["message"], refused
    admin.call("PATCH", f"/api/webhooks/{created['id']}", json={"events": ["nope"]}, expect=(400,))
    admin.call("DELETE", f"/api/webhooks/{created['id']}", expect=(204,))
    admin.call("GET", f"/api/webhooks/{created['id']}", expect=(404,))
    admin.call("GET", f"/api/webhooks/{created['id']}/deliveries", expect=(404,))
    assert stack.client("editor").call("GET", "/api/webhooks", expect=(403,))
    assert stack.client("admin", "acme").call("GET", f"/api/webhooks/{changed['id']}", expect=(404,))


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://192.168.0.1/hook",
    ],
)
def test_private_loopback_and_link_local_urls_are_refused_at_registration(hooked, url):
    _, admin, _ = hooked
    refused = admin.call("POST", "/api/webhooks", json={"url": url, "events": ["item.deleted"]}, expect=(400,))
    assert "EDNA_WEBHOOK_ALLOWED_HOSTS" in refused["message"]


def test_an_allowed_host_is_refused_at_delivery_once_no_longer_allowed(hooked, receiver):
    stack, admin, _dataset_id = hooked
    with pytest.raises(BadRequest):
        outbound.destination(receiver.url("/"), frozenset())  # allowed in this stack only by its setting
    hook = subscribe(admin, receiver, "/disallowed", ["item.deleted"])
    strict = lambda url, body, headers: outbound.post(url, body, headers, frozenset(), 1.0)  # noqa: E731
    deliverer = Deliverer(stack.edna.webhooks, strict, Backoff(4, 0.1))
    event = {"id": "e", "type": "item.deleted", "created_at": "", "tenant": "demo", "data": {}}
    assert deliverer.attempt(message("demo", hook["id"], event)) is None  # refused: never retried
    (logged,) = deliveries(admin, hook)
    assert logged["status"] == "failed" and logged["attempts"] == 1 and logged["response_code"] is None
    assert "private, loopback or link-local" in logged["last_error"]
    assert receiver.at("/disallowed") == []


def test_every_event_type_reaches_the_receiver_signed(hooked, receiver):
    _stack, admin, dataset_id = hooked
    hook = subscribe(admin, receiver, "/all", ALL_EVENTS)
    item = upload(admin, dataset_id)
    label(admin, dataset_id, item["id"], "cat")
    label(admin, dataset_id, item["id"], "cat")  # unchanged: no event
    admin.call("POST", f"/api/datasets/{dataset_id}/labels", json={"labels": [{"item_id": item["id"], "label": "dog"}]})
    boxes = [{"label": "cat", "x": 0, "y": 0, "w": 1, "h": 1}]
    admin.call("PUT", f"/api/datasets/{dataset_id}/items/{item['id']}/annotations", json={"boxes": boxes, "version": 0})
    admin.call("POST", f"/api/datasets/{dataset_id}/snapshots", json={"name": "v1"})
    onnx = models()["digits-logistic-regression"]
    model_ids = [register(admin, name, onnx)["id"] for name in ("m1", "m2")]
    comparison = admin.call("POST", "/api/comparisons", json={"dataset_id": dataset_id, "model_ids": model_ids})
    wait_for(admin, f"/api/comparisons/{comparison['id']}")
    admin.call("DELETE", f"/api/datasets/{dataset_id}/items/{item['id']}", expect=(204,))

    got = receiver.wait("/all", lambda got: {json.loads(b)["type"] for _, b in got} == set(ALL_EVENTS))
    events = [json.loads(body) for _, body in got]
    by_type = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    assert [e["data"]["label"] for e in by_type["label.changed"]] == ["cat", "dog"]
    assert by_type["item.available"][0]["data"] == {
        "dataset_id": dataset_id,
        "item_id": item["id"],
        "filename": "x.png",
    }
    assert by_type["annotations.changed"][0]["data"]["version"] == 1
    assert sorted(e["data"]["job_id"] for e in by_type["job.finished"]) == sorted(comparison["job_ids"])
    (finished,) = by_type["comparison.finished"]
    assert finished["data"]["comparison_id"] == comparison["id"] and finished["data"]["status"] == "succeeded"
    assert by_type["item.deleted"][0]["data"]["item_id"] == item["id"]
    for headers, body in got:
        event = json.loads(body)
        assert set(event) == {"id", "type", "created_at", "tenant", "data"} and event["tenant"] == "demo"
        assert headers["Edna-Event"] == event["type"] and headers["User-Agent"].startswith("Edna-Webhooks/")
        assert headers["Content-Type"] == "application/json" and headers["Edna-Delivery"]
        assert verify(hook["secret"], headers["Edna-Signature"], body)
        assert not verify("whsec_wrong", headers["Edna-Signature"], body)
        assert not verify(hook["secret"], headers["Edna-Signature"], body + b" ")
    log = wait_for_log(admin, hook, lambda log: len(log) == len(got) and all(d["status"] == "succeeded" for d in log))
    assert [d["created_at"] for d in log] == sorted((d["created_at"] for d in log), reverse=True)  # newest first
    assert {d["event_id"] for d in log} == {e["id"] for e in events}


def test_failures_are_retried_with_backoff_logged_and_can_be_sent_again(hooked, receiver):
    _stack, admin, dataset_id = hooked
    receiver.scripts["/flaky"] = [500, 500]
    hook = subscribe(admin, receiver, "/flaky")
    item = upload(admin, dataset_id, "flaky.png")
    label(admin, dataset_id, item["id"], "cat")
    (logged,) = wait_for_log(admin, hook, lambda log: log and log[0]["status"] == "succeeded")
    assert logged["attempts"] == 3 and logged["response_code"] == 200 and logged["type"] == "label.changed"
    attempts = receiver.at("/flaky")
    assert len(attempts) == 3 and len({h["Edna-Delivery"] for h, _ in attempts}) == 1
    assert len({b for _, b in attempts}) == 1  # the same event each time

    again = admin.call("POST", f"/api/webhooks/{hook['id']}/deliveries/{logged['id']}/redeliver", expect=(202,))
    assert again["id"] != logged["id"] and again["event_id"] == logged["event_id"] and again["status"] == "pending"
    receiver.wait("/flaky", lambda got: len(got) == 4)
    log = wait_for_log(admin, hook, lambda log: len(log) == 2 and log[0]["status"] == "succeeded")
    assert log[0]["id"] == again["id"] and log[0]["redelivery_of"] == logged["id"] and log[0]["attempts"] == 1
    assert json.loads(receiver.at("/flaky")[3][1])["id"] == logged["event_id"]
    missing = f"/api/webhooks/{hook['id']}/deliveries/{'0' * 26}/redeliver"
    admin.call("POST", missing, expect=(404,))


def test_a_receiver_that_always_fails_is_logged_failed_after_the_last_attempt(hooked, receiver):
    _, admin, dataset_id = hooked
    receiver.scripts["/broken"] = [503] * 10
    hook = subscribe(admin, receiver, "/broken", ["item.available"])
    item = upload(admin, dataset_id, "broken.png")

    def of_this_upload(log: list[dict]) -> list[dict]:  # an earlier test's upload may arrive meanwhile
        return [d for d in log if d["event"]["data"]["item_id"] == item["id"]]

    log = wait_for_log(admin, hook, lambda log: of_this_upload(log) and of_this_upload(log)[0]["status"] == "failed")
    (logged,) = of_this_upload(log)
    assert logged["attempts"] == 4 and logged["response_code"] == 503 and "HTTP 503" in logged["last_error"]
    attempts = [body for _, body in receiver.at("/broken") if json.loads(body)["data"]["item_id"] == item["id"]]
    assert len(attempts) == 4


def test_redirects_are_not_followed(hooked, receiver):
    _, admin, dataset_id = hooked
    receiver.scripts["/redirect"] = [302] * 10
    hook = subscribe(admin, receiver, "/redirect", ["item.available"])
    upload(admin, dataset_id, "redirected.png")
    wait_for_log(admin, hook, lambda log: log and log[0]["status"] == "failed")
    assert deliveries(admin, hook)[0]["response_code"] == 302
    assert receiver.at("/target") == []


def test_a_hanging_or_down_receiver_never_holds_up_or_fails_the_request(hooked, receiver):
    _stack, admin, dataset_id = hooked
    down = admin.call(
        "POST", "/api/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/", "events": ["label.changed"]}
    )
    hanging = subscribe(admin, receiver, "/hang")
    item = upload(admin, dataset_id, "slow.png")
    receiver.release.clear()
    label(admin, dataset_id, item["id"], "cat")
    assert receiver.hanging.wait(DEADLINE)
    # The receiver holds the delivery: the next change is answered all the same, while it still hangs.
    label(admin, dataset_id, item["id"], "dog")
    assert not receiver.release.is_set()
    receiver.release.set()
    log = wait_for_log(admin, down, lambda log: len(log) == 2 and all(d["attempts"] >= 1 for d in log))
    assert all(d["response_code"] is None and "Error" in d["last_error"] for d in log)
    wait_for_log(admin, hanging, lambda log: len(log) == 2)
    for hook in (down, hanging):
        admin.call("DELETE", f"/api/webhooks/{hook['id']}", expect=(204,))


def test_on_aws_deliveries_go_through_sqs_and_the_delivery_function(hooked, receiver, moto_endpoint):
    stack, admin, _ = hooked
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"webhooks-{stack.store}")["QueueUrl"]
    queue = SqsWebhookQueue(url, sqs)
    receiver.scripts["/sqs"] = [500]
    hook = subscribe(admin, receiver, "/sqs", ["item.deleted"])
    registry = stack.edna.webhooks
    notifier = Notifier(registry, queue, cache_seconds=0)
    post = lambda u, body, headers: outbound.post(u, body, headers, frozenset({"127.0.0.1"}), 2.0)  # noqa: E731
    deliverer = Deliverer(registry, post, Backoff(3, 0.2))
    notifier.emit("demo", "item.deleted", {"dataset_id": "d", "item_id": "i"})
    deadline = time.monotonic() + DEADLINE
    # The first attempt answers 500: the function sends the retry back to the queue, and drains it next.
    while len(receiver.at("/sqs")) < 2 and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in received]
        assert sqs_webhooks({"Records": records}, deliverer=deliverer, queue=queue) == {"batchItemFailures": []}
        for m in received:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    attempts = receiver.at("/sqs")
    assert len(attempts) == 2 and verify(hook["secret"], attempts[1][0]["Edna-Signature"], attempts[1][1])
    (logged,) = deliveries(admin, hook)
    assert logged["status"] == "succeeded" and logged["attempts"] == 2
