"""An ONNX model's inputs and outputs, read from its protobuf bytes in pure Python.

The service checks an uploaded model against its model.json where onnxruntime cannot run (the
python3.11 Lambda runtime's glibc is older than onnxruntime's wheels need), so it reads the few
fields it needs straight from the protobuf wire format: ModelProto.graph (7) → GraphProto.input
(11), .output (12) and .initializer (5) → ValueInfoProto name (1), type (2) → TypeProto
tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) / dim_param (2).
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


class NotOnnx(ValueError):
    """The bytes are not a readable ONNX model."""


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


def read_signature(model_bytes: bytes) -> Signature:
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


def _arg(value_info: bytes) -> Arg:
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


def _dim(dimension: bytes) -> int | str | None:
    for number, wire, value in _fields(dimension):
        if number == 1 and wire == VARINT:
            return value
        if number == 2 and wire == LENGTH:
            return _text(value)
    return None


def _first(message: bytes, field: int) -> bytes | None:
    return next((v for n, wire, v in _fields(message) if n == field and wire == LENGTH), None)


def _string(message: bytes, field: int) -> str:
    raw = _first(message, field)
    return "" if raw is None else _text(raw)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotOnnx("a name in it is not UTF-8") from None


def _fields(message: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value): ints for varints, bytes for the rest."""
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
            value, pos = bytes(view[pos : pos + size]), pos + size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > end:
                raise NotOnnx("it is truncated")
            value, pos = bytes(view[pos : pos + size]), pos + size
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
