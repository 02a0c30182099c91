"""Builds the tether Python package (metadata in pyproject.toml). When the C build exists (../build, or the files named
by TETHER_LIBRARY / TETHER_CLI), libtether.so and the `tether` command are copied into the
package, so the installed package works without the source tree. No compiler runs here."""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


def _built(env: str, rel: str):
    p = Path(os.environ[env]) if os.environ.get(env) else HERE.parent / rel
    return p.resolve() if p.is_file() else None


LIBRARY = _built("TETHER_LIBRARY", "build/lib/libtether.so")
CLI = _built("TETHER_CLI", "build/bin/tether")


class BuildPy(build_py):
    """Copies the built library and command into the package."""

    def run(self):
        super().run()
        dest = Path(self.build_lib) / "tether"
        if LIBRARY:
            shutil.copy2(LIBRARY, dest / "libtether.so")
            plugin = LIBRARY.parent / "libtether_cuda.so"  # libtether looks for it beside itself
            if plugin.is_file():
                shutil.copy2(plugin, dest / "libtether_cuda.so")
        else:
            print("tether: no built libtether.so found (../build/lib); the installed package will look for it "
                  "through TETHER_LIBRARY or the system's library path")
        if CLI:
            (dest / "_bin").mkdir(exist_ok=True)
            shutil.copy2(CLI, dest / "_bin" / "tether")


class BinaryDistribution(Distribution):
    """With a native library inside, the wheel is for this platform only."""

    def has_ext_modules(self):
        return bool(LIBRARY or CLI)


# Metadata (name, version, dependencies, the `tether` console script) is in pyproject.toml.
setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
