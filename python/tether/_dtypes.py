"""numpy <-> tether element types. Values are ONNX's TensorProto.DataType, as in tether.h.

numpy has no bfloat16: bfloat16 outputs come back as float32 (every bfloat16 is exactly a
float32), and bfloat16 inputs are taken from float arrays, rounded to nearest even."""

from __future__ import annotations

import numpy as np

FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL = 1, 2, 3, 4, 5, 6, 7, 8, 9
FLOAT16, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = 10, 11, 12, 13, 14, 15, 16

NAMES = {
    0: "undefined", FLOAT: "float32", UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16",
    INT32: "int32", INT64: "int64", STRING: "string", BOOL: "bool", FLOAT16: "float16", DOUBLE: "float64",
    UINT32: "uint32", UINT64: "uint64", COMPLEX64: "complex64", COMPLEX128: "complex128", BFLOAT16: "bfloat16",
}

# The numpy dtype a tensor of each tether dtype is handed to Python as.
TO_NUMPY = {
    FLOAT: np.dtype(np.float32), UINT8: np.dtype(np.uint8), INT8: np.dtype(np.int8),
    UINT16: np.dtype(np.uint16), INT16: np.dtype(np.int16), INT32: np.dtype(np.int32),
    INT64: np.dtype(np.int64), STRING: np.dtype(object), BOOL: np.dtype(np.bool_),
    FLOAT16: np.dtype(np.float16), DOUBLE: np.dtype(np.float64), UINT32: np.dtype(np.uint32),
    UINT64: np.dtype(np.uint64), COMPLEX64: np.dtype(np.complex64), COMPLEX128: np.dtype(np.complex128),
    BFLOAT16: np.dtype(np.float32),
}

_FROM_NUMPY = {v: k for k, v in TO_NUMPY.items() if k not in (STRING, BFLOAT16)}


def from_numpy(dtype: np.dtype) -> int:
    """The tether dtype of a numpy array's dtype; strings (str, bytes, object) are STRING."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OUS":
        return STRING
    code = _FROM_NUMPY.get(dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"numpy dtype {dtype} has no tether equivalent")
    return code


def float_to_bfloat16_bits(a: np.ndarray) -> np.ndarray:
    """float32 values -> bfloat16 bit patterns (uint16), rounding to nearest, ties to even;
    NaN stays NaN."""
    f = np.ascontiguousarray(a, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)  # keep it a (quiet) NaN
    return out


def bfloat16_bits_to_float(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)
