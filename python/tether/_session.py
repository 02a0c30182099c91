"""tether.Session: an ONNX model opened on a target, run with numpy arrays.

Inputs are handed to the library in place (no copy when they are already C-contiguous
arrays of the model's dtype); outputs are copied into numpy arrays the caller owns, and
the library's buffers are freed before run() returns."""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from typing import Mapping, Optional, Union

import numpy as np

from . import _dtypes as dt
from ._errors import InternalError, InvalidArgumentError, UnsupportedError
from ._convert import exact
from ._lib import MAX_RANK, SessionStats, Tensor, ValueInfo, check, lib, new_config

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


@dataclass(frozen=True)
class TensorInfo:
    """An input or output as the model declares it. ``shape`` holds ints for fixed
    dimensions, the dimension's name (a str) or None for free ones; it is None when the
    model does not fix the rank. ``dtype`` is the numpy dtype values come as (object for
    strings) or None for a non-tensor value; ``type`` the tether/ONNX type name."""

    name: str
    dtype: np.dtype | None
    shape: tuple | None
    type: str

    def __repr__(self) -> str:
        return f"TensorInfo(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


def _info(vi: ValueInfo) -> TensorInfo:
    name = vi.name.decode("utf-8", "replace")
    shape = None
    if vi.rank >= 0:
        shape = tuple(
            int(vi.dims[i]) if vi.dims[i] >= 0 else (vi.dim_names[i].decode("utf-8", "replace")
                                                      if vi.dim_names[i] else None)
            for i in range(vi.rank))
    return TensorInfo(name, dt.TO_NUMPY.get(vi.dtype), shape, dt.NAMES.get(vi.dtype, f"dtype {vi.dtype}"))


class Session:
    """An ONNX model opened on a target.

    ``model`` is a path to an .onnx file or the model's bytes. ``target`` is ``"cpu"``
    (this host), ``"cuda:N"`` (a GPU of this host, ``precision`` "fp32", "tf32" or "fp16"),
    ``"eia:N"`` (the accelerator attached as ordinal N, see
    :func:`tether.attach`), ``"tcp://HOST:PORT"`` or ``"unix:PATH"``. Moving a program
    from the CPU to an accelerator is this one word.

    ``run_limit_ms`` stops a local run still going after that long (TetherTimeoutError);
    ``num_threads`` caps the threads one run uses (0: the whole process pool); for an
    ``eia:N`` target the accelerator's server applies it to this session's runs.
    ``precision`` lets convolutions and matrix products with constant weights run in
    ``"bf16"`` or ``"int8"`` on the cpu backend (local targets) instead of the default
    ``"fp32"``. ``input_dims`` (local targets) sets inputs' dimensions before the model is
    compiled, ``{"x": [-1, 64]}``: -1 frees a dimension (a model exported with batch 1 then
    takes any batch), a size fixes one the model leaves free.

    A session may be run from several threads at once. Use it as a context manager, or
    call :meth:`close`, to free it deterministically."""

    def __init__(self, model: ModelSource, target: str = "cpu", *, warmup: bool = True, quiet: bool = False,
                 timeout_ms: int = 0, run_limit_ms: int = 0, num_threads: int = 0, precision: str | None = None,
                 device_memory_limit: int = 0, input_dims: dict | None = None):
        self._handle = None
        self._cond = threading.Condition()
        self._active = 0
        self.target = target
        L = lib()
        cfg = new_config()
        self._target_bytes = target.encode("utf-8")
        cfg.target = self._target_bytes
        cfg.warmup = 1 if warmup else 0
        cfg.quiet = 1 if quiet else 0
        cfg.timeout_ms = int(timeout_ms)
        cfg.run_limit_ms = int(run_limit_ms)
        cfg.num_threads = int(num_threads)
        self._precision_bytes = precision.encode("utf-8") if precision else None
        cfg.precision = self._precision_bytes
        cfg.device_memory_limit = int(device_memory_limit)
        if input_dims:
            from ._lib import MAX_RANK, InputDims
            dims = (InputDims * len(input_dims))()
            self._dims_names = [str(k).encode("utf-8") for k in input_dims]
            for i, (name, shape) in enumerate(zip(self._dims_names, input_dims.values())):
                shape = [int(d) for d in shape]
                if len(shape) > MAX_RANK:
                    raise ValueError(f"input_dims[{name.decode()!r}]: more than {MAX_RANK} dimensions")
                dims[i].name = name
                dims[i].rank = len(shape)
                for k, d in enumerate(shape):
                    dims[i].dims[k] = d
            self._dims = dims
            cfg.input_dims = dims
            cfg.n_input_dims = len(input_dims)
        handle = ctypes.c_void_p()
        if isinstance(model, (bytes, bytearray, memoryview)):
            buf = bytes(model)  # the library reads it during the call only
            check(L.tether_session_open_bytes(ctypes.byref(handle), buf, len(buf), ctypes.byref(cfg)))
        else:
            path = os.fspath(model)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            check(L.tether_session_open(ctypes.byref(handle), os.fsencode(path), ctypes.byref(cfg)))
        self._handle = handle
        n_in = L.tether_session_input_count(handle)
        n_out = L.tether_session_output_count(handle)
        self._inputs = []
        for i in range(n_in):
            vi = ValueInfo()
            check(L.tether_session_input_info(handle, i, ctypes.byref(vi)))
            self._inputs.append(_info(vi))
        self._outputs = []
        for i in range(n_out):
            vi = ValueInfo()
            check(L.tether_session_output_info(handle, i, ctypes.byref(vi)))
            self._outputs.append(_info(vi))
        self._input_by_name = {i.name: (k, i) for k, i in enumerate(self._inputs)}

    # ---- description ------------------------------------------------------------------------

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    @property
    def stats(self) -> dict:
        """What the session holds and does: weight and planned activation bytes, FLOPs per
        run, parameters, nodes, and where it runs."""
        st = SessionStats()
        with self._use():
            check(lib().tether_session_stats_get(self._handle, ctypes.byref(st)))
        return {
            "weight_bytes": st.weight_bytes, "activation_bytes": st.activation_bytes, "flops": st.flops,
            "parameters": st.parameters, "nodes": st.nodes, "where": st.where.decode("utf-8", "replace"),
            "device_bytes": st.device_bytes,
        }

    @property
    def where(self) -> str:
        """Where the session runs: "cpu", or the accelerator's ordinal, id, type and endpoint."""
        return self.stats["where"]

    # ---- lifetime -----------------------------------------------------------------------------

    class _Use:
        def __init__(self, s: "Session"):
            self.s = s

        def __enter__(self):
            with self.s._cond:
                if self.s._handle is None:
                    raise InvalidArgumentError("the session is closed")
                self.s._active += 1

        def __exit__(self, *exc):
            with self.s._cond:
                self.s._active -= 1
                self.s._cond.notify_all()

    def _use(self) -> "Session._Use":
        """Holds the handle open for a call: close() waits for calls in flight."""
        return Session._Use(self)

    def close(self) -> None:
        """Frees the session (waiting for runs in progress on other threads). Idempotent."""
        with self._cond:
            while self._active:
                self._cond.wait()
            handle, self._handle = self._handle, None
        if handle is not None:
            lib().tether_session_free(handle)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None and not self._active:
                lib().tether_session_free(self._handle)
                self._handle = None
        except Exception:
            pass  # interpreter shutdown: nothing sensible left to do

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else self.target
        return f"<tether.Session {state}: {len(self._inputs)} inputs, {len(self._outputs)} outputs>"

    # ---- running --------------------------------------------------------------------------------

    def _tensor(self, name: str, value, keep: list) -> Tensor:
        entry = self._input_by_name.get(name)
        if entry is None:
            raise InvalidArgumentError(
                f"the model has no input '{name}' (its inputs: {', '.join(self._input_by_name) or 'none'})")
        info = entry[1]
        want = info.dtype
        is_string = info.type == "string"
        small = next((k for k, v in dt.SMALL.items() if v[0] == info.type), None)
        is_bf16 = info.type == "bfloat16"
        if small is not None:
            return self._small_tensor(name, info, small, value, keep)
        if is_bf16 and isinstance(value, np.ndarray) and dt._FROM_NUMPY.get(value.dtype) == dt.BFLOAT16:
            return self._raw_tensor(name, value.view(np.uint16), dt.BFLOAT16, keep)  # ml_dtypes.bfloat16
        if is_string:
            arr = np.asarray(value, dtype=object)
        else:
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            if want is not None and not is_bf16:
                arr = exact(arr, want, name, info.type)
        if arr.ndim > MAX_RANK:
            raise InvalidArgumentError(f"input '{name}' has rank {arr.ndim}; tether tensors have at most {MAX_RANK}")

        t = Tensor()
        t.name = name.encode("utf-8")
        keep.append(t.name)
        t.rank = arr.ndim
        for i, d in enumerate(arr.shape):
            t.dims[i] = d
        if is_string or arr.dtype.kind in "OUS":
            flat = arr.reshape(-1)
            encoded = []
            for v in flat:
                if isinstance(v, bytes):
                    encoded.append(v)
                elif isinstance(v, str):
                    encoded.append(v.encode("utf-8"))
                else:
                    raise InvalidArgumentError(f"input '{name}': a string tensor's elements must be str or bytes, "
                                               f"not {type(v).__name__}")
            ptrs = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
            keep.extend((encoded, ptrs))
            t.dtype = dt.STRING
            t.data = ctypes.cast(ptrs, ctypes.c_void_p)
            t.size = len(encoded) * ctypes.sizeof(ctypes.c_char_p)
            return t
        if is_bf16:
            # numpy has no bfloat16: float values round to the nearest one, but none may overflow
            if arr.dtype.kind not in "fiu":
                raise InvalidArgumentError(f"input '{name}' is bfloat16: give float values")
            f32 = exact(arr, np.dtype(np.float32), name, "bfloat16 (given as float32)")
            bits = dt.float_to_bfloat16_bits(f32).reshape(arr.shape)
            over = np.isfinite(f32) & ~np.isfinite(dt.bfloat16_bits_to_float(bits))
            if over.any():
                raise InvalidArgumentError(f"input '{name}' is bfloat16: {f32[over].flat[0]!r} is beyond its range")
            arr = bits
            t.dtype = dt.BFLOAT16
        else:
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            t.dtype = dt.from_numpy(arr.dtype)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        keep.append(arr)  # the library reads it in place during the call
        t.data = arr.ctypes.data if arr.size else None
        t.size = arr.nbytes
        return t

    @staticmethod
    def _small_tensor(name: str, info, code: int, value, keep: list) -> Tensor:
        """An input of a small type (see _dtypes): an ml_dtypes array of that type as it is,
        other values converted through ml_dtypes when it is there; without it, integer values
        (the integer types) or uint8 bit patterns."""
        arr = np.asarray(value)
        want = dt.TO_NUMPY[code]
        if arr.dtype == want and want.kind == "V" or (dt.ml_dtypes is not None and arr.dtype == want):
            raw = arr
        elif dt.ml_dtypes is not None and arr.dtype.kind in "fiub" and arr.dtype.kind != "V":
            raw = arr.astype(want)
        elif arr.dtype == np.uint8 and code not in (dt.INT4, dt.UINT4, dt.INT2, dt.UINT2):
            raw = arr
        elif arr.dtype.kind in "iub" and code in (dt.INT4, dt.UINT4, dt.INT2, dt.UINT2):
            bits = 4 if code in (dt.INT4, dt.UINT4) else 2
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if code in (dt.INT4, dt.INT2) else (0, (1 << bits) - 1)
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise InvalidArgumentError(f"input '{name}' is {info.type}: values must lie in [{lo}, {hi}]")
            raw = (arr.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
        else:
            raise InvalidArgumentError(f"input '{name}' is {info.type}: give an ml_dtypes array (pip install "
                                       f"ml_dtypes) or uint8 bit patterns, not {arr.dtype}")
        return Session._raw_tensor(name, np.ascontiguousarray(raw).view(np.uint8).reshape(arr.shape), code, keep)

    @staticmethod
    def _raw_tensor(name: str, raw: np.ndarray, code: int, keep: list) -> Tensor:
        """A tensor of dtype code over the bytes of raw, read in place."""
        if raw.ndim > MAX_RANK:
            raise InvalidArgumentError(f"input '{name}' has rank {raw.ndim}; tether tensors have at most {MAX_RANK}")
        raw = np.ascontiguousarray(raw)
        t = Tensor()
        t.name = name.encode("utf-8")
        keep.extend((t.name, raw))
        t.rank = raw.ndim
        for i, d in enumerate(raw.shape):
            t.dims[i] = d
        t.dtype = code
        t.data = raw.ctypes.data if raw.size else None
        t.size = raw.nbytes
        return t

    @staticmethod
    def _to_numpy(t: Tensor) -> np.ndarray:
        shape = tuple(int(t.dims[i]) for i in range(t.rank))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if t.dtype == dt.STRING:
            ptrs = ctypes.cast(t.data, ctypes.POINTER(ctypes.c_char_p)) if count else None
            vals = [(ptrs[i] or b"").decode("utf-8", "surrogateescape") for i in range(count)]
            out = np.empty(count, dtype=object)
            out[:] = vals
            return out.reshape(shape)
        if t.dtype == dt.BFLOAT16:
            raw = np.empty(shape, dtype=np.uint16)
        elif t.dtype in dt.SMALL:
            raw = np.empty(shape, dtype=np.uint8)
        else:
            npd = dt.TO_NUMPY.get(t.dtype)
            if npd is None:
                raise UnsupportedError(f"output '{t.name.decode()}' has dtype {t.dtype}, which has no numpy equivalent")
            raw = np.empty(shape, dtype=npd)
        if raw.nbytes != t.size:
            raise InternalError(f"output '{t.name.decode()}': {t.size} bytes for shape {shape} "
                              f"({raw.nbytes} expected)")
        if raw.nbytes:
            ctypes.memmove(raw.ctypes.data, t.data, raw.nbytes)
        if t.dtype in dt.SMALL:
            return dt.small_to_numpy(t.dtype, raw)
        return dt.bfloat16_bits_to_float(raw) if t.dtype == dt.BFLOAT16 else raw

    def run(self, feeds: Mapping[str, object], output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Runs the model. ``feeds`` maps input names to arrays (or anything numpy.asarray
        takes); arrays of another dtype are converted only where every value is kept exactly
        (int32 -> int64 always, int64 -> int32 when every value fits, float64 -> float32 when
        no value rounds), else refused (InvalidArgumentError, naming the value). Returns
        every output (or those named in ``output_names``) as a numpy array the caller owns,
        in model order."""
        if not isinstance(feeds, Mapping):
            raise InvalidArgumentError("feeds must be a dict of input name -> array")
        keep: list = []
        tensors = [self._tensor(str(k), v, keep) for k, v in feeds.items()]
        arr = (Tensor * max(len(tensors), 1))(*tensors)
        out = ctypes.c_void_p()
        L = lib()
        with self._use():
            check(L.tether_session_run(self._handle, arr, len(tensors), ctypes.byref(out)))
        try:
            result = {}
            for i in range(L.tether_outputs_count(out)):
                t = L.tether_outputs_get(out, i).contents
                name = t.name.decode("utf-8", "replace")
                if output_names is None or name in output_names:
                    result[name] = self._to_numpy(t)
        finally:
            L.tether_outputs_free(out)
        if output_names is not None:
            missing = [n for n in output_names if n not in result]
            if missing:
                raise InvalidArgumentError(f"the model has no output {', '.join(map(repr, missing))} "
                                           f"(its outputs: {', '.join(o.name for o in self._outputs)})")
            result = {n: result[n] for n in output_names}
        return result
