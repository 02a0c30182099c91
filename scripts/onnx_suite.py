"""Writes the ONNX backend test suite of the installed `onnx` package into a folder.

Since onnx 1.16 the PyPI wheel no longer carries the generated node tests: it carries
their generators (onnx/backend/test/case/node/*.py). This script runs them and writes
every case the way onnx's own `cmd_tools generate-data` writes model cases
(NAME/model.onnx + NAME/test_data_set_0/{input,output}_K.pb), then copies the folders
the wheel does ship (pytorch-converted, pytorch-operator).

usage: python onnx_suite.py OUTDIR      (run with the venv's python, see scripts/deps.sh)
Writes OUTDIR/{node,simple,pytorch-converted,pytorch-operator}/ and OUTDIR/VERSION."""
import argparse
import os
import shutil
import sys
import warnings


def main():
    out = sys.argv[1]
    import onnx
    import onnx.backend.test.case.model as model_cases
    import onnx.backend.test.case.node as node_cases
    import onnx.backend.test.cmd_tools as cmd_tools

    import numpy as np

    warnings.simplefilter("ignore")  # the generators' numpy warnings (x / 0 on purpose)
    np.random.seed(0)  # most generators draw their inputs from numpy's global generator
    cases = node_cases.collect_testcases() + model_cases.collect_testcases()
    # "real" cases are downloads (a URL in data.json): not part of the suite run here
    cases = [c for c in cases if c.kind in ("node", "simple")]
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # onnx's writer, pointed at our case list
    cmd_tools.model_test.collect_testcases = lambda: cases
    cmd_tools.generate_data(argparse.Namespace(output=tmp))
    shipped = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for kind in ("pytorch-converted", "pytorch-operator"):
        if os.path.isdir(os.path.join(shipped, kind)):
            shutil.copytree(os.path.join(shipped, kind), os.path.join(tmp, kind))
    with open(os.path.join(tmp, "VERSION"), "w") as f:
        f.write(onnx.__version__ + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    counts = {k: len(os.listdir(os.path.join(out, k))) for k in sorted(os.listdir(out))
              if os.path.isdir(os.path.join(out, k))}
    print(f"onnx {onnx.__version__} backend suite in {out}: "
          + ", ".join(f"{k} {n}" for k, n in counts.items()))


if __name__ == "__main__":
    main()
