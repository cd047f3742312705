"""The float tensors stored in an ONNX file (its graph's initializers), without the onnx package.

An ONNX file is a protocol buffer (``ModelProto``); the weights of an exported network are the
``initializer`` tensors of its top-level graph. This reader decodes just that path of the
format (``ModelProto.graph`` → ``GraphProto.initializer`` → ``TensorProto``: ``dims``,
``data_type``, ``name``, ``raw_data`` or ``float_data``), skips every other field, and never
executes anything: the file is data. Tensors stored outside the file (``data_location``
EXTERNAL) and types other than float32 are left out.
"""

from __future__ import annotations

import numpy as np

_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_DIMS, _DATA_TYPE, _FLOAT_DATA, _NAME, _RAW_DATA, _DATA_LOCATION = 1, 2, 4, 8, 9, 14
_FLOAT, _EXTERNAL = 1, 1


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("a number runs past the end of the data")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def fields(data: memoryview) -> list[tuple[int, int, int | memoryview]]:
    """The ``(field number, wire type, value)`` of every field of one protobuf message.

    A value is an int (varint, fixed32, fixed64) or a view of the bytes of a length-delimited
    field.

    Raises
    ------
    ValueError
        If the bytes are not a well-formed message (a field runs past the end, an unknown or
        group wire type).
    """
    out: list[tuple[int, int, int | memoryview]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError("a fixed-size field runs past the end of the data")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError(f"field {number} is {size} bytes long, past the end of the data")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"field {number} has wire type {wire}, which ONNX does not use")
        if number == 0:
            raise ValueError("a field numbered 0")
        out.append((number, wire, value))
    return out


def _tensor(message: memoryview) -> tuple[str, np.ndarray] | None:
    """``(name, array)`` of one float32 ``TensorProto`` stored in the file; None otherwise."""
    dims: list[int] = []
    name, dtype, raw, floats, external = "", 0, None, [], False
    for number, wire, value in fields(message):
        if number == _DIMS:
            if wire == 2:    # packed
                pos = 0
                while pos < len(value):
                    dim, pos = _varint(value, pos)
                    dims.append(dim)
            else:
                dims.append(value)
        elif number == _DATA_TYPE:
            dtype = value
        elif number == _NAME and wire == 2:
            name = bytes(value).decode("utf-8")
        elif number == _RAW_DATA and wire == 2:
            raw = bytes(value)
        elif number == _FLOAT_DATA:
            floats.append(np.frombuffer(bytes(value), "<f4") if wire == 2
                          else np.array([value], "<u4").view("<f4"))
        elif number == _DATA_LOCATION:
            external = value == _EXTERNAL
    if dtype != _FLOAT or external:
        return None
    values = np.frombuffer(raw, "<f4") if raw is not None else np.concatenate(floats or [[]])
    if values.size != int(np.prod(dims)):
        raise ValueError(f"tensor '{name}' holds {values.size} values for shape {tuple(dims)}")
    return name, values.astype(np.float32).reshape(dims)


def onnx_initializers(data: bytes) -> dict[str, np.ndarray]:
    r"""The float32 initializers of an ONNX model's top-level graph, by name.

    Parameters
    ----------
    data : bytes
        The contents of a ``.onnx`` file.

    Returns
    -------
    dict
        name → float32 array of the tensor's shape (a copy).

    Raises
    ------
    ValueError
        If the bytes are not an ONNX model (no graph, a malformed message or tensor).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib.pretrained.onnx_file import onnx_initializers
    >>> tensor = (b"\x08\x02\x08\x03" b"\x10\x01" b"\x42\x01w"           # dims 2, 3; float; "w"
    ...           b"\x4a\x18" + np.arange(6, dtype="<f4").tobytes())  # raw_data
    >>> graph = b"\x2a" + bytes([len(tensor)]) + tensor                # initializer
    >>> model = b"\x3a" + bytes([len(graph)]) + graph                  # ModelProto.graph
    >>> onnx_initializers(model)["w"]
    array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
    """
    view = memoryview(data)
    graphs = [value for number, wire, value in fields(view)
              if number == _MODEL_GRAPH and wire == 2]
    if not graphs:
        raise ValueError("no graph in the model")
    out = {}
    for number, wire, value in fields(graphs[-1]):
        if number == _GRAPH_INITIALIZER and wire == 2:
            tensor = _tensor(value)
            if tensor is not None:
                out[tensor[0]] = tensor[1]
    return out
