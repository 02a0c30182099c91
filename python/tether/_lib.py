"""Finding and loading libtether with ctypes, and the C declarations of include/tether.h.

The library is looked for, in order, at $TETHER_LIBRARY, in the build tree this package
sits in (build/lib/libtether.so next to python/), in the package directory (where
``pip install`` copies it), and where the dynamic linker finds ``libtether.so``."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

from ._errors import TetherError, error_for

MAX_RANK = 8
_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent.parent


class Tensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.c_int64 * MAX_RANK),
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
    ]


class ValueInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.c_int64 * MAX_RANK),
        ("dim_names", ctypes.c_char_p * MAX_RANK),
    ]


class InputDims(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("rank", ctypes.c_int),
        ("dims", ctypes.c_int64 * MAX_RANK),
    ]


class SessionConfig(ctypes.Structure):
    """tether_session_config, field for field (tests/python/test_abi.py checks it against
    include/tether.h). tether_session_config_init sets ``size`` to the C struct's size."""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("target", ctypes.c_char_p),
        ("warmup", ctypes.c_int),
        ("quiet", ctypes.c_int),
        ("timeout_ms", ctypes.c_int),
        ("run_limit_ms", ctypes.c_int),
        ("num_threads", ctypes.c_int),
        ("precision", ctypes.c_char_p),
        ("device_memory_limit", ctypes.c_uint64),
        ("input_dims", ctypes.POINTER(InputDims)),
        ("n_input_dims", ctypes.c_size_t),
    ]


class SessionStats(ctypes.Structure):
    _fields_ = [
        ("weight_bytes", ctypes.c_uint64),
        ("activation_bytes", ctypes.c_uint64),
        ("flops", ctypes.c_uint64),
        ("parameters", ctypes.c_uint64),
        ("nodes", ctypes.c_int),
        ("where", ctypes.c_char * 256),
        ("device_bytes", ctypes.c_uint64),
    ]


def new_config() -> SessionConfig:
    """A SessionConfig with the library's defaults. The library's init writes its own
    struct's size, which may be larger than this binding's (a newer library): it writes into
    room to spare, and the binding then says how much of the struct it fills."""
    room = ctypes.create_string_buffer(max(4096, ctypes.sizeof(SessionConfig)))
    lib().tether_session_config_init(room)
    cfg = SessionConfig.from_buffer_copy(room.raw[:ctypes.sizeof(SessionConfig)])
    cfg.size = ctypes.sizeof(SessionConfig)
    return cfg


def config_size_of_library() -> int:
    """sizeof(tether_session_config) as the loaded library was built."""
    room = ctypes.create_string_buffer(4096)
    lib().tether_session_config_init(room)
    return SessionConfig.from_buffer_copy(room.raw[:ctypes.sizeof(SessionConfig)]).size


def candidates() -> list[Path]:
    """Where the library is looked for, in order."""
    env = os.environ.get("TETHER_LIBRARY")
    if env:
        return [Path(env)]  # an explicit choice is not second-guessed
    found = [
        _REPO_DIR / "build" / "lib" / "libtether.so",
        _PACKAGE_DIR / "libtether.so",
    ]
    system = ctypes.util.find_library("tether")
    if system:
        found.append(Path(system))
    return found


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_path: Path | None = None


def _declare(lib: ctypes.CDLL) -> None:
    c = ctypes
    p_session = c.c_void_p
    p_outputs = c.c_void_p
    sigs = {
        "tether_version": (c.c_char_p, []),
        "tether_last_error": (c.c_char_p, []),
        "tether_status_name": (c.c_char_p, [c.c_int]),
        "tether_dtype_name": (c.c_char_p, [c.c_int]),
        "tether_dtype_size": (c.c_size_t, [c.c_int]),
        "tether_set_num_threads": (c.c_int, [c.c_int]),
        "tether_session_config_init": (None, [c.c_void_p]),
        "tether_session_open": (c.c_int, [c.POINTER(p_session), c.c_char_p, c.POINTER(SessionConfig)]),
        "tether_session_open_bytes": (c.c_int, [c.POINTER(p_session), c.c_void_p, c.c_size_t,
                                                c.POINTER(SessionConfig)]),
        "tether_session_free": (None, [p_session]),
        "tether_session_input_count": (c.c_size_t, [p_session]),
        "tether_session_output_count": (c.c_size_t, [p_session]),
        "tether_session_input_info": (c.c_int, [p_session, c.c_size_t, c.POINTER(ValueInfo)]),
        "tether_session_output_info": (c.c_int, [p_session, c.c_size_t, c.POINTER(ValueInfo)]),
        "tether_session_stats_get": (c.c_int, [p_session, c.POINTER(SessionStats)]),
        "tether_session_run": (c.c_int, [p_session, c.POINTER(Tensor), c.c_size_t, c.POINTER(p_outputs)]),
        "tether_outputs_count": (c.c_size_t, [p_outputs]),
        "tether_outputs_get": (c.POINTER(Tensor), [p_outputs, c.c_size_t]),
        "tether_outputs_flops": (c.c_uint64, [p_outputs]),
        "tether_outputs_free": (None, [p_outputs]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in candidates():
            if not path.exists() and path.is_absolute():
                tried.append(f"{path} (not there)")
                continue
            try:
                loaded = ctypes.CDLL(str(path))
            except OSError as e:
                tried.append(f"{path} ({e})")
                continue
            _declare(loaded)
            _lib, _lib_path = loaded, path
            return loaded
        raise TetherError(
            "cannot load libtether: tried " + "; ".join(tried) +
            ". Build it (cmake --build build), install the package from a built tree "
            "(pip install ./python), or point TETHER_LIBRARY at libtether.so")


def lib_path() -> Path:
    lib()
    assert _lib_path is not None
    return _lib_path


def check(status: int) -> None:
    """Raises the exception for a failed call, with the message the library recorded on
    this thread (ctypes calls run on the calling thread, so it is this call's)."""
    if status != 0:
        msg = lib().tether_last_error()
        raise error_for(status, msg.decode("utf-8", "replace") if msg else f"tether call failed ({status})")
