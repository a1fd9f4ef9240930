"""The demo: tenants, users, sklearn's digits (a few mislabeled on purpose), two classifiers and an
embedding model and a job of each, all through the public API like any client."""

from __future__ import annotations

import io
import json
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from service.adapters.files import write_atomic
from service.adapters.identity.local import LocalUserStore
from service.client import EdnaClient

DEMO_USERS = [  # (user, tenant, role)
    ("alice", "demo", "admin"),
    ("bob", "demo", "labeler"),
    ("victor", "demo", "viewer"),
    ("mallory", "acme", "admin"),
]
DATASET = "digits"
CLASSES = [str(d) for d in range(10)]
SCALE = 8  # the 8x8 digits become 64x64 PNGs
UPLOAD_THREADS = 8
UPLOAD_BATCH = 500  # files per upload batch: two requests for their URLs and their completion, and a progress line
PLANTED = 36  # wrong labels, about 2 % of the 1,797 digits: what the mistake finder should list first
PLANTED_SEED = 1797  # any fixed number: the same digits get the same wrong labels on every machine


def ensure_users(users: LocalUserStore, credentials_file: Path) -> dict[str, str]:
    """Create the demo users once; their passwords are kept (0600) so every run can print them."""
    known = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    for username, tenant, role in DEMO_USERS:
        if users.get(username) is None:
            known[username] = secrets.token_urlsafe(9)
            users.add(username, tenant, role, known[username])
    write_atomic(credentials_file, json.dumps(known, indent=1).encode(), mode=0o600)
    return known


def digit_pngs() -> list[tuple[str, bytes, int]]:
    """(filename, PNG bytes, true class) for each of sklearn's 1,797 digits."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = []
    for n, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        pixels = (image * (255 / 16)).round().astype(np.uint8)
        big = Image.fromarray(pixels, mode="L").resize((8 * SCALE, 8 * SCALE), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        out.append((digit_filename(n), buf.getvalue(), int(target)))
    return out


def digit_filename(n: int) -> str:
    """The demo's name for sklearn's n-th digit."""
    return f"digit-{n:04d}.png"


def planted_mistakes() -> dict[str, str]:
    """filename -> the wrong label the demo gives it: PLANTED digits drawn by a fixed seed over the
    sorted filenames, each labeled with another class drawn by the same generator."""
    from sklearn.datasets import load_digits

    truth = {digit_filename(n): int(target) for n, target in enumerate(load_digits().target)}
    rng = random.Random(PLANTED_SEED)  # noqa: S311 - a reproducible draw, not a secret
    chosen = sorted(rng.sample(sorted(truth), PLANTED))
    # Adding 1-9 modulo 10 gives each of the nine other classes the same chance.
    return {name: CLASSES[(truth[name] + rng.randint(1, len(CLASSES) - 1)) % len(CLASSES)] for name in chosen}


# How the demo's PNGs become the models' input: 64x64 box-averaged back to 8x8, pixel * 16/255 is
# sklearn's 0-16 scale again, flattened to the 64 features the models were trained on.
DIGITS_INPUT = {
    "width": 8,
    "height": 8,
    "channels": 1,
    "scale": 16 / 255,
    "mean": [0.0],
    "std": [1.0],
    "layout": "flat",
    "resample": "box",
}


def digit_models() -> list[tuple[str, bytes]]:
    """(name, ONNX bytes) of a logistic regression and a random forest, trained on every other digit
    so half of the comparison is on images the models never saw."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    features, targets = digits.data[::2].astype("float32"), digits.target[::2]
    built = []
    for name, model in (
        ("digits-logistic-regression", LogisticRegression(max_iter=2000)),
        ("digits-random-forest", RandomForestClassifier(n_estimators=100, random_state=0)),
    ):
        model.fit(features, targets)
        onnx = to_onnx(
            model, initial_types=[("input", FloatTensorType([None, 64]))], options={id(model): {"zipmap": False}}
        )
        built.append((name, onnx.SerializeToString()))
    return built


EMBEDDING_MODEL = "digits-embed"


def digit_embedding_model() -> bytes:
    """An embedding-only model: the digits projected on their first 32 principal components, whose
    ONNX output is named "embedding" (neighbours by cosine mostly share their digit)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    pca = PCA(n_components=32, random_state=0).fit(load_digits().data.astype("float32"))
    onnx = to_onnx(pca, initial_types=[("input", FloatTensorType([None, 64]))])
    produced = onnx.graph.output[0].name
    for node in onnx.graph.node:
        node.output[:] = ["embedding" if name == produced else name for name in node.output]
    onnx.graph.output[0].name = "embedding"
    return onnx.SerializeToString()


def demo_models() -> list[tuple[str, bytes, dict]]:
    """(name, ONNX bytes, spec fields) of every demo model: two classifiers and the embedding model."""
    classifiers = [(name, onnx, {"class_names": CLASSES}) for name, onnx in digit_models()]
    embedding = {"class_names": [], "embedding_output": "embedding"}
    return [*classifiers, (EMBEDDING_MODEL, digit_embedding_model(), embedding)]


def ensure_models(client: EdnaClient, say: Callable[[str], None]) -> dict[str, str]:
    """Register the demo models through the API (spec, signed upload, complete) unless already there;
    their ids by name."""
    existing = {m["name"]: m for m in client.pages("/api/models")}
    ids = {}
    for name, onnx, fields in demo_models():
        model = existing.get(name)
        if model and model["status"] == "available":
            ids[name] = model["id"]
            continue
        if model:  # an interrupted run left it pending: start it again
            client.call("DELETE", f"/api/models/{model['id']}")
        body = {"name": name, "format": "onnx", "input": DIGITS_INPUT, "size": len(onnx), **fields}
        ticket = client.call("POST", "/api/models", json=body)
        parts = client.transfer(ticket["upload"], onnx, "application/octet-stream")
        client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={"parts": parts} if parts else {})
        ids[name] = ticket["model"]["id"]
        say(f"demo: registered model {name!r}")
    return ids


def ensure_jobs(client: EdnaClient, dataset_id: str, model_ids: dict[str, str], say: Callable[[str], None]) -> None:
    """Start one job per demo model over the dataset, unless it has one already; does not wait for them."""
    ran = {(job["dataset_id"], job["model_id"]) for job in client.pages("/api/jobs")}
    for name, model_id in model_ids.items():
        if (dataset_id, model_id) not in ran:
            client.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id})
            use = "its embeddings find similar items" if name == EMBEDDING_MODEL else "its predictions rank mistakes"
            say(f"demo: started a job of {name!r} over {DATASET!r}; {use}")


def label_digits(client: EdnaClient, items_path: str, labels: dict[str, str]) -> list[str]:
    """Give each unlabeled digit its demo label through the bulk label endpoint; the filenames labeled.

    A label already there is kept, so a user's fixes survive the next seeding.
    """
    unlabeled = {
        item["filename"]: item["id"]
        for item in client.pages(items_path)
        if item["filename"] in labels and item["label"] is None
    }
    todo = [{"item_id": item_id, "label": labels[name]} for name, item_id in unlabeled.items()]
    labels_path = items_path.removesuffix("/items") + "/labels"
    for start in range(0, len(todo), 1000):
        results = client.call("POST", labels_path, json={"labels": todo[start : start + 1000]})["results"]
        failed = [r for r in results if r["status"] != 200]
        if failed:
            raise RuntimeError(f"demo: labeling failed for {len(failed)} digits, e.g. {failed[0]}")
    return list(unlabeled)


def seed(base_url: str, users: LocalUserStore, data_dir: Path, say: Callable[[str], None] = print) -> dict:
    """Idempotent: a second run finds everything in place and sends nothing (labels already there are kept)."""
    started = time.monotonic()
    credentials = ensure_users(users, data_dir / "demo-credentials.json")
    client = EdnaClient(base_url)
    client.login("alice", credentials["alice"])
    dataset = next((d for d in client.pages("/api/datasets") if d["name"] == DATASET), None)
    if dataset is None:
        dataset = client.call(
            "POST",
            "/api/datasets",
            json={"name": DATASET, "description": "sklearn's handwritten digits", "label_classes": CLASSES},
        )
    path = f"/api/datasets/{dataset['id']}/items"
    present = set()
    for item in client.pages(path):
        if item["status"] == "available":
            present.add(item["filename"])
        else:  # left pending by an interrupted run: start that file again
            client.call("DELETE", f"{path}/{item['id']}")
    digits = digit_pngs()
    missing = [(name, png) for name, png, _ in digits if name not in present]
    if missing:
        say(f"demo: uploading {len(missing)} digits into dataset {DATASET!r} ...")
    for start in range(0, len(missing), UPLOAD_BATCH):
        chunk = missing[start : start + UPLOAD_BATCH]
        client.upload_many(dataset["id"], [(name, png, "image/png") for name, png in chunk], UPLOAD_THREADS)
        say(f"demo: {start + len(chunk)}/{len(missing)} uploaded")
    planted = planted_mistakes()
    labeled = label_digits(client, path, {name: str(target) for name, _, target in digits} | planted)
    if labeled:
        wrong = sum(name in planted for name in labeled)
        say(f"demo: labeled {len(labeled)} digits with their true class, but {wrong} on purpose with a wrong one")
    ensure_jobs(client, dataset["id"], ensure_models(client, say), say)
    elapsed = time.monotonic() - started
    total = len(present) + len(missing)
    say(f"demo: dataset {DATASET!r} ready ({total} items, {len(missing)} new, {elapsed:.1f} s)")
    for username, tenant, role in DEMO_USERS:
        password = credentials.get(username, "(kept)")
        say(f"demo: user {username:8} tenant {tenant:5} role {role:8} password {password}")
    return {"dataset_id": dataset["id"], "uploaded": len(missing), "seconds": elapsed}
