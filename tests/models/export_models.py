#!/usr/bin/python3
"""Exports the real models the tests check to ONNX (opset 13), each with a reference input and
PyTorch's output: torchvision classifiers (resnet18, resnet50, mobilenet_v2, or any other
torchvision.models name) and two small transformers built from torch.nn (bert_tiny, an
encoder; gpt_tiny, a causal decoder). Random weights, seeded: the outputs are what matters.

usage: export_models.py OUTDIR [NAME ...]   (default: resnet18 resnet50 mobilenet_v2)
writes OUTDIR/NAME.onnx, OUTDIR/NAME.input.npy, OUTDIR/NAME.output.npy"""
import os
import sys

import numpy as np
import torch
import torchvision


class TinyTransformer(torch.nn.Module):
    """Token embeddings plus learned positions, four encoder layers (width 256, 4 heads),
    and a linear head over a 1000-token vocabulary; causal masks the future."""

    def __init__(self, causal: bool):
        super().__init__()
        self.embed = torch.nn.Embedding(1000, 256)
        self.positions = torch.nn.Parameter(torch.randn(1, 64, 256) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True, activation="gelu")
        self.encoder = torch.nn.TransformerEncoder(layer, 4)
        self.head = torch.nn.Linear(256, 1000)
        self.register_buffer("mask", torch.triu(torch.full((64, 64), float("-inf")), 1) if causal else None)

    def forward(self, ids):
        n = ids.shape[1]
        h = self.embed(ids) + self.positions[:, :n]
        return self.head(self.encoder(h, mask=None if self.mask is None else self.mask[:n, :n]))


def build(name):
    if name in ("bert_tiny", "gpt_tiny"):
        return TinyTransformer(causal=name == "gpt_tiny").eval(), torch.randint(0, 1000, (1, 16))
    model = getattr(torchvision.models, name)().eval()
    side = 299 if name.startswith("inception") else 224
    return model, torch.rand(1, 3, side, side)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    names = sys.argv[2:] or ["resnet18", "resnet50", "mobilenet_v2"]
    os.makedirs(out, exist_ok=True)
    for name in names:
        torch.manual_seed(0)
        model, x = build(name)
        with torch.no_grad():
            y = model(x)
        y = y[0] if isinstance(y, tuple) else y
        base = os.path.join(out, name)
        torch.onnx.export(model, x, base + ".onnx", opset_version=13, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        np.save(base + ".input.npy", x.numpy())
        np.save(base + ".output.npy", y.numpy())
        print(name, "->", base + ".onnx")


if __name__ == "__main__":
    main()
