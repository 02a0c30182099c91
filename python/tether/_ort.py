"""ONNX Runtime's Python API over tether sessions, so that code written for onnxruntime runs
with its import changed (``import tether as ort``)::

    sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    (y,) = sess.run(None, {name: x})

Execution providers name tether targets: ``CPUExecutionProvider`` is ``cpu``,
``CUDAExecutionProvider`` is ``cuda:N`` (its ``device_id`` option, default 0) and
``("TetherExecutionProvider", {"target": "eia:0"})`` any tether target. The first provider
whose target opens is used; one whose target is not available here is passed over with a
warning when a later provider is listed (``disable_fallback()`` makes that an error), and is
an error when it is the last. ``SessionOptions.intra_op_num_threads`` caps the threads one
run uses and ``log_severity_level`` below 2 lets the session say where it runs; the other
options are accepted so that code setting them runs, and change nothing."""

from __future__ import annotations

import os
import warnings
from enum import IntEnum
from typing import Any, Mapping, Sequence

import numpy as np

from . import _dtypes as dt
from ._errors import InvalidArgumentError, TetherError, UnsupportedError
from ._session import Session, TensorInfo

ORT_TYPES = {
    dt.FLOAT: "tensor(float)", dt.UINT8: "tensor(uint8)", dt.INT8: "tensor(int8)", dt.UINT16: "tensor(uint16)",
    dt.INT16: "tensor(int16)", dt.INT32: "tensor(int32)", dt.INT64: "tensor(int64)", dt.STRING: "tensor(string)",
    dt.BOOL: "tensor(bool)", dt.FLOAT16: "tensor(float16)", dt.DOUBLE: "tensor(double)", dt.UINT32: "tensor(uint32)",
    dt.UINT64: "tensor(uint64)", dt.COMPLEX64: "tensor(complex64)", dt.COMPLEX128: "tensor(complex128)",
    dt.BFLOAT16: "tensor(bfloat16)",
}
_BY_NAME = {v: k for k, v in dt.NAMES.items()}

PROVIDERS = ("TetherExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class GraphOptimizationLevel(IntEnum):
    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_ALL = 99


class ExecutionMode(IntEnum):
    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


class ExecutionOrder(IntEnum):
    DEFAULT = 0
    PRIORITY_BASED = 1


class SessionOptions:
    """ONNX Runtime's session options. ``intra_op_num_threads`` (0: every thread of the
    process pool) and ``log_severity_level`` take effect; the rest are kept and ignored."""

    __slots__ = ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "execution_mode",
                 "execution_order", "log_severity_level", "log_verbosity_level", "logid", "enable_profiling",
                 "profile_file_prefix", "enable_mem_pattern", "enable_mem_reuse", "enable_cpu_mem_arena",
                 "optimized_model_filepath", "use_deterministic_compute", "_entries")

    def __init__(self):
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.execution_mode = ExecutionMode.ORT_SEQUENTIAL
        self.execution_order = ExecutionOrder.DEFAULT
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.enable_profiling = False
        self.profile_file_prefix = "onnxruntime_profile_"
        self.enable_mem_pattern = True
        self.enable_mem_reuse = True
        self.enable_cpu_mem_arena = True
        self.optimized_model_filepath = ""
        self.use_deterministic_compute = False
        self._entries: dict[str, str] = {}

    def add_session_config_entry(self, key: str, value: str) -> None:
        self._entries[str(key)] = str(value)

    def get_session_config_entry(self, key: str) -> str:
        if key not in self._entries:
            raise InvalidArgumentError(f"SessionOptions has no config entry '{key}'")
        return self._entries[key]

    def register_custom_ops_library(self, path: str) -> None:
        raise UnsupportedError(f"custom op libraries ({path}) are ONNX Runtime plugins; tether cannot load them")


class RunOptions:
    """ONNX Runtime's run options: accepted, and without effect on a tether run."""

    __slots__ = ("log_severity_level", "log_verbosity_level", "logid", "terminate", "only_execute_path_to_fetches",
                 "_entries")

    def __init__(self):
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.terminate = False
        self.only_execute_path_to_fetches = False
        self._entries: dict[str, str] = {}

    def add_run_config_entry(self, key: str, value: str) -> None:
        self._entries[str(key)] = str(value)

    def get_run_config_entry(self, key: str) -> str:
        return self._entries[key]


class NodeArg:
    """An input or output as ONNX Runtime describes it: ``name``, ``type`` such as
    ``'tensor(float)'`` and ``shape``, a list of ints and dimension names (None where the
    model names neither)."""

    __slots__ = ("name", "type", "shape")

    def __init__(self, info: TensorInfo):
        self.name = info.name
        code = _BY_NAME.get(info.type)
        self.type = ORT_TYPES.get(code, info.type)
        self.shape = list(info.shape) if info.shape is not None else None

    def __repr__(self) -> str:
        return f"NodeArg(name='{self.name}', type='{self.type}', shape={self.shape})"


def _provider_list(providers, provider_options) -> list[tuple[str, dict]]:
    if providers is None:
        providers = ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    out = []
    for i, p in enumerate(providers):
        opts: Mapping[str, Any] = {}
        if isinstance(p, (tuple, list)):
            if len(p) != 2 or not isinstance(p[0], str) or not isinstance(p[1], Mapping):
                raise InvalidArgumentError(f"provider {p!r}: expected a name or a (name, options dict) pair")
            p, opts = p
        if not isinstance(p, str):
            raise InvalidArgumentError(f"provider {p!r}: expected a name such as 'CPUExecutionProvider'")
        if provider_options is not None:
            if len(provider_options) != len(providers):
                raise InvalidArgumentError("provider_options must have one dict per provider")
            opts = {**opts, **provider_options[i]}
        if p not in PROVIDERS:
            raise InvalidArgumentError(f"unknown execution provider '{p}' (tether has {', '.join(PROVIDERS)})")
        out.append((p, {str(k): v for k, v in opts.items()}))
    if not out:
        raise InvalidArgumentError("providers is empty: name at least one, e.g. ['CPUExecutionProvider']")
    return out


def provider_target(name: str, opts: Mapping[str, Any]) -> str:
    """The tether target an execution provider stands for."""
    if name == "CPUExecutionProvider":
        return "cpu"
    if name == "CUDAExecutionProvider":
        try:
            dev = int(opts.get("device_id", 0))
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"CUDAExecutionProvider: device_id {opts.get('device_id')!r} is not a number")
        return f"cuda:{dev}"
    target = opts.get("target")
    if not isinstance(target, str) or not target:
        raise InvalidArgumentError("TetherExecutionProvider needs a target option, e.g. "
                                   "('TetherExecutionProvider', {'target': 'eia:0'})")
    return target


def _target_unavailable(e: TetherError, target: str) -> bool:
    """Whether an open failed because the target is not there (rather than the model)."""
    return target in e.message and e.status_name in (
        "TETHER_ERR_UNSUPPORTED", "TETHER_ERR_NOT_FOUND", "TETHER_ERR_NETWORK", "TETHER_ERR_TIMEOUT",
        "TETHER_ERR_AUTH", "TETHER_ERR_BUSY")


class InferenceSession:
    """onnxruntime.InferenceSession over a tether session (see the module's text)."""

    def __init__(self, path_or_bytes, sess_options: SessionOptions | None = None, providers=None,
                 provider_options=None, **kwargs):
        if kwargs:
            raise TypeError(f"InferenceSession got unexpected keyword arguments: {', '.join(kwargs)}")
        if sess_options is not None and not isinstance(sess_options, SessionOptions):
            raise InvalidArgumentError("sess_options must be a tether.SessionOptions")
        self._model = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) \
            else os.fspath(path_or_bytes)
        self._model_path = None if isinstance(self._model, (bytes, bytearray, memoryview)) else self._model
        self._options = sess_options or SessionOptions()
        self._fallback = True
        self._session: Session | None = None
        self._open(providers, provider_options)

    def _open(self, providers, provider_options) -> None:
        plist = _provider_list(providers, provider_options)
        o = self._options
        threads = int(o.intra_op_num_threads or 0)
        if threads < 0:
            raise InvalidArgumentError(f"intra_op_num_threads {threads} is negative")
        first_error = None
        for i, (name, opts) in enumerate(plist):
            target = provider_target(name, opts)
            try:
                session = Session(self._model, target=target, quiet=o.log_severity_level >= 2, num_threads=threads)
            except TetherError as e:
                last = i == len(plist) - 1
                if last or not self._fallback or not _target_unavailable(e, target):
                    if first_error is not None:
                        raise type(e)(f"{e.message} (after {first_error[0]}: {first_error[1].message})") from e
                    raise
                first_error = first_error or (name, e)
                warnings.warn(f"tether: {name} (target {target}) is not available: {e.message}; trying "
                              f"{plist[i + 1][0]}", RuntimeWarning, stacklevel=3)
                continue
            old, self._session = self._session, session
            if old is not None:
                old.close()
            self._provider = (name, opts)
            self._inputs = [NodeArg(t) for t in session.inputs]
            self._outputs = [NodeArg(t) for t in session.outputs]
            return

    # ---- description ---------------------------------------------------------------------------

    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def get_overridable_initializers(self) -> list[NodeArg]:
        return []

    def get_providers(self) -> list[str]:
        return [self._provider[0]]

    def get_provider_options(self) -> dict[str, dict]:
        return {self._provider[0]: {k: str(v) for k, v in self._provider[1].items()}}

    def get_session_options(self) -> SessionOptions:
        return self._options

    @property
    def target(self) -> str:
        """The tether target the session runs on ("cpu", "cuda:0", "eia:0", ...)."""
        return self._session.target

    # ---- providers -----------------------------------------------------------------------------

    def set_providers(self, providers=None, provider_options=None) -> None:
        """Reopens the model on the first available provider of the new list."""
        if self._model_path is None and isinstance(self._model, memoryview):
            self._model = bytes(self._model)
        self._open(providers, provider_options)

    def disable_fallback(self) -> None:
        self._fallback = False

    def enable_fallback(self) -> None:
        self._fallback = True

    # ---- running -------------------------------------------------------------------------------

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any],
            run_options: RunOptions | None = None) -> list[np.ndarray]:
        """Runs the model on ``input_feed`` (input name -> array) and returns the outputs
        named in ``output_names`` (every output, in model order, when None or empty) as a list."""
        if run_options is not None and not isinstance(run_options, RunOptions):
            raise InvalidArgumentError("run_options must be a tether.RunOptions")
        if not isinstance(input_feed, Mapping):
            raise InvalidArgumentError("input_feed must be a dict of input name -> array")
        names = list(output_names) if output_names else [o.name for o in self._outputs]
        out = self._session.run(input_feed, output_names=names)
        return [out[n] for n in names]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> "InferenceSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# A one-node model (Identity on float[1]) to find out whether a target opens here.
_PROBE_MODEL = (b'\x08\x08:7\n\x10\n\x01x\x12\x01y"\x08Identity\x12\x01pZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12\x04'
                b'\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r')


def get_available_providers() -> list[str]:
    """The providers a session can use on this host: CUDAExecutionProvider where a cuda:0
    session opens, then TetherExecutionProvider and CPUExecutionProvider."""
    found = []
    try:
        Session(_PROBE_MODEL, target="cuda:0", quiet=True, warmup=False).close()
        found.append("CUDAExecutionProvider")
    except TetherError:
        pass
    return found + ["TetherExecutionProvider", "CPUExecutionProvider"]


def get_all_providers() -> list[str]:
    return list(PROVIDERS)


def get_device() -> str:
    """'GPU' where a cuda:0 session opens, else 'CPU' (as onnxruntime.get_device says)."""
    return "GPU" if "CUDAExecutionProvider" in get_available_providers() else "CPU"
