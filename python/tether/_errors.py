"""Exceptions: one class per tether_status, each carrying the library's message."""

from __future__ import annotations

__all__ = [
    "TetherError", "InvalidArgumentError", "InvalidModelError", "UnsupportedError", "NoMemoryError",
    "TetherIOError", "ShapeError", "TetherRuntimeError", "NotFoundError", "QuotaError", "AuthError",
    "NetworkError", "TetherTimeoutError", "ProtocolError", "BusyError", "InternalError",
]


class TetherError(Exception):
    """A failed tether call. ``status`` is the tether_status code, ``status_name`` its name
    (e.g. ``"TETHER_ERR_SHAPE"``) and ``message`` the library's message."""

    status = -1
    status_name = "TETHER_ERR"

    def __init__(self, message: str, status: int | None = None, status_name: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name


class InvalidArgumentError(TetherError, ValueError):
    status, status_name = 1, "TETHER_ERR_INVALID_ARGUMENT"


class InvalidModelError(TetherError, ValueError):
    status, status_name = 2, "TETHER_ERR_INVALID_MODEL"


class UnsupportedError(TetherError):
    status, status_name = 3, "TETHER_ERR_UNSUPPORTED"


class NoMemoryError(TetherError, MemoryError):
    status, status_name = 4, "TETHER_ERR_NO_MEMORY"


class TetherIOError(TetherError):
    status, status_name = 5, "TETHER_ERR_IO"


class ShapeError(TetherError, ValueError):
    status, status_name = 6, "TETHER_ERR_SHAPE"


class TetherRuntimeError(TetherError):
    status, status_name = 7, "TETHER_ERR_RUNTIME"


class NotFoundError(TetherError, LookupError):
    status, status_name = 8, "TETHER_ERR_NOT_FOUND"


class QuotaError(TetherError):
    status, status_name = 9, "TETHER_ERR_QUOTA"


class AuthError(TetherError):
    status, status_name = 10, "TETHER_ERR_AUTH"


class NetworkError(TetherError, ConnectionError):
    status, status_name = 11, "TETHER_ERR_NETWORK"


class TetherTimeoutError(TetherError, TimeoutError):
    status, status_name = 12, "TETHER_ERR_TIMEOUT"


class ProtocolError(TetherError):
    status, status_name = 13, "TETHER_ERR_PROTOCOL"


class BusyError(TetherError):
    status, status_name = 14, "TETHER_ERR_BUSY"


class InternalError(TetherError):
    status, status_name = 15, "TETHER_ERR_INTERNAL"


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, InvalidModelError, UnsupportedError, NoMemoryError, TetherIOError, ShapeError,
    TetherRuntimeError, NotFoundError, QuotaError, AuthError, NetworkError, TetherTimeoutError, ProtocolError,
    BusyError, InternalError)}


def error_for(status: int, message: str) -> TetherError:
    """The exception for a tether_status code (TetherError for a code this module does not know)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return TetherError(message, status, f"TETHER_STATUS_{status}")
    return cls(message)
