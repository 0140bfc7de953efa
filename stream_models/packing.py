"""Compact binary state: numpy arrays as raw bytes behind a small JSON header.

A zone's state is a tree of dicts whose leaves are numbers, strings, lists of
them, or numpy arrays. :func:`pack` writes the arrays' bytes once (no per-value
text), so the size follows the arrays' fixed shapes, and :func:`unpack` gives
arrays equal to the packed ones bit for bit: a restored zone computes exactly
what it would have computed without the restart.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

MAGIC = b"SWS1"  # seismowatch state, layout 1
_LEN = struct.Struct("<I")


class StateError(ValueError):
    """Bytes that are not a packed state of this layout."""


def pack(state: Mapping[str, Any]) -> bytes:
    """``state`` as bytes: MAGIC, header length, JSON header, then the arrays' bytes.

    >>> blob = pack({"n": 3, "x": np.arange(4, dtype=np.float32), "sub": {"name": "z"}})
    >>> out = unpack(blob)
    >>> out["n"], out["x"].tolist(), out["sub"]
    (3, [0.0, 1.0, 2.0, 3.0], {'name': 'z'})
    """
    chunks: list[bytes] = []
    offset = 0

    def encode(value: Any) -> Any:
        nonlocal offset
        if isinstance(value, np.ndarray):
            data = np.ascontiguousarray(value).tobytes()
            descr = np.lib.format.dtype_to_descr(value.dtype)  # structured dtypes keep fields
            ref = {"__array__": [descr, list(value.shape), offset, len(data)]}
            chunks.append(data)
            offset += len(data)
            return ref
        if isinstance(value, Mapping):
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [encode(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    header = json.dumps(encode(state), separators=(",", ":"), allow_nan=True).encode()
    return MAGIC + _LEN.pack(len(header)) + header + b"".join(chunks)


def unpack(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack`; raises :class:`StateError` on anything else."""
    if len(blob) < 8 or blob[:4] != MAGIC:
        raise StateError("not a packed seismowatch state (bad magic)")
    (size,) = _LEN.unpack_from(blob, 4)
    body = memoryview(blob)[8 + size :]
    try:
        header = json.loads(bytes(blob[8 : 8 + size]))
    except ValueError as exc:
        raise StateError(f"state header is not JSON: {exc}") from None

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            ref = value.get("__array__")
            if ref is not None:
                descr, shape, start, length = ref
                if start + length > len(body):
                    raise StateError("state is truncated")
                dtype = np.lib.format.descr_to_dtype(_tuples(descr))
                arr = np.frombuffer(body[start : start + length], dtype=dtype)
                return arr.reshape(shape).copy()
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    out = decode(header)
    if not isinstance(out, dict):
        raise StateError("state is not a mapping")
    return out


def _tuples(descr: Any) -> Any:
    """JSON turned a structured dtype's (name, type[, shape]) tuples into lists: back again."""
    if isinstance(descr, list):
        return [tuple(_tuples(d) for d in item) if isinstance(item, list) else item
                for item in descr]
    return descr


def nbytes(state: Mapping[str, Any]) -> int:
    """Size of the packed state: what the hard cap on a zone's state is measured on."""
    return len(pack(state))
