"""What the `tether` command does, from Python: accelerators (attach, detach, describe),
benchmarks and the cost advisor. These call the command rather than repeat it, so there is
one implementation of each.

The command is looked for at $TETHER_CLI, in the package directory (where ``pip install``
copies it), in the build tree this package sits in, and on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

from ._errors import (InternalError, InvalidArgumentError, NotFoundError, ProtocolError, TetherError,
                      UnsupportedError, error_for)
from ._lib import _PACKAGE_DIR, _REPO_DIR

PathLike = Union[str, "os.PathLike[str]"]


def cli_path() -> Path:
    """The `tether` command this package uses."""
    env = os.environ.get("TETHER_CLI")
    if env:
        return Path(env)
    for p in (_PACKAGE_DIR / "_bin" / "tether", _REPO_DIR / "build" / "bin" / "tether"):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    found = shutil.which("tether")
    if found:
        return Path(found)
    raise NotFoundError("cannot find the tether command: build it (cmake --build build), install the package from "
                        "a built tree (pip install ./python), or point TETHER_CLI at it")


def _is_program(p: Path) -> bool:
    """An executable ELF file: the C command, not a Python script named tether."""
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF" and os.access(p, os.X_OK)
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """The `tether` console script pip installs: runs the tether command (the C program this
    package carries or finds) with the same arguments, so `tether attach ...` works from a
    virtual environment."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    env = os.environ.get("TETHER_CLI")
    candidates = [Path(env)] if env else []
    candidates += [_PACKAGE_DIR / "_bin" / "tether", _REPO_DIR / "build" / "bin" / "tether"]
    candidates += [Path(d) / "tether" for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for p in candidates:
        if p.is_file() and p.resolve() != me and _is_program(p):
            os.execv(str(p), [str(p), *args])
    sys.stderr.write("tether: cannot find the tether command (the C program): build it (cmake --build build), "
                     "install the package from a built tree (pip install --no-build-isolation ./python), or point "
                     "TETHER_CLI at it\n")
    return 127


def _error_from(stderr: str, args: Sequence[str], returncode: int = 1) -> TetherError:
    """The exception for a failed command: the class of the tether_status it reports on its
    "tether-status: CODE NAME" line (TETHER_STATUS_LINE=1, which _run sets), so that a
    server's refusal raises the same AuthError, QuotaError, BusyError, ... as it does through
    a Session; a failure without one (a usage error) is told by its text."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    status = None
    if lines and lines[-1].startswith("tether-status: "):
        try:
            status = int(lines[-1].split()[1])
        except (IndexError, ValueError):
            status = None
        lines = lines[:-1]
    msg = lines[-1] if lines else f"tether {' '.join(args)} failed"
    if msg.startswith("tether "):
        msg = msg.split(": ", 1)[-1] if ": " in msg else msg
    if status is not None:
        return error_for(status, msg)
    if returncode == 2:  # a usage error: the arguments were wrong
        return InvalidArgumentError(msg)
    low = msg.lower()
    if "not implemented" in low or "not supported" in low:
        return UnsupportedError(msg)
    if "no such" in low or "not found" in low or "no accelerator" in low:
        return NotFoundError(msg)
    return TetherError(msg)


def _run(args: Sequence[str], *, stdin: str | None = None, ok_codes=(0,), timeout: float | None = None):
    env = dict(os.environ, TETHER_STATUS_LINE="1")
    proc = subprocess.run([str(cli_path()), *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=env)
    if proc.returncode not in ok_codes:
        raise _error_from(proc.stderr, args, proc.returncode)
    return proc


def _json(proc, args) -> object:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise _error_from(proc.stderr or f"tether {args[0]} printed no JSON", args) from None


# ---- accelerators ---------------------------------------------------------------------------------


def describe_accelerators() -> list[dict]:
    """The accelerators attached to this host (as `tether describe-accelerators --json`
    lists them): one dict per device, with at least ordinal, type, id and status."""
    args = ["describe-accelerators", "--json"]
    doc = _json(_run(args), args)
    if isinstance(doc, list):
        return doc
    for key in ("devices", "accelerators"):
        if isinstance(doc, dict) and isinstance(doc.get(key), list):
            return doc[key]
    raise ProtocolError("tether describe-accelerators --json printed an unexpected document")


def attach(type: str, server: str | None = None, key: str | None = None, *, fleet: str | None = None,
           zone: str | None = None) -> dict:
    """Reserves an accelerator slot of ``type`` (e.g. "eia2.medium") on the tetherd at
    ``server`` ("HOST:PORT", "tls://HOST:PORT"), or through a ``fleet`` of servers
    ("etcd://HOST:PORT": the least-loaded server with a free slot, optionally in ``zone``;
    ``server`` then pins one), and records it on this host. ``key`` is the reservation key a
    server started with ``--reserve-keys`` asks for (default: $TETHER_RESERVE_KEY). Returns
    the new attachment's entry from :func:`describe_accelerators`; its ordinal is what
    ``"eia:N"`` names."""
    if not type or not (server or fleet):
        raise InvalidArgumentError("attach needs an accelerator type and a server (HOST:PORT) or a fleet")
    if zone and not fleet:
        raise InvalidArgumentError("zone places through a fleet: give fleet= too")
    try:
        before = {d.get("id") for d in describe_accelerators()}
    except UnsupportedError:
        raise
    except TetherError:
        before = set()
    args = ["attach", type]
    if server:
        args += ["--server", server]
    if fleet:
        args += ["--fleet", fleet]
    if zone:
        args += ["--zone", zone]
    if key:
        # through a pipe, not the command line, where other users could read it
        _run(args + ["--key-file", "/dev/stdin"], stdin=key + "\n")
    else:
        _run(args)
    after = describe_accelerators()
    new = [d for d in after if d.get("id") not in before]
    if len(new) == 1:
        return new[0]
    # Several appeared at once (another process attached too): the one of our type, newest.
    mine = [d for d in new if d.get("type") == type] or new
    if mine:
        return max(mine, key=lambda d: d.get("ordinal", -1))
    raise InternalError(f"tether attach {type} succeeded, but no new attachment is listed")


def detach(ordinal: int) -> None:
    """Releases the accelerator attached as ``ordinal``."""
    _run(["detach", str(int(ordinal))])


# ---- benchmarks and advice ----------------------------------------------------------------------


def bench(model: PathLike, target: str = "cpu", *, runs: int = 100, warmup: int = 10, batch: int = 1,
          concurrency: int = 1, sweep: bool = False, server: str | None = None, types: Iterable[str] | None = None,
          host: str | None = None, raw: bool = False, timeout: float | None = None) -> dict:
    """Runs `tether bench --json` and returns its document: ``rows`` (one per target, with
    first_ms, mean_ms, p50_ms ... p99_ms, throughput_per_s, price_per_hour, cost_per_100k)
    and, for a sweep, ``skipped`` (the accelerator types that could not be measured, and why)."""
    args = ["bench", os.fspath(model), "--json", "--runs", str(runs), "--warmup", str(warmup), "--batch", str(batch),
            "--concurrency", str(concurrency)]
    if sweep:
        args.append("--sweep")
        if server:
            args += ["--server", server]
        if types:
            args += ["--types", ",".join(types)]
    else:
        args += ["--target", target]
    if host:
        args += ["--host", host]
    if raw:
        args.append("--raw")
    return _json(_run(args, timeout=timeout), args)


def advise(inputs: Union[PathLike, Mapping, Sequence], *, max_p90_ms: float | None = None,
           max_p95_ms: float | None = None, max_p99_ms: float | None = None, allow_mixed: bool = False,
           utilization: float | None = None,
           max_mean_ms: float | None = None, min_accelerator_memory: Union[str, int, None] = None,
           prices: PathLike | None = None, host: str | None = None, svg: PathLike | None = None,
           monthly_volume: float | None = None, serverless_ms: float | None = None,
           serverless_memory_mb: float | None = None, serverless_request_price: float | None = None,
           serverless_gb_second_price: float | None = None) -> dict:
    """Runs `tether advise --json` and returns its document: ``rows`` sorted by cost per
    100,000 inferences (each with meets_constraints and why_not), ``recommended`` (a row, or
    None with ``reason``), ``runner_up``, ``savings`` and, with ``monthly_volume``, the
    serverless comparison.

    ``inputs``: a path (bench JSON, or a CSV, tab-separated or Markdown table), a list of
    paths, a bench document (a dict with "rows"), or a list of row dicts (host, accelerator,
    price_per_hour, mean_ms, and optionally p90_ms, p95_ms, p99_ms, batch, model).
    ``allow_mixed`` compares rows of different models or batch sizes; ``utilization`` is the
    busy share of an always-on instance in the serverless comparison. ``svg``: where to
    write the chart (none by default)."""
    args = ["advise", "--json"]
    stdin = None
    if isinstance(inputs, Mapping):
        stdin = json.dumps(inputs)
        args.append("-")
    elif isinstance(inputs, (str, os.PathLike)):
        args.append(os.fspath(inputs))
    else:
        items = list(inputs)
        if items and all(isinstance(i, Mapping) for i in items):
            stdin = json.dumps({"rows": items})
            args.append("-")
        elif items and all(isinstance(i, (str, os.PathLike)) for i in items):
            args += [os.fspath(i) for i in items]
        else:
            raise InvalidArgumentError("advise: inputs must be a path, a list of paths, a bench document "
                                       "or a list of row dicts")
    if allow_mixed:
        args.append("--allow-mixed")
    opts = {"--max-p90-ms": max_p90_ms, "--max-p95-ms": max_p95_ms, "--max-p99-ms": max_p99_ms,
            "--utilization": utilization, "--max-mean-ms": max_mean_ms,
            "--min-accelerator-memory": min_accelerator_memory, "--prices": prices, "--host": host,
            "--monthly-volume": monthly_volume, "--serverless-ms": serverless_ms,
            "--serverless-memory-mb": serverless_memory_mb, "--serverless-request-price": serverless_request_price,
            "--serverless-gb-second-price": serverless_gb_second_price}
    for flag, val in opts.items():
        if val is not None:
            args += [flag, os.fspath(val) if isinstance(val, os.PathLike) else str(val)]
    args += ["--svg", os.fspath(svg)] if svg is not None else ["--no-svg"]
    # Exit status 1 with a JSON document means "no row meets the constraints": an answer.
    proc = _run(args, stdin=stdin, ok_codes=(0, 1))
    return _json(proc, args)
