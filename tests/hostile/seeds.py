"""Real ids for hostile tests: a tenant with a dataset, an uploaded item, models, a finished comparison."""

from __future__ import annotations

import dataclasses
import functools
import time

from service.client import EdnaClient
from service.demo import CLASSES, DIGITS_INPUT, digit_embedding_model
from service.vocabulary.ids import new_id

PNG = b"\x89PNG\r\n\x1a\nnot-really-an-image"
JOB_DEADLINE = 120  # seconds a seeded comparison may take before the fixture gives up


@functools.cache
def tiny_onnx() -> bytes:
    """A digits classifier as small and fast to train as sklearn allows (the demo's take seconds)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    model = LogisticRegression(max_iter=200).fit(digits.data[::8].astype("float32"), digits.target[::8])
    onnx = to_onnx(
        model, initial_types=[("input", FloatTensorType([None, 64]))], options={id(model): {"zipmap": False}}
    )
    return onnx.SerializeToString()


def register_model(client: EdnaClient, name: str, onnx: bytes | None = None, **spec) -> str:
    """An available model: registered, its ONNX uploaded to the signed URL, completed."""
    onnx = onnx or tiny_onnx()
    body = {"name": name, "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx), **spec}
    ticket = client.call("POST", "/api/models", json=body)
    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    return client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={})["id"]


@dataclasses.dataclass
class Seeded:
    """One of everything in a tenant, recreated on demand after a generated DELETE removed it."""

    client: EdnaClient
    users: object  # the stack's local user store
    dataset_id: str = ""
    item_id: str = ""
    model_id: str = ""
    job_id: str = ""
    comparison_id: str = ""
    query_id: str = ""
    # No pass can run without a dataset's vectors: an id no pass has, answered 404 like any unknown one.
    run_id: str = dataclasses.field(default_factory=new_id)
    snapshot_id: str = ""
    account_id: str = ""
    # Registering needs a URL an operator allowed: ids no webhook or delivery has, answered 404 likewise.
    webhook_id: str = dataclasses.field(default_factory=new_id)
    delivery_id: str = dataclasses.field(default_factory=new_id)
    username: str = "bob"
    serial: int = 0

    def ids(self) -> dict[str, str]:
        return {
            "dataset_id": self.dataset_id,
            "item_id": self.item_id,
            "model_id": self.model_id,
            "job_id": self.job_id,
            "comparison_id": self.comparison_id,
            "query_id": self.query_id,
            "run_id": self.run_id,
            "snapshot_id": self.snapshot_id,
            "account_id": self.account_id,
            "webhook_id": self.webhook_id,
            "delivery_id": self.delivery_id,
            "username": self.username,
        }

    def _name(self, what: str) -> str:
        self.serial += 1
        return f"seed-{what}-{self.serial}"

    def new_dataset(self) -> None:
        body = {"name": self._name("dataset"), "label_classes": ["cat", "dog"]}
        self.dataset_id = self.client.call("POST", "/api/datasets", json=body)["id"]
        self.new_item()

    def new_item(self) -> None:
        self.item_id = self.client.upload(self.dataset_id, "cat.png", PNG, "image/png")["id"]

    def new_model(self) -> None:
        self.model_id = register_model(self.client, self._name("model"))

    def new_query(self) -> None:
        """A "find similar" query of an embedding model, awaiting its image."""
        embedder = register_model(
            self.client, self._name("embedder"), digit_embedding_model(), class_names=[], embedding_output="embedding"
        )
        body = {"model_id": embedder, "filename": "q.png", "content_type": "image/png", "size": len(PNG)}
        self.query_id = self.client.call("POST", "/api/similar", json=body)["id"]

    def new_snapshot(self) -> None:
        self.snapshot_id = self.client.call("POST", f"/api/datasets/{self.dataset_id}/snapshots", json={})["id"]

    def new_application(self) -> None:
        body = {"name": self._name("app"), "role": "viewer"}
        self.account_id = self.client.call("POST", "/api/service-accounts", json=body)["id"]

    def new_member(self) -> None:
        if self.users.get(self.username) is None:
            self.users.add(self.username, "demo", "labeler", "bob-password")

    def everything(self) -> Seeded:
        self.new_dataset()
        self.new_snapshot()
        self.new_application()
        self.new_model()
        self.new_member()
        self.new_query()
        other = register_model(self.client, self._name("model"))
        comparison = self.client.call(
            "POST", "/api/comparisons", json={"dataset_id": self.dataset_id, "model_ids": [self.model_id, other]}
        )
        self.comparison_id, self.job_id = comparison["id"], comparison["job_ids"][0]
        deadline = time.monotonic() + JOB_DEADLINE
        while self.client.call("GET", f"/api/comparisons/{self.comparison_id}")["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the seeded comparison did not finish"
            time.sleep(0.1)
        return self

    def restore(self, method: str, template: str, status: int) -> None:
        """After a DELETE that succeeded on a real id, make that resource again."""
        if method != "DELETE" or status != 204:
            return
        if template.endswith("{item_id}"):
            self.new_item()
        elif template.endswith("{snapshot_id}"):
            self.new_snapshot()
        elif template.endswith("{account_id}"):
            self.new_application()
        elif template.endswith("{dataset_id}"):
            self.new_dataset()
            self.new_snapshot()
        elif template.endswith("{model_id}"):
            self.new_model()
        elif template.endswith("{username}"):
            self.new_member()
