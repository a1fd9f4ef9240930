"""The ONNX model: one onnxruntime session, its input and output matched against model.json."""

from __future__ import annotations

import hashlib
import tempfile
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from edna_engine.model_check import check_outputs, embedding_dims, input_errors
from edna_engine.onnx_signature import refuse_external_data
from edna_engine.spec import Spec

# Every error onnxruntime raises (Fail, InvalidArgument, InvalidProtobuf, RuntimeException, ...).
ORT_ERRORS = tuple(v for v in vars(_ort_state).values() if isinstance(v, type) and issubclass(v, Exception))
# Every class of a small label set, which the mistake finder needs; bounded for big ones.
TOP_K = 10


def is_out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or onnxruntime failing to allocate a buffer (which it raises as its own error)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, ORT_ERRORS) and ("alloc" in text or "out of memory" in text)


class ModelChanged(ValueError):
    """The model's bytes are not the ones the service checked at `complete`."""


def verify_model(model_bytes: bytes, sha256: str) -> None:
    """Raise ModelChanged unless the bytes hash to `sha256` (empty: a record from before checksums)."""
    if sha256 and hashlib.sha256(model_bytes).hexdigest() != sha256:
        raise ModelChanged("the model file changed after it was checked; register it again")


def new_session(model_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU, quiet unless something is wrong; models with external data are refused."""
    # Checked again here, not only at `complete`: workers (MWAA) load whatever bytes storage holds now.
    refuse_external_data(model_bytes)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle onnxruntime threads spin by default, taking the CPU that the decoding threads need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.load_model_format", "ONNX")
    with tempfile.TemporaryDirectory(prefix="edna-no-external-data-") as empty:
        # A second lock: external data, if any got past the reader, resolves in an empty directory.
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", empty)
        return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


class Predictions(NamedTuple):
    """One batch's predictions, row by row; `top` holds the k most probable classes, best first."""

    best: np.ndarray  # (n,) the most probable class's index
    score: np.ndarray  # (n,) its probability
    margin: np.ndarray  # (n,) its lead over the runner-up (the score itself when there is one class)
    top: np.ndarray  # (n, k) class indices by descending probability, ties in class order
    top_scores: np.ndarray  # (n, k) their probabilities


def rank_classes(probabilities: np.ndarray, k: int = TOP_K) -> Predictions:
    """Best class, score, margin and top-k of each row of an (n, classes) probability matrix."""
    k = min(k, probabilities.shape[1])
    # A stable sort of the negated rows keeps equal probabilities in class order, as argmax does.
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    top_scores = np.take_along_axis(probabilities, top, axis=1)
    runner_up = top_scores[:, 1] if k > 1 else np.zeros(len(top_scores), dtype=top_scores.dtype)
    margin = top_scores[:, 0].astype(np.float64) - runner_up  # float32 would round it before our 6 digits do
    return Predictions(top[:, 0], top_scores[:, 0], margin, top, top_scores)


class Model:
    """A loaded model that turns a preprocessed batch into class probabilities and their summary, and
    into embeddings when its spec names an embedding output."""

    def __init__(self, model_bytes: bytes, spec: Spec):
        self.spec = spec
        self.session = new_session(model_bytes)
        self.output_name, errors = check_outputs(self.session.get_outputs(), spec)
        errors = input_errors(self.session.get_inputs(), spec) + errors
        if errors:
            raise ValueError("the model does not fit its model.json: " + "; ".join(errors))
        self.input_name = self.session.get_inputs()[0].name
        self.outputs = [name for name in (self.output_name, spec.embedding_output) if name is not None]
        self.embedding_dims = embedding_dims(self.session.get_outputs(), spec) if spec.embedding_output else None
        if spec.embedding_output is not None and self.embedding_dims is None:
            # Undeclared in the graph: one blank item tells, so that every vector part (even one whose
            # items all failed) has the same width, on a first run as on a resumed one.
            self.embedding_dims = self.run(np.zeros((1, *spec.item_shape), dtype=np.float32))[1].shape[1]

    def run(self, batch: np.ndarray) -> tuple[Predictions | None, np.ndarray | None]:
        """One session run: the predictions (None without classes) and the embeddings (None without)."""
        results = dict(zip(self.outputs, self.session.run(self.outputs, {self.input_name: batch}), strict=True))
        embeddings = None
        if self.spec.embedding_output is not None:
            embeddings = np.asarray(results[self.spec.embedding_output], dtype=np.float32)
            dims = self.embedding_dims  # None only while __init__ finds it out
            width = embeddings.shape[1] if embeddings.ndim == 2 else 0
            if embeddings.ndim != 2 or len(embeddings) != len(batch) or width < 1 or width != (dims or width):
                raise ValueError(
                    f"the embedding output has shape {embeddings.shape}; expected ({len(batch)}, {dims or 'D'})"
                )
        if self.output_name is None:
            return None, embeddings
        return self._rank(results[self.output_name], len(batch)), embeddings

    def predict(self, batch: np.ndarray) -> Predictions:
        """Each row's best class, score, margin and top classes; logits go through a softmax first."""
        return self.run(batch)[0]

    def _rank(self, scores, rows: int) -> Predictions:
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape != (rows, len(self.spec.class_names)):
            raise ValueError(
                f"the model returned shape {scores.shape}; expected ({rows}, {len(self.spec.class_names)})"
            )
        if self.spec.output_kind == "logits":
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        return rank_classes(scores)
