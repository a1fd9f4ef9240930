"""validate_model, model.json checks, job parameters, and the model's scores."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
from edna_engine.model import Model, is_out_of_memory
from edna_engine.model_check import validate_model
from edna_engine.params import JobParams
from edna_engine.spec import parse_spec, spec_errors
from onnx import TensorProto, helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from tests.engine.digits import DIGITS_SPEC, digits_model


def with_input(**changes) -> dict:
    spec = copy.deepcopy(DIGITS_SPEC)
    spec["input"].update(changes)
    return spec


def linear_model(features: int, classes: int, output_name: str = "logits") -> bytes:
    """[N, features] @ W → [N, classes], built with onnx.helper."""
    weights = np.arange(features * classes, dtype=np.float32).reshape(features, classes) / 100
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], [output_name])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", classes])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.flatten())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("kind", ["logistic", "forest"])
def test_accepts_good_skl2onnx_models(kind):
    assert validate_model(digits_model(kind), DIGITS_SPEC) == []


def test_names_a_wrong_class_count():
    spec = {**DIGITS_SPEC, "class_names": ["a", "b", "c"]}
    errors = validate_model(digits_model("logistic"), spec)
    assert len(errors) == 1
    assert "no float output of shape [N, 3]" in errors[0] and "'probabilities' tensor(float) [N, 10]" in errors[0]


def test_names_a_wrong_input_size():
    errors = validate_model(digits_model("forest"), with_input(width=10, height=10))
    assert len(errors) == 1
    assert "input 'input' tensor(float) [N, 64]" in errors[0] and "[N, 100]" in errors[0] and "10x10" in errors[0]


def test_names_a_layout_of_the_wrong_rank():
    errors = validate_model(digits_model("logistic"), with_input(layout="nchw"))
    assert errors == ["the model's input 'input' tensor(float) [N, 64] does not fit the nchw layout's [N, 1, 8, 8]"]


def test_names_a_missing_named_output():
    errors = validate_model(digits_model("logistic"), {**DIGITS_SPEC, "output": {"name": "scores", "kind": "logits"}})
    assert len(errors) == 1 and "'scores' is not among the model's outputs" in errors[0]


def test_reports_spec_problems_and_unloadable_models():
    errors = validate_model(b"not onnx", with_input(channels=2, layout="chw"))
    assert "input.channels must be 1 or 3" in errors
    assert any(e.startswith("input.layout must be one of flat, nchw, nhwc") for e in errors)
    assert any(e.startswith("this is not a readable ONNX model") for e in errors)


def test_spec_errors_name_each_field():
    bad = {
        "format": "tflite",
        "class_names": ["x", "x"],
        "input": {
            "width": 0,
            "height": 8,
            "channels": 3,
            "scale": 0,
            "mean": [0],
            "std": [1, 0, 1],
            "layout": "flat",
            "resample": "lanczos",
        },
        "output": {"kind": "odds"},
    }
    errors = spec_errors(bad)
    for needle in (
        "format",
        "class_names must not repeat",
        "input.width",
        "input.scale",
        "input.mean must have 3",
        "input.std must not contain 0",
        "input.resample",
        "output.kind",
    ):
        assert any(needle in e for e in errors), needle
    with pytest.raises(ValueError, match=r"invalid model\.json"):
        parse_spec(bad)


def test_logits_go_through_softmax_and_named_outputs_are_used():
    spec = {
        "class_names": ["a", "b", "c"],
        "output": {"name": "logits", "kind": "logits"},
        "input": {
            "width": 2,
            "height": 2,
            "channels": 1,
            "scale": 1.0,
            "mean": [0],
            "std": [1],
            "layout": "flat",
            "resample": "nearest",
        },
    }
    data = linear_model(4, 3)
    assert validate_model(data, spec) == []
    model = Model(data, parse_spec(spec))
    x = np.array([[1, 2, 3, 4], [4, 3, 2, 1]], dtype=np.float32)
    got = model.predict(x)
    logits = x @ (np.arange(12, dtype=np.float32).reshape(4, 3) / 100)
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(got.best, soft.argmax(axis=1))
    np.testing.assert_allclose(got.score, soft.max(axis=1), rtol=1e-5)
    ordered = np.sort(soft, axis=1)[:, ::-1]
    np.testing.assert_allclose(got.margin, ordered[:, 0] - ordered[:, 1], atol=1e-6)
    np.testing.assert_array_equal(got.top, np.argsort(-soft, axis=1))
    np.testing.assert_allclose(got.top_scores, ordered, rtol=1e-5)


def test_model_refuses_a_spec_that_does_not_fit():
    with pytest.raises(ValueError, match=r"does not fit its model\.json"):
        Model(digits_model("logistic"), parse_spec(with_input(width=4)))


def test_out_of_memory_detection():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(ort_state.RuntimeException("Failed to allocate memory for requested buffer of size 8"))
    assert not is_out_of_memory(ort_state.InvalidArgument("Got invalid dimensions for input"))
    assert not is_out_of_memory(RuntimeError("allocation"))


def test_job_params_round_trip_and_defaults():
    d = {"job_id": "j", "items_prefix": "a/items/", "model_key": "m/model.onnx", "output_prefix": "jobs/j/"}
    params = JobParams.from_dict({**d, "unrelated": 1})
    assert params.to_dict() == {**d, "batch_size": 64, "max_memory_mb": 256, "shards": 1, "model_sha256": ""}
    assert JobParams.from_dict(params.to_dict()) == params
    assert params.model_spec_key == "m/model.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items_prefix": "a/items"}, "items_prefix must end with '/'"),
        ({"output_prefix": "jobs/j"}, "output_prefix must end with '/'"),
        ({"batch_size": 0}, "batch_size must be between 1 and 4096"),
        ({"batch_size": 4097}, "batch_size must be between 1 and 4096"),
        ({"shards": 65}, "shards must be between 1 and 64"),
        ({"max_memory_mb": 15}, "max_memory_mb must be between 16 and 4096"),
        ({"batch_size": "8"}, "batch_size must be an integer"),
        ({"shards": True}, "shards must be an integer"),
        ({"job_id": None}, "missing job_id"),
        ({"output_prefix": "a/items/out/"}, "must not contain one another"),
        ({"model_key": "m/"}, "model_key must name a file"),
    ],
)
def test_job_params_validation(change, message):
    d = {"job_id": "j", "items_prefix": "a/items/", "model_key": "m/model.onnx", "output_prefix": "jobs/j/", **change}
    with pytest.raises(ValueError, match=message):
        JobParams.from_dict(d)


def _as_ort(args) -> list[tuple]:
    return [(a.name, a.type, tuple(a.shape)) for a in args]


@pytest.mark.parametrize("kind", ["logistic", "forest", "linear", "ir3"])
def test_signature_reads_what_onnxruntime_reads(kind):
    from edna_engine.model import new_session
    from edna_engine.onnx_signature import read_signature

    if kind == "linear":
        data = linear_model(4, 3)
    elif kind == "ir3":  # before IR 4, initializers were listed among the graph's inputs too
        model = onnx.load_from_string(linear_model(4, 3))
        model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 3]))
        data = model.SerializeToString()
    else:
        data = digits_model(kind)
    session = new_session(data)
    signature = read_signature(data)
    assert _as_ort(signature.inputs) == _as_ort(session.get_inputs())
    assert _as_ort(signature.outputs) == _as_ort(session.get_outputs())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "it has no graph"),
        (b"\x07", "field number 0"),
        (b"\x3a\x05ab", "truncated"),
        (b"\x3a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "truncated or not protobuf"),
        (b"\x0f", "wire type 7"),
    ],
)
def test_signature_refuses_what_is_not_onnx(data, reason):
    from edna_engine.onnx_signature import NotOnnx, read_signature

    with pytest.raises(NotOnnx, match=reason):
        read_signature(data)


def test_a_truncated_model_is_refused_with_a_reason():
    errors = validate_model(digits_model("logistic")[:-7], DIGITS_SPEC)
    assert len(errors) == 1 and errors[0].startswith("this is not a readable ONNX model: it is truncated")
