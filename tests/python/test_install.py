"""`pip install ./python` offline into a fresh virtual environment: the installed package
carries libtether.so and the tether command, and works away from the source tree.

Skipped where Debian's python3-venv is not installed (venv cannot make an environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

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
    # offline: the build backend is Debian's setuptools, not one fetched into an isolated env
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-build-isolation", str(src)],
                         capture_output=True, text=True, timeout=300, env=env)
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

    # the `tether` console script runs the command
    script = venv / "bin" / "tether"
    assert script.is_file()
    ver = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env=clean)
    assert ver.returncode == 0 and ver.stdout.strip() == "tether 0.1.0", ver.stderr
    info = subprocess.run([str(script), "info", str(mlp_path), "--json"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=clean)
    assert info.returncode == 0 and '"parameters"' in info.stdout, info.stderr
    usage = subprocess.run([str(script), "run"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=clean)
    assert usage.returncode == 2 and "no model given" in usage.stderr


def test_cmake_install_is_a_library_install(tmp_path):
    """`cmake --install` puts the library, header, pkg-config file, programs, tetherd's unit
    and man pages under the prefix; a C program builds against it with pkg-config alone."""
    build = Path(os.environ.get("TETHER_LIBRARY", str(REPO / "build" / "lib" / "libtether.so"))).parents[1]
    prefix = tmp_path / "prefix"
    inst = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], capture_output=True, text=True,
                          timeout=300)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    libdirs = [d for d in prefix.iterdir() if d.name.startswith("lib")]
    files = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file() or p.is_symlink()}
    for want in ("bin/tether", "bin/tetherd", "include/tether.h", "share/man/man1/tether.1",
                 "share/man/man8/tetherd.8", "lib/systemd/system/tetherd.service"):
        assert want in files, f"{want} not installed: {sorted(files)}"
    pcs = list(prefix.rglob("tether.pc"))
    assert len(pcs) == 1 and libdirs
    unit = (prefix / "lib/systemd/system/tetherd.service").read_text()
    assert f"ExecStart={prefix}/bin/tetherd " in unit
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tether"], capture_output=True, text=True, env=env)
    assert flags.returncode == 0 and f"-I{prefix}/include" in flags.stdout, flags.stderr
    src = tmp_path / "hello.c"
    src.write_text(textwrap.dedent("""
        #include <stdio.h>
        #include <tether.h>
        int main(void) {
            tether_session_config cfg;
            tether_session_config_init(&cfg);
            printf("%s %d %s\\n", tether_version(), cfg.size == sizeof cfg, cfg.target);
            return 0;
        }
    """))
    cc = subprocess.run(["cc", str(src), "-o", str(tmp_path / "hello"), *flags.stdout.split()], capture_output=True,
                        text=True)
    assert cc.returncode == 0, cc.stderr
    libdir = pcs[0].parent.parent
    out = subprocess.run([str(tmp_path / "hello")], capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    assert out.returncode == 0 and out.stdout.strip() == "0.1.0 1 cpu", out.stderr
    # the installed programs run from the prefix
    ver = subprocess.run([str(prefix / "bin" / "tether"), "--version"], capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    assert ver.returncode == 0 and ver.stdout.strip() == "tether 0.1.0"
