#!/usr/bin/env python3
"""Exports the peers' models (resnet18, resnet50, mobilenet_v2, bert_tiny, gpt_tiny) the way
../shared/peers/export_models.py does, with the TorchScript exporter even on a PyTorch
whose default is the dynamo one (2.9 and later), so the graphs are those the CPU benchmark
uses: opset 13, a symbolic batch dim. Same command line as export_models.py:

usage: export.py OUTDIR [NAME ...]     (export_models.py is found beside this file, in
                                        $TETHER_PEERS_PY, or in ../../../shared/peers)"""
import importlib.util, inspect, os, sys

import numpy as np
import torch


def load_peers():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("TETHER_PEERS_PY", ""), os.path.join(here, "export_models.py"),
                 os.path.join(here, "..", "..", ".gpu", "peers", "export_models.py"),
                 os.path.join(here, "..", "..", "..", "shared", "peers", "export_models.py")):
        if path and os.path.exists(path):
            spec = importlib.util.spec_from_file_location("export_models", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise SystemExit("export.py: export_models.py not found (set TETHER_PEERS_PY)")


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or ["resnet18", "resnet50", "mobilenet_v2"]
    peers = load_peers()
    os.makedirs(out, exist_ok=True)
    extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    for name in names:
        torch.manual_seed(0)
        m, x = peers.build(name)
        with torch.no_grad():
            y = m(x)
            if isinstance(y, tuple):
                y = y[0]
        path = os.path.join(out, name)
        torch.onnx.export(m, x, path + ".onnx", opset_version=13, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **extra)
        np.save(path + ".input.npy", x.numpy())
        np.save(path + ".output.npy", y.numpy())
        print(name, "->", path + ".onnx")


if __name__ == "__main__":
    main()
