"""The IDX file format of MNIST-family datasets, read and written as NumPy arrays.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the data. labkit only
meets unsigned bytes (type code 0x08), so that is what these functions accept.
"""

from __future__ import annotations

import struct

import numpy as np

UNSIGNED_BYTE = 0x08


class IDXFormatError(ValueError):
    """The bytes are not a well-formed IDX file of unsigned bytes."""


def parse(data: bytes | memoryview, *, ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes into a uint8 array of the shape the header declares.

    The array is a copy-free view of ``data`` (read-only when ``data`` is bytes).
    """
    if len(data) < 4:
        raise IDXFormatError(f"{len(data)} bytes is too short for an IDX header.")
    zero, type_code, dims = struct.unpack(">HBB", bytes(data[:4]))
    if zero != 0 or type_code != UNSIGNED_BYTE or dims == 0:
        raise IDXFormatError(
            f"not an IDX file of unsigned bytes (magic {bytes(data[:4]).hex()})."
        )
    if ndim is not None and dims != ndim:
        raise IDXFormatError(f"expected {ndim} dimensions, the header declares {dims}.")
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", bytes(data[4:header]))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        raise IDXFormatError(
            f"the header declares shape {shape} ({expected} bytes of data) "
            f"but {actual} bytes follow it: the file is truncated or padded."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def dump(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as IDX bytes (used to make test files and course subsets)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"IDX files here hold uint8 data, not {array.dtype}.")
    header = struct.pack(">HBB", 0, UNSIGNED_BYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()
