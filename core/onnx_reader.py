"""Just enough of the ONNX format to read a graph's nodes and constant tensors, without the onnx package.

An .onnx file is a protobuf message (onnx.proto, ModelProto). The fast
mode's weights come from two small ONNX graphs once, at conversion; reading
them needs only the wire format (varints and length-delimited fields) and a
handful of fields, so the package takes no protobuf dependency for it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import WeightsError

# TensorProto.DataType values the converted graphs use, and their numpy types.
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}
# Packed fields of TensorProto by data type: float_data (4), int32_data (5), int64_data (7), double_data (10).
_PACKED = {1: (4, "f"), 6: (5, "varint"), 2: (5, "varint"), 3: (5, "varint"), 10: (5, "varint"), 7: (7, "varint"), 11: (10, "d")}


@dataclass
class Node:
    """One operator: its type, name, input and output tensor names, and attributes (numbers, lists, text, tensors)."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A model's graph: its nodes in order, its constant tensors by name, the names of its inputs and outputs."""

    nodes: list[Node]
    constants: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of a message: an int, or bytes for length-delimited ones."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise WeightsError(f"weights: unsupported protobuf wire type {wire} in an ONNX file")
        yield number, wire, value


def _signed(value: int) -> int:
    """A varint as the int64 it encodes (negative numbers are 64-bit two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(data: bytes) -> list[int]:
    values, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        values.append(_signed(value))
    return values


def _tensor(data: bytes) -> tuple[str, np.ndarray]:
    """A TensorProto: its name and its values, from raw_data or the typed repeated fields."""
    dims: list[int] = []
    dtype, name, raw = 1, "", None
    repeated: dict[int, list] = {}
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _varints(value) if wire == 2 else [_signed(value)]
        elif number == 2:
            dtype = value
        elif number == 8:
            name = value.decode()
        elif number == 9:
            raw = value
        elif number in (4, 5, 7, 10):
            repeated.setdefault(number, []).append((wire, value))
    if dtype not in _DTYPES:
        raise WeightsError(f"weights: tensor {name!r} of an ONNX file has data type {dtype}, which is not read here")
    numpy_type = _DTYPES[dtype]
    if raw is not None:
        array = np.frombuffer(raw, dtype=np.dtype(numpy_type).newbyteorder("<")).astype(numpy_type)
    else:
        number, kind = _PACKED[dtype]
        values: list = []
        for wire, value in repeated.get(number, []):
            if kind == "varint":
                values += _varints(value) if wire == 2 else [_signed(value)]
            else:
                size = struct.calcsize(kind)
                values += list(struct.unpack(f"<{len(value) // size}{kind}", value))
        array = np.array(values, dtype=np.float32 if dtype == 10 else numpy_type)
        if dtype == 10:  # float16 values are stored as their bit patterns in int32_data
            array = array.astype(np.uint16).view(np.float16)
    return name, array.reshape(dims)


def _attribute(data: bytes) -> tuple[str, Any]:
    name, value_found, floats, ints = "", None, [], []
    for number, wire, value in _fields(data):
        if number == 1:
            name = value.decode()
        elif number == 2:
            value_found = struct.unpack("<f", value)[0]
        elif number == 3:
            value_found = _signed(value)
        elif number == 4:
            value_found = value
        elif number == 5:
            value_found = _tensor(value)[1]
        elif number == 7:
            floats += list(struct.unpack(f"<{len(value) // 4}f", value)) if wire == 2 else [struct.unpack("<f", value)[0]]
        elif number == 8:
            ints += _varints(value) if wire == 2 else [_signed(value)]
    if value_found is None:
        value_found = floats or ints
    return name, value_found


def _node(data: bytes) -> Node:
    node = Node(op_type="", name="", inputs=[], outputs=[])
    for number, _, value in _fields(data):
        if number == 1:
            node.inputs.append(value.decode())
        elif number == 2:
            node.outputs.append(value.decode())
        elif number == 3:
            node.name = value.decode()
        elif number == 4:
            node.op_type = value.decode()
        elif number == 5:
            key, attribute = _attribute(value)
            node.attributes[key] = attribute
    return node


def _value_name(data: bytes) -> str:
    return next((value.decode() for number, _, value in _fields(data) if number == 1), "")


def read_graph(data: bytes, what: str) -> Graph:
    """The graph of an ONNX model's bytes; `what` names the file in errors. Constant nodes become constants."""
    try:
        graph_bytes = next(value for number, wire, value in _fields(data) if number == 7 and wire == 2)
        graph = Graph(nodes=[], constants={}, inputs=[], outputs=[])
        for number, _, value in _fields(graph_bytes):
            if number == 1:
                node = _node(value)
                if node.op_type == "Constant" and "value" in node.attributes:
                    graph.constants[node.outputs[0]] = node.attributes["value"]
                else:
                    graph.nodes.append(node)
            elif number == 5:
                name, array = _tensor(value)
                graph.constants[name] = array
            elif number == 11:
                graph.inputs.append(_value_name(value))
            elif number == 12:
                graph.outputs.append(_value_name(value))
    except (StopIteration, IndexError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise WeightsError(f"weights: {what} is not a readable ONNX model ({exc or 'no graph'})") from None
    graph.inputs = [name for name in graph.inputs if name not in graph.constants]
    return graph
