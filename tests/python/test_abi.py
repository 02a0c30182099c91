"""The ctypes copies of include/tether.h's structs match the header field for field, and the
config struct's size as the library sees it; every config field is reachable from Python."""

from __future__ import annotations

import ctypes
import re

import numpy as np

from conftest import REPO

import tether
from tether import _lib

HEADER = (REPO / "include" / "tether.h").read_text()


def c_fields(struct: str) -> list[str]:
    """The field names of `typedef struct NAME { ... } NAME;` in tether.h, in order."""
    m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (struct, struct), HEADER, re.S)
    assert m, f"struct {struct} not found in tether.h"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    names = []
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        name = re.search(r"(\w+)\s*(\[[^\]]*\])?$", decl).group(1)
        names.append(name)
    return names


def test_every_struct_matches_the_header():
    for struct, py in (("tether_session_config", _lib.SessionConfig), ("tether_tensor", _lib.Tensor),
                       ("tether_value_info", _lib.ValueInfo), ("tether_session_stats", _lib.SessionStats)):
        assert [f[0] for f in py._fields_] == c_fields(struct), struct


def test_the_config_size_is_the_librarys():
    assert _lib.config_size_of_library() == ctypes.sizeof(_lib.SessionConfig)
    cfg = _lib.new_config()
    assert cfg.size == ctypes.sizeof(_lib.SessionConfig)
    assert cfg.target == b"cpu" and cfg.warmup == 1 and cfg.num_threads == 0 and cfg.run_limit_ms == 0


def test_every_config_field_is_reachable_from_session(mlp_path):
    """Session's keywords set every field: a wrong value for each is refused by the library,
    so each reaches it."""
    s = tether.Session(mlp_path, target="cpu", warmup=False, quiet=True, timeout_ms=5, run_limit_ms=1000,
                       num_threads=1)
    assert s.run({"x": np.ones((1, 16), np.float32)})["y"].shape == (1, 4)
    for kw in ({"num_threads": -1}, {"run_limit_ms": -1}, {"timeout_ms": -1}, {"precision": "int3"},
               {"input_dims": {"nosuch": [-1, 16]}}):
        try:
            tether.Session(mlp_path, quiet=True, **kw)
        except tether.InvalidArgumentError:
            continue
        raise AssertionError(f"{kw} was not refused: the field did not reach the library")
