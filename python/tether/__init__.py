"""tether: run ONNX models on this host's CPU or on a right-sized slice of a remote
accelerator, and find the cheapest host + accelerator combination that meets a latency
target.

    import numpy as np, tether
    s = tether.Session("model.onnx", target="cpu")      # "eia:0" runs on attached accelerator 0
    y = s.run({"x": np.ones((1, 3), np.float32)})["y"]

Code written for ONNX Runtime runs with ``import tether as ort`` (InferenceSession,
SessionOptions, providers mapped to targets), and code written for TensorFlow's EIPredictor
with ``from tether import EIPredictor``; see docs/migrating.md.

A ctypes binding of libtether (found via $TETHER_LIBRARY, the build tree, or this package's
directory); benchmarks, advice and attachments go through the `tether` command."""

from ._errors import (AuthError, BusyError, InternalError, InvalidArgumentError, InvalidModelError, NetworkError,
                      NoMemoryError, NotFoundError, ProtocolError, QuotaError, ShapeError, TetherError,
                      TetherIOError, TetherRuntimeError, TetherTimeoutError, UnsupportedError)
from ._session import Session, TensorInfo
from ._predictor import EIPredictor, Predictor
from ._ort import (ExecutionMode, ExecutionOrder, GraphOptimizationLevel, InferenceSession, NodeArg, RunOptions,
                   SessionOptions, get_all_providers, get_available_providers, get_device)
from ._cli import advise, attach, bench, cli_path, describe_accelerators, detach
from . import _lib

__version__ = "0.1.0"

__all__ = [
    "Session", "TensorInfo", "Predictor", "EIPredictor", "InferenceSession", "SessionOptions", "RunOptions",
    "NodeArg", "GraphOptimizationLevel", "ExecutionMode", "ExecutionOrder", "get_available_providers",
    "get_all_providers", "get_device", "describe_accelerators", "attach", "detach", "bench", "advise",
    "version", "library_path", "cli_path", "set_num_threads",
    "TetherError", "InvalidArgumentError", "InvalidModelError", "UnsupportedError", "NoMemoryError",
    "TetherIOError", "ShapeError", "TetherRuntimeError", "NotFoundError", "QuotaError", "AuthError",
    "NetworkError", "TetherTimeoutError", "ProtocolError", "BusyError", "InternalError",
]


def version() -> str:
    """The loaded libtether's version."""
    return _lib.lib().tether_version().decode()


def library_path():
    """The path of the libtether this package loaded."""
    return _lib.lib_path()


def set_num_threads(n: int) -> None:
    """Sizes the library's thread pool (before the first session opens to take effect)."""
    _lib.check(_lib.lib().tether_set_num_threads(int(n)))
