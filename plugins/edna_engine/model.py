"""The ONNX model: one onnxruntime session, its input and output matched against model.json."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from edna_engine.spec import Spec, parse_spec, spec_errors

# Every error onnxruntime raises (Fail, InvalidArgument, InvalidProtobuf, RuntimeException, ...).
ORT_ERRORS = tuple(v for v in vars(_ort_state).values() if isinstance(v, type) and issubclass(v, Exception))


def is_out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or onnxruntime failing to allocate a buffer (which it raises as its own error)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, ORT_ERRORS) and ("alloc" in text or "out of memory" in text)


def new_session(model_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on the CPU, quiet unless something is wrong."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle onnxruntime threads spin by default, taking the CPU that the decoding threads need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def _describe(arg) -> str:
    dims = ", ".join("N" if not isinstance(d, int) else str(d) for d in arg.shape)
    return f"'{arg.name}' {arg.type} [{dims}]"


def input_errors(session: ort.InferenceSession, spec: Spec) -> list[str]:
    """Why the model's input cannot take the preprocessed batch; empty when it can."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        described = ", ".join(_describe(i) for i in inputs) or "none"
        return [f"the model must have exactly one input; it has {len(inputs)} ({described})"]
    arg = inputs[0]
    expected = (None, *spec.item_shape)
    wanted = f"[N, {', '.join(str(d) for d in spec.item_shape)}]"
    errors = []
    if arg.type != "tensor(float)":
        errors.append(f"the model's input must be tensor(float); it is {_describe(arg)}")
    if len(arg.shape) != len(expected):
        errors.append(f"the model's input {_describe(arg)} does not fit the {spec.layout} layout's {wanted}")
        return errors
    if isinstance(arg.shape[0], int):
        errors.append(f"the model's input {_describe(arg)} has a fixed batch size; export it with a dynamic one")
    if any(isinstance(got, int) and got != want for got, want in zip(arg.shape[1:], expected[1:], strict=True)):
        errors.append(
            f"the model's input {_describe(arg)} does not fit the preprocessed items {wanted} "
            f"({spec.width}x{spec.height}, {spec.channels} channel(s), {spec.layout} layout)"
        )
    return errors


def pick_output(session: ort.InferenceSession, spec: Spec) -> tuple[str | None, list[str]]:
    """The output holding one score per class: the named one, else the first float [N, classes] output."""
    outputs = session.get_outputs()
    n = len(spec.class_names)
    described = ", ".join(_describe(o) for o in outputs)

    def fits(o) -> bool:
        last = o.shape[-1] if o.shape else None
        return o.type == "tensor(float)" and len(o.shape) == 2 and (last == n or not isinstance(last, int))

    if spec.output_name is not None:
        named = [o for o in outputs if o.name == spec.output_name]
        if not named:
            return None, [f"output {spec.output_name!r} is not among the model's outputs ({described})"]
        if not fits(named[0]):
            return None, [f"output {_describe(named[0])} must be float [N, {n}], one score per class ({n} classes)"]
        return spec.output_name, []
    for o in outputs:
        if o.type == "tensor(float)" and len(o.shape) == 2 and o.shape[-1] == n:
            return o.name, []
    wanted = f"no float output of shape [N, {n}] (one score per class; model.json lists {n})"
    return None, [f"{wanted}; outputs: {described}"]


class Model:
    """A loaded model that turns a preprocessed batch into class indices and scores."""

    def __init__(self, model_bytes: bytes, spec: Spec):
        self.spec = spec
        self.session = new_session(model_bytes)
        self.output_name, errors = pick_output(self.session, spec)
        errors = input_errors(self.session, spec) + errors
        if errors:
            raise ValueError("the model does not fit its model.json: " + "; ".join(errors))
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class index, score) per row; logits go through a softmax first."""
        scores = self.session.run([self.output_name], {self.input_name: batch})[0]
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape != (len(batch), len(self.spec.class_names)):
            raise ValueError(
                f"the model returned shape {scores.shape}; expected ({len(batch)}, {len(self.spec.class_names)})"
            )
        if self.spec.output_kind == "logits":
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        best = scores.argmax(axis=1)
        return best, scores[np.arange(len(best)), best]


def validate_model(model_bytes: bytes, spec: dict) -> list[str]:
    """Everything that keeps this model and model.json from running together; empty when they fit."""
    errors = spec_errors(spec)
    try:
        session = new_session(model_bytes)
    except ORT_ERRORS as e:
        return [*errors, f"onnxruntime cannot load the model: {e}"]
    if errors:
        return errors
    parsed = parse_spec(spec)
    output, output_errors = pick_output(session, parsed)
    errors = input_errors(session, parsed) + output_errors
    if errors:
        return errors
    # A trial batch of two catches what the declared shapes do not say (dims fixed inside the graph...).
    trial = np.zeros((2, *parsed.item_shape), dtype=np.float32)
    try:
        result = session.run([output], {session.get_inputs()[0].name: trial})[0]
    except ORT_ERRORS as e:
        return [f"the model fails on a batch of two preprocessed items: {e}"]
    if np.shape(result) != (2, len(parsed.class_names)):
        n = len(parsed.class_names)
        return [f"output {output!r} gives shape {np.shape(result)} for two items; expected (2, {n}), one per class"]
    return []
