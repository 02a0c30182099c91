"""`pip install ./python` offline into a fresh virtual environment: the installed package
carries libtether.so and the tether command, and works away from the source tree.

Skipped where Debian's python3-venv is not installed (venv cannot make an environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, cli_path


def test_pip_install_offline_into_a_venv(tmp_path, mlp_path):
    lib = os.environ.get("TETHER_LIBRARY", str(REPO / "build" / "lib" / "libtether.so"))
    assert os.path.isfile(lib), f"libtether.so is not built at {lib}"
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], capture_output=True,
                          text=True, timeout=120)
    if made.returncode != 0:
        pytest.skip(f"python3 -m venv does not work here (python3-venv missing?): {made.stderr.strip()[-200:]}")
    # Build from a copy, so pip's in-tree build leaves nothing in the source tree; the build
    # outputs are named through the variables setup.py honours.
    src = tmp_path / "python"
    shutil.copytree(REPO / "python", src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = dict(os.environ, TETHER_LIBRARY=lib, TETHER_CLI=str(cli_path()), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", str(src)], capture_output=True,
                         text=True, timeout=300, env=env)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]

    # Away from the tree and without the variables: the package must find its own copies.
    clean = {k: v for k, v in os.environ.items() if k not in ("TETHER_LIBRARY", "TETHER_CLI", "PYTHONPATH")}
    probe = textwrap.dedent(f"""
        import numpy as np, tether
        print(tether.library_path())
        print(tether.cli_path())
        s = tether.Session({str(mlp_path)!r}, quiet=True)
        print(s.run({{"x": np.ones((2, 16), np.float32)}})["y"].shape)
        print(tether.bench({str(mlp_path)!r}, runs=3, warmup=0)["rows"][0]["target"])
    """)
    run = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=clean)
    assert run.returncode == 0, run.stderr
    libpath, clipath, shape, target = run.stdout.split("\n")[:4]
    assert libpath.startswith(str(venv)) and libpath.endswith("libtether.so")
    assert clipath.startswith(str(venv)) and clipath.endswith("_bin/tether")
    assert shape == "(2, 4)" and target == "cpu"
