"""Untrusted models: external data is refused by the reader and again by the engine; jobs load only
the bytes that were checked; job errors never carry tensor values."""

from __future__ import annotations

import hashlib
import mmap

import numpy as np
import onnx
import onnxruntime
import pytest
from edna_engine import pipeline
from edna_engine.errors import MAX_PUBLIC_ERROR, public_error
from edna_engine.model import ORT_ERRORS, ModelChanged, new_session, verify_model
from edna_engine.model_check import validate_model
from edna_engine.onnx_signature import MAX_GRAPH_DEPTH, ExternalData, NotOnnx, refuse_external_data
from onnx import TensorProto, helper, numpy_helper

from tests.engine.digits import DIGITS_SPEC, MODEL, OUT, digits_model, job, seeded_storage
from tests.engine.hostile_models import external, external_in, leaking_model

PLACES = ["initializer", "sparse_initializer", "constant", "if", "loop", "function"]
SECRET = b'{"user": "admin", "password": "hunter2-very-secret"}'


@pytest.mark.parametrize("where", PLACES)
def test_external_data_is_refused_wherever_it_hides(where):
    data = external_in(where)
    assert onnx.load_from_string(data).graph.output[0].name == "y"  # a well-formed model, not a parser trick
    with pytest.raises(ExternalData, match="tensor 'stolen' stores its data outside the model file"):
        refuse_external_data(data)
    assert validate_model(data, DIGITS_SPEC) == [
        "tensor 'stolen' stores its data outside the model file (external data), which Edna does not load"
    ]


def test_a_location_without_the_external_flag_is_refused_too():
    tensor = external(numpy_helper.from_array(np.zeros(4, np.float32), "w"), "keys/issuer.pem")
    tensor.data_location = TensorProto.DEFAULT
    model = onnx.load_from_string(digits_model("logistic"))
    model.graph.initializer.append(tensor)
    with pytest.raises(ExternalData, match="'w'"):
        refuse_external_data(model.SerializeToString())


@pytest.mark.parametrize("location", [b"\x70\x07", b"\x72\x01\x01"], ids=["unknown-value", "length-delimited"])
def test_odd_data_locations_are_refused(location):
    tensor = numpy_helper.from_array(np.zeros(4, np.float32), "w").SerializeToString() + location
    # A second graph field: protobuf readers (onnxruntime's too) merge it into the first.
    data = digits_model("logistic") + _length_delimited(7, _length_delimited(5, tensor))
    with pytest.raises(ExternalData, match="'w'"):
        refuse_external_data(data)


@pytest.mark.parametrize("kind", ["logistic", "forest"])
def test_skl2onnx_models_pass(kind):
    refuse_external_data(digits_model(kind))
    assert validate_model(digits_model(kind), DIGITS_SPEC) == []


def test_the_reader_works_over_an_mmap_without_copying(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(digits_model("logistic"))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert validate_model(mapped, DIGITS_SPEC) == []
    path.write_bytes(external_in("loop"))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert "external data" in validate_model(mapped, DIGITS_SPEC)[0]  # and the mmap closes: no view is left


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_subgraph_nesting_is_bounded():
    # Built by hand: the protobuf library itself refuses to write this deep (100 nested messages).
    graph = b""
    for _ in range(MAX_GRAPH_DEPTH + 2):  # GraphProto.node (1) → NodeProto.attribute (5) → AttributeProto.g (6)
        graph = _length_delimited(1, _length_delimited(5, _length_delimited(6, graph)))
    with pytest.raises(NotOnnx, match="nest deeper"):
        refuse_external_data(_length_delimited(7, graph))


def test_the_engine_refuses_external_data_before_onnxruntime_loads_it(tmp_path, monkeypatch):
    (tmp_path / "creds.json").write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)  # where onnxruntime would resolve the location
    loaded = []
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: loaded.append(a))
    with pytest.raises(ExternalData):
        new_session(leaking_model("creds.json"))
    assert loaded == []


def test_onnxruntime_itself_resolves_external_data_only_in_an_empty_directory(tmp_path, monkeypatch):
    from edna_engine import model

    (tmp_path / "creds.json").write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(model, "refuse_external_data", lambda data: None)  # as if the reader missed it
    with pytest.raises(model.ORT_ERRORS) as err:
        session = new_session(leaking_model("creds.json"))
        session.run(None, {"x": np.zeros((1, 64), np.float32)})
    assert "External data path does not exist" in str(err.value)
    assert str(tmp_path) not in str(err.value)


def test_a_job_over_an_external_data_model_fails_with_the_reason_only(tmp_path, monkeypatch):
    (tmp_path / "creds.json").write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)
    storage = seeded_storage(8)
    storage.put(MODEL, leaking_model("creds.json"))
    params = job()
    for shard in pipeline.plan(storage, params):
        with pytest.raises(ExternalData) as err:
            pipeline.infer_shard(storage, params, shard)
        pipeline.fail(storage, params, err.value)
    status = pipeline.read_status(storage, OUT)
    assert status["status"] == "failed"
    assert status["error"].startswith("ExternalData: tensor 'secret' stores its data outside the model file")


def test_a_job_loads_only_the_bytes_that_were_checked():
    storage = seeded_storage(8)
    checked = hashlib.sha256(storage.get(MODEL)).hexdigest()
    storage.put(MODEL, digits_model("forest"))  # swapped after the check
    params = job(model_sha256=checked)
    for shard in pipeline.plan(storage, params):
        with pytest.raises(ModelChanged, match="the model file changed after it was checked; register it again"):
            pipeline.infer_shard(storage, params, shard)


def test_the_checksum_matches_the_bytes_or_is_absent():
    data = digits_model("logistic")
    verify_model(data, hashlib.sha256(data).hexdigest())
    verify_model(data, "")  # records from before checksums: the engine's external-data refusal still runs
    with pytest.raises(ValueError, match="model_sha256 must be 64 lowercase hex digits"):
        job(model_sha256="abc")


def _reshape_error(values: bytes) -> Exception:
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    data = numpy_helper.from_array(np.frombuffer(values, np.uint8), "data")
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Cast", ["nothing"], ["offset"], to=TensorProto.INT64),
        helper.make_node("Cast", ["data"], ["bytes"], to=TensorProto.INT64),
        helper.make_node("Add", ["bytes", "offset"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [zero, data],
    )
    session = new_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(ORT_ERRORS) as err:
        session.run(None, {"x": np.zeros((1, 64), np.float32)})
    return err.value


def test_public_error_strips_tensor_values_from_a_real_onnxruntime_error():
    error = _reshape_error(SECRET[:24])
    full = str(error)
    assert ",".join(str(b) for b in SECRET[:24]) in full  # onnxruntime lists the values
    assert public_error(error) == (
        "Fail: [ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node. "
        "Name:'' Status Message: The requested shape has too many elements. Input shape:{…}, requested shape:{…}"
    )


@pytest.mark.parametrize(
    ("error", "public"),
    [
        (ValueError("bad shape [3, 4, 5, 6]"), "ValueError: bad shape […]"),
        (RuntimeError("values 12, 13, 14, 15 were seen"), "RuntimeError: values … were seen"),
        (RuntimeError("a value of 8367799640287310704"), "RuntimeError: a value of …"),
        (ValueError("x\x00y\nz"), "ValueError: x?y z"),
        (MemoryError(), "MemoryError"),
    ],
)
def test_public_error_keeps_the_type_and_the_reason(error, public):
    assert public_error(error) == public


def test_public_error_is_capped():
    assert len(public_error(ValueError("why " * 500))) == MAX_PUBLIC_ERROR
