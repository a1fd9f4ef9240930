"""The demo's embedding model: a valid embedding-only model whose neighbours mostly share their digit."""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
from edna_engine.model_check import declared_embedding_dims, validate_model
from sklearn.datasets import load_digits

from service.demo import DIGITS_INPUT, EMBEDDING_MODEL, digit_embedding_model, ensure_jobs
from tests.unit.test_demo_planted import FakeClient

SPEC = {"format": "onnx", "class_names": [], "embedding_output": "embedding", "input": DIGITS_INPUT}


@functools.cache
def model() -> bytes:
    return digit_embedding_model()


def test_it_is_an_embedding_only_model_of_32_dims():
    assert validate_model(model(), SPEC) == []
    assert declared_embedding_dims(model(), SPEC) == 32


def test_the_nearest_neighbours_of_a_digit_mostly_share_its_label():
    digits = load_digits()
    # The digits as the engine sees the demo's PNGs: pixel = round(v·255/16), then scaled back by 16/255.
    x = (np.rint(digits.data * 255 / 16) * (16 / 255)).astype(np.float32)
    session = ort.InferenceSession(model(), providers=["CPUExecutionProvider"])
    (vectors,) = session.run(["embedding"], {session.get_inputs()[0].name: x})
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -2.0)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :8]
    assert (digits.target[nearest] == digits.target[:, None]).mean() >= 0.8


def test_its_job_starts_with_the_others():
    client, said = FakeClient({}), []
    ensure_jobs(client, "d", {"lr": "m1", EMBEDDING_MODEL: "m3"}, said.append)
    assert [body["model_id"] for _, _, body in client.sent] == ["m1", "m3"]
    assert "embeddings" in said[1]
