"""numpy <-> tether element types. Values are ONNX's TensorProto.DataType, as in tether.h.

numpy has no bfloat16: bfloat16 outputs come back as float32 (every bfloat16 is exactly a
float32), and bfloat16 inputs are taken from float arrays, rounded to nearest even (or from
ml_dtypes.bfloat16 arrays as they are).

Nor has numpy the small types (float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz/e8m0, float4e2m1,
int4/uint4, int2/uint2). With the ml_dtypes package installed they travel as ml_dtypes
arrays both ways (one byte per element, the layout tether uses). Without it, outputs come
back widened (float32 for the float types, int8/uint8 for the integer ones), and inputs take
integer values (the integer types) or uint8 arrays of the elements' bit patterns."""

from __future__ import annotations

import numpy as np

try:  # optional: numpy names for bfloat16 and the small types
    import ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    ml_dtypes = None

FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL = 1, 2, 3, 4, 5, 6, 7, 8, 9
FLOAT16, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = 10, 11, 12, 13, 14, 15, 16
FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ = 17, 18, 19, 20
UINT4, INT4, FLOAT4E2M1, FLOAT8E8M0, UINT2, INT2 = 21, 22, 23, 24, 25, 26

# The small types: tether's name, ml_dtypes' name, and what they widen to without ml_dtypes.
SMALL = {
    FLOAT8E4M3FN: ("float8e4m3fn", "float8_e4m3fn", np.float32),
    FLOAT8E4M3FNUZ: ("float8e4m3fnuz", "float8_e4m3fnuz", np.float32),
    FLOAT8E5M2: ("float8e5m2", "float8_e5m2", np.float32),
    FLOAT8E5M2FNUZ: ("float8e5m2fnuz", "float8_e5m2fnuz", np.float32),
    UINT4: ("uint4", "uint4", np.uint8),
    INT4: ("int4", "int4", np.int8),
    FLOAT4E2M1: ("float4e2m1", "float4_e2m1fn", np.float32),
    FLOAT8E8M0: ("float8e8m0", "float8_e8m0fnu", np.float32),
    UINT2: ("uint2", "uint2", np.uint8),
    INT2: ("int2", "int2", np.int8),
}

NAMES = {
    0: "undefined", FLOAT: "float32", UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16",
    INT32: "int32", INT64: "int64", STRING: "string", BOOL: "bool", FLOAT16: "float16", DOUBLE: "float64",
    UINT32: "uint32", UINT64: "uint64", COMPLEX64: "complex64", COMPLEX128: "complex128", BFLOAT16: "bfloat16",
    **{k: v[0] for k, v in SMALL.items()},
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
if ml_dtypes is not None:
    _FROM_NUMPY[np.dtype(ml_dtypes.bfloat16)] = BFLOAT16
    for _k, (_, _ml, _) in SMALL.items():
        if hasattr(ml_dtypes, _ml):
            TO_NUMPY[_k] = np.dtype(getattr(ml_dtypes, _ml))
            _FROM_NUMPY[TO_NUMPY[_k]] = _k
else:
    TO_NUMPY.update({k: np.dtype(v[2]) for k, v in SMALL.items()})


def small_to_numpy(code: int, raw: np.ndarray) -> np.ndarray:
    """An output of small type `code` from its bytes (uint8): the ml_dtypes array, or, without
    ml_dtypes, the values widened."""
    if ml_dtypes is not None and hasattr(ml_dtypes, SMALL[code][1]):
        return raw.view(getattr(ml_dtypes, SMALL[code][1]))
    return decode_small(code, raw)


def decode_small(code: int, raw: np.ndarray) -> np.ndarray:
    """The values of small-type elements given as bytes, widened (float32, int8 or uint8)."""
    b = raw.astype(np.int64)
    if code in (INT4, INT2, UINT4, UINT2):
        bits = 4 if code in (INT4, UINT4) else 2
        v = b & ((1 << bits) - 1)
        if code in (INT4, INT2):
            v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
        return v.astype(SMALL[code][2])
    if code == FLOAT8E8M0:
        return np.where(b == 255, np.nan, np.ldexp(1.0, b - 127)).astype(np.float32)
    ebits, mbits, bias = {FLOAT8E4M3FN: (4, 3, 7), FLOAT8E4M3FNUZ: (4, 3, 8), FLOAT8E5M2: (5, 2, 15),
                          FLOAT8E5M2FNUZ: (5, 2, 16), FLOAT4E2M1: (2, 1, 1)}[code]
    width = 1 + ebits + mbits
    b = b & ((1 << width) - 1)
    sign = np.where(b >> (width - 1), -1.0, 1.0)
    e, m = (b >> mbits) & ((1 << ebits) - 1), b & ((1 << mbits) - 1)
    v = np.where(e == 0, np.ldexp(m.astype(np.float64), 1 - bias - mbits),
                 np.ldexp((m + (1 << mbits)).astype(np.float64), e - bias - mbits)) * sign
    emax = (1 << ebits) - 1
    if code in (FLOAT8E4M3FNUZ, FLOAT8E5M2FNUZ):
        v = np.where(b == 1 << (width - 1), np.nan, v)
    elif code == FLOAT8E4M3FN:
        v = np.where((e == emax) & (m == (1 << mbits) - 1), np.nan, v)
    elif code == FLOAT8E5M2:
        v = np.where(e == emax, np.where(m == 0, sign * np.inf, np.nan), v)
    return v.astype(np.float32)


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
