"""Test support for the engine: an in-memory Storage, an injected crash, digits as PNG items, skl2onnx models."""

from __future__ import annotations

import functools
import io
import json
import threading

import numpy as np
from PIL import Image

ITEMS = "data/items/"
OUT = "jobs/j1/"
MODEL = "models/m/model.onnx"

DIGITS_SPEC = {
    "format": "onnx",
    "class_names": [str(i) for i in range(10)],
    "input": {
        "width": 8,
        "height": 8,
        "channels": 1,
        "scale": 16 / 255,
        "mean": [0.0],
        "std": [1.0],
        "layout": "flat",
        "resample": "box",
    },
}


def job(**overrides):
    """Job parameters over the test storage's items and model; keyword arguments override the defaults."""
    from edna_engine.params import JobParams

    base = {"job_id": "j1", "items_prefix": ITEMS, "model_key": MODEL, "output_prefix": OUT, "batch_size": 16}
    return JobParams.from_dict({**base, **overrides})


class MemoryStorage:
    """A dict behind the engine's Storage protocol; `labels` holds each item's ground truth."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.labels: dict[str, str] = {}
        self.puts: list[str] = []
        self._lock = threading.Lock()

    def list_page(self, prefix, start_after=None, token=None, limit=1000):
        after = token or start_after
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(prefix) and (after is None or k > after))
        page = keys[:limit]
        return page, (page[-1] if len(keys) > limit else None)

    def get(self, key):
        with self._lock:
            return self.objects[key]

    def put(self, key, data):
        with self._lock:
            self.objects[key] = bytes(data)
            self.puts.append(key)

    def exists(self, key):
        with self._lock:
            return key in self.objects

    def label(self, key):
        return self.labels.get(key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def lines(self, prefix: str) -> list[dict]:
        """Every prediction line of every part under `prefix`, parts in name order."""
        return [json.loads(line) for k in self.keys(prefix) for line in self.objects[k].splitlines()]


class Crash(Exception):
    """The injected failure."""


class CrashingStorage:
    """Delegates to a storage but raises on the n-th put whose key contains `marker`."""

    def __init__(self, inner, n: int, marker: str = "/parts/"):
        self.inner, self.n, self.marker, self.seen = inner, n, marker, 0

    def put(self, key, data):
        if self.marker in key:
            self.seen += 1
            if self.seen == self.n:
                raise Crash(f"injected crash on {key}")
        self.inner.put(key, data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def digit_png(image: np.ndarray) -> bytes:
    """The demo's format: an 8x8 digit (0-16) as a 64x64 grayscale PNG, upscaled x8 nearest, pixel = round(v·255/16)."""
    pixels = np.rint(image * 255 / 16).astype(np.uint8)
    big = np.kron(pixels, np.ones((8, 8), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(big, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def digit_items(count: int, prefix: str = "data/items/") -> list[tuple[str, bytes, str]]:
    """(key, PNG bytes, label) for the first `count` digits, keys as the service lays items out."""
    images, targets = digits()
    return [(f"{prefix}{i:05d}/digit.png", digit_png(images[i]), str(targets[i])) for i in range(count)]


@functools.cache
def digits_model(kind: str = "logistic") -> bytes:
    """A skl2onnx model trained on sklearn's digits (64 features, 0-16): "logistic" or "forest"."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    images, targets = digits()
    x = images.reshape(len(images), -1).astype(np.float32)
    if kind == "logistic":
        model = LogisticRegression(max_iter=2000)
    else:
        model = RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0)
    with threadpool_limits(1):  # BLAS threads fighting over two busy cores turn 0.1 s into 15 s
        model.fit(x, targets)
    onx = to_onnx(model, initial_types=[("input", FloatTensorType([None, 64]))], options={id(model): {"zipmap": False}})
    return onx.SerializeToString()


def seeded_storage(count: int = 120) -> MemoryStorage:
    """`count` digits and the logistic-regression model in a fresh MemoryStorage."""
    store = MemoryStorage()
    seed(store, digit_items(count, ITEMS), digits_model("logistic"), MODEL)
    return store


def seed(
    storage,
    items: list[tuple[str, bytes, str]],
    model: bytes,
    model_key: str = "models/m/model.onnx",
    spec: dict | None = None,
) -> None:
    """Put items, their labels, the model and its model.json into `storage`."""
    for key, data, label in items:
        storage.put(key, data)
        if hasattr(storage, "labels"):
            storage.labels[key] = label
    storage.put(model_key, model)
    storage.put(model_key.rsplit("/", 1)[0] + "/model.json", json.dumps(spec or DIGITS_SPEC).encode())
