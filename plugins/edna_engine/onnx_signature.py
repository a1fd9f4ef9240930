"""An ONNX model's inputs and outputs, and its external-data refusal, read from its protobuf bytes in pure Python.

The service checks an uploaded model against its model.json where onnxruntime cannot run (the
python3.11 Lambda runtime's glibc is older than onnxruntime's wheels need), so it reads the few
fields it needs straight from the protobuf wire format: ModelProto.graph (7) → GraphProto.input
(11), .output (12) and .initializer (5) → ValueInfoProto name (1), type (2) → TypeProto
tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) / dim_param (2).

It reads any buffer (bytes, an mmap of a spooled file) through memoryview slices, never copying a
length-delimited field, so a model of any size costs little more than its page cache.

`refuse_external_data` walks every place a tensor can hide (onnx.proto's numbers): ModelProto.graph
(7), .functions (25) → FunctionProto.node (7), .attribute_proto (11); .training_info (20) →
initialization (1), algorithm (2); GraphProto.initializer (5), .sparse_initializer (15) →
SparseTensorProto values (1), indices (2); GraphProto.node (1) → NodeProto.attribute (5) →
AttributeProto t (5), g (6), tensors (10), graphs (11), sparse_tensor (22), sparse_tensors (23).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# TensorProto.DataType → the names onnxruntime gives them in NodeArg.type.
ELEMENT_TYPES = {
    1: "float",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "double",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
}

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


MAX_GRAPH_DEPTH = 32  # subgraphs (If, Loop, Scan bodies) nest; real models stay far below this
Buffer = bytes | bytearray | memoryview  # or an mmap: anything memoryview() takes


class NotOnnx(ValueError):
    """The bytes are not a readable ONNX model."""


class ExternalData(ValueError):
    """The model names data outside its own bytes, which onnxruntime would read from the worker's disk."""


@dataclass(frozen=True)
class Arg:
    """One graph input or output, described as onnxruntime's NodeArg describes it."""

    name: str
    type: str  # "tensor(float)", or "sequence", "map", ... for non-tensor values
    shape: tuple[int | str | None, ...]


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Arg, ...]
    outputs: tuple[Arg, ...]


def read_signature(model_bytes: Buffer) -> Signature:
    """The graph's inputs (initializers excluded, as onnxruntime does) and outputs."""
    graph = None
    for number, _, value in _fields(model_bytes):
        if number == 7:
            graph = value
    if graph is None:
        raise NotOnnx("it has no graph")
    inputs, outputs, initializers = [], [], set()
    for number, _, value in _fields(graph):
        if number == 11:
            inputs.append(_arg(value))
        elif number == 12:
            outputs.append(_arg(value))
        elif number == 5:
            initializers.add(_string(value, 8))
    if not outputs:
        raise NotOnnx("its graph has no outputs")
    return Signature(tuple(a for a in inputs if a.name not in initializers), tuple(outputs))


def refuse_external_data(model_bytes: Buffer) -> None:
    """Raise ExternalData if any tensor anywhere in the model stores its data outside the model file."""
    for number, wire, value in _fields(model_bytes):
        if wire != LENGTH:
            continue
        if number == 7:
            _check_graph(value, 0)
        elif number == 25:
            _check_messages(value, {7: _check_node, 11: _check_attribute}, 0)
        elif number == 20:
            _check_messages(value, {1: _check_graph, 2: _check_graph}, 0)


def _check_messages(message: memoryview, checks: dict, depth: int) -> None:
    """Run checks[field] over each length-delimited field of `message` that has one."""
    for number, wire, value in _fields(message):
        if wire == LENGTH and number in checks:
            checks[number](value, depth)


def _check_graph(graph: memoryview, depth: int) -> None:
    if depth > MAX_GRAPH_DEPTH:
        raise NotOnnx(f"its subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels")
    _check_messages(graph, {1: _check_node, 5: _check_tensor, 15: _check_sparse}, depth + 1)


def _check_node(node: memoryview, depth: int) -> None:
    _check_messages(node, {5: _check_attribute}, depth)


def _check_attribute(attribute: memoryview, depth: int) -> None:
    tensors = {5: _check_tensor, 10: _check_tensor, 22: _check_sparse, 23: _check_sparse}
    _check_messages(attribute, {**tensors, 6: _check_graph, 11: _check_graph}, depth)


def _check_sparse(sparse: memoryview, depth: int) -> None:
    _check_messages(sparse, {1: _check_tensor, 2: _check_tensor}, depth)


def _check_tensor(tensor: memoryview, depth: int) -> None:
    # data_location (14) is DEFAULT (0) or EXTERNAL (1); anything but a plain 0 is refused, as is any
    # external_data (13) entry, so no encoding trick leaves onnxruntime a location to resolve.
    for number, wire, value in _fields(tensor):
        if number == 13 or (number == 14 and not (wire == VARINT and value == 0)):
            name = _string(tensor, 8)[:80] or "(unnamed)"
            raise ExternalData(
                f"tensor {name!r} stores its data outside the model file (external data), which Edna does not load"
            )


def _arg(value_info: memoryview) -> Arg:
    name = _string(value_info, 1)
    type_proto = _first(value_info, 2)
    if type_proto is None:
        return Arg(name, "unknown", ())
    tensor = _first(type_proto, 1)
    if tensor is None:
        kinds = {4: "sequence", 5: "map", 8: "sparse_tensor", 9: "optional"}
        kind = next((kinds[n] for n, _, _ in _fields(type_proto) if n in kinds), "unknown")
        return Arg(name, kind, ())
    elem = next((v for n, wire, v in _fields(tensor) if n == 1 and wire == VARINT), 0)
    shape = _first(tensor, 2)
    dims = () if shape is None else tuple(_dim(d) for n, _, d in _fields(shape) if n == 1)
    return Arg(name, f"tensor({ELEMENT_TYPES.get(elem, 'undefined')})", dims)


def _dim(dimension: memoryview) -> int | str | None:
    for number, wire, value in _fields(dimension):
        if number == 1 and wire == VARINT:
            return value
        if number == 2 and wire == LENGTH:
            return _text(value)
    return None


def _first(message: Buffer, field: int) -> memoryview | None:
    return next((v for n, wire, v in _fields(message) if n == field and wire == LENGTH), None)


def _string(message: Buffer, field: int) -> str:
    raw = _first(message, field)
    return "" if raw is None else _text(raw)


def _text(raw: memoryview) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError:
        raise NotOnnx("a name in it is not UTF-8") from None


def _fields(message: Buffer) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value): ints for varints, memoryview slices (no copy) for the rest."""
    view = memoryview(message)
    pos, end = 0, len(view)
    while pos < end:
        key, pos = _varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise NotOnnx("it is not a protobuf message (field number 0)")
        if wire == VARINT:
            value, pos = _varint(view, pos)
        elif wire == LENGTH:
            size, pos = _varint(view, pos)
            if pos + size > end:
                raise NotOnnx("it is truncated")
            value, pos = view[pos : pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > end:
                raise NotOnnx("it is truncated")
            value, pos = view[pos : pos + size], pos + size
        else:
            raise NotOnnx(f"it is not a protobuf message (wire type {wire})")
        yield number, wire, value


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise NotOnnx("it is truncated or not protobuf")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
