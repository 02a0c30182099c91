"""Feeding arrays of another dtype: converted only where every value survives exactly.

An int64 3,000,000,000 fed to an int32 input, or a float64 1e6 fed to a float16 one, would
silently become another number; such inputs are refused with an error naming the input, the
first value that does not fit and how to convert it on purpose. A conversion is allowed when
converting back gives every value unchanged (NaN stays NaN), so int32 -> int64, float32 ->
float64, float64 0.5 -> float32 and int64 7 -> int8 convert, while float64 0.1 -> float32
(which rounds) does not."""

from __future__ import annotations

import warnings

import numpy as np

from ._errors import InvalidArgumentError


def _first(mask: np.ndarray):
    flat = int(np.flatnonzero(mask.reshape(-1))[0])
    return np.unravel_index(flat, mask.shape) if mask.ndim else ()


def exact(arr: np.ndarray, want: np.dtype, name: str, type_name: str) -> np.ndarray:
    """``arr`` as ``want``, or InvalidArgumentError when any value would change."""
    want = np.dtype(want)
    src = arr.dtype
    if src == want:
        return arr
    if src.newbyteorder("=") == want:
        return arr.astype(want)  # byte order only
    if src.kind not in "biufc" or want.kind not in "biufc":
        raise InvalidArgumentError(f"input '{name}' is {type_name}; a {src} array cannot be converted to it")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # ComplexWarning, overflow: the round trip below judges
        conv = arr.astype(want)
        back = conv.astype(src)
    same = back == arr
    if src.kind in "fc":
        same |= np.isnan(back) & np.isnan(arr)
    if src.kind == "f" and want.kind in "iub":
        same &= np.isfinite(arr)  # NaN and inf have no integer value
    if src.kind in "iuf" and want.kind in "iuf":
        same &= (conv < 0) == (arr < 0)  # int8 -1 -> uint8 255 -> int8 -1 round-trips, but wrapped
    if not np.all(same):
        where = _first(~same)
        value = arr[where] if where != () else arr[()]
        at = f" at index {tuple(int(i) for i in where)}" if where != () else ""
        raise InvalidArgumentError(
            f"input '{name}' is {type_name}: the {src} value {value!r}{at} is not exactly representable as {want} "
            f"(it would become {conv[where] if where != () else conv[()]!r}); tether converts inputs only where "
            f"every value is kept. Convert it yourself (e.g. x.astype(np.{want.name})) if that change is intended")
    return conv
