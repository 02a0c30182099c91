"""Today's exporters against tether: builds small random-weight models with PyTorch 2.x (a
GPT-2-style decoder, a BERT-style encoder, a Llama-style decoder with RMSNorm, rotary
embeddings, a SiLU-gated MLP and grouped-query attention) and torchvision's resnet50 and
vit_b_16 (random weights, nothing downloaded), exports each with torch.onnx.export's current
default exporter and opset, the sequence length dynamic, runs it with `tether run` and checks
|a - b| <= 1e-4 + 1e-3 |b| against PyTorch, the text models at two sequence lengths. The
GPT-2 and Llama models are also exported at opset 23 (NAME@23), where the exporter writes
the Attention and RMSNormalization ops.

Exports are cached in CACHE/<hash of this script and the torch version>/, so only the first
run pays for them (resnet50 and vit_b_16 take minutes on two cores).

usage: python check_exporters.py TETHER_BIN CACHE [NAME ...]      (with the venv's python,
       see scripts/deps.sh --exporters)
Exits 77 (skipped), saying why, when PyTorch 2.x or torchvision is missing."""
import hashlib
import math
import os
import subprocess
import sys
import tempfile
import time

LENGTHS = (7, 19)  # the two sequence lengths each text model runs at
NAMES = ["gpt2_tiny", "bert_tiny", "llama_tiny", "gpt2_tiny@23", "llama_tiny@23", "resnet50", "vit_b_16"]


def text_models(torch):
    nn, F = torch.nn, torch.nn.functional

    class GPT2Block(nn.Module):
        def __init__(s, d, h):
            super().__init__()
            s.h, s.ln1, s.ln2 = h, nn.LayerNorm(d), nn.LayerNorm(d)
            s.qkv, s.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            s.fc, s.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(s, x):
            b, t, d = x.shape
            q, k, v = s.qkv(s.ln1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, s.h, d // s.h).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + s.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate="tanh"))

    class GPT2(nn.Module):
        def __init__(s, vocab=500, d=64, h=4, layers=2, ctx=64):
            super().__init__()
            s.wte, s.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            s.blocks = nn.ModuleList(GPT2Block(d, h) for _ in range(layers))
            s.ln, s.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

        def forward(s, input_ids):
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            x = s.wte(input_ids) + s.wpe(pos)
            for blk in s.blocks:
                x = blk(x)
            return s.head(s.ln(x))

    class BertLayer(nn.Module):
        def __init__(s, d, h):
            super().__init__()
            s.h, s.q, s.k, s.v, s.o = h, nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
            s.ln1, s.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
            s.fc, s.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(s, x, bias):
            b, t, d = x.shape
            q, k, v = (f(x).view(b, t, s.h, d // s.h).transpose(1, 2) for f in (s.q, s.k, s.v))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // s.h) + bias
            a = torch.softmax(scores, dim=-1) @ v
            x = s.ln1(x + s.o(a.transpose(1, 2).reshape(b, t, d)))
            return s.ln2(x + s.out(F.gelu(s.fc(x))))

    class Bert(nn.Module):
        def __init__(s, vocab=500, d=64, h=4, layers=2, ctx=64):
            super().__init__()
            s.tok, s.pos, s.typ = nn.Embedding(vocab, d), nn.Embedding(ctx, d), nn.Embedding(2, d)
            s.ln = nn.LayerNorm(d, eps=1e-12)
            s.layers = nn.ModuleList(BertLayer(d, h) for _ in range(layers))
            s.pool = nn.Linear(d, d)

        def forward(s, input_ids, attention_mask):
            t = input_ids.shape[1]
            pos = torch.arange(t, device=input_ids.device)
            x = s.ln(s.tok(input_ids) + s.pos(pos) + s.typ(torch.zeros_like(input_ids)))
            bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
            for layer in s.layers:
                x = layer(x, bias)
            return torch.tanh(s.pool(x[:, 0])), x

    class RMSNorm(nn.Module):
        def __init__(s, d, eps=1e-6):
            super().__init__()
            s.w, s.eps = nn.Parameter(1 + 0.1 * torch.randn(d)), eps

        def forward(s, x):
            return s.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s.eps))

    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    class LlamaLayer(nn.Module):
        def __init__(s, d, h, kvh, ff):
            super().__init__()
            s.h, s.kvh, s.hd = h, kvh, d // h
            s.q, s.k = nn.Linear(d, d, bias=False), nn.Linear(d, kvh * s.hd, bias=False)
            s.v, s.o = nn.Linear(d, kvh * s.hd, bias=False), nn.Linear(d, d, bias=False)
            s.gate, s.up, s.down = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)
            s.n1, s.n2 = RMSNorm(d), RMSNorm(d)

        def forward(s, x, cos, sin):
            b, t, d = x.shape
            y = s.n1(x)
            q = s.q(y).view(b, t, s.h, s.hd).transpose(1, 2)
            k = s.k(y).view(b, t, s.kvh, s.hd).transpose(1, 2)
            v = s.v(y).view(b, t, s.kvh, s.hd).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            rep = s.h // s.kvh  # grouped-query attention: each KV head serves rep query heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + s.o(a.transpose(1, 2).reshape(b, t, d))
            y = s.n2(x)
            return x + s.down(F.silu(s.gate(y)) * s.up(y))

    class Llama(nn.Module):
        def __init__(s, vocab=500, d=64, h=4, kvh=2, ff=172, layers=2, theta=10000.0):
            super().__init__()
            s.emb = nn.Embedding(vocab, d)
            s.layers = nn.ModuleList(LlamaLayer(d, h, kvh, ff) for _ in range(layers))
            s.norm, s.head = RMSNorm(d), nn.Linear(d, vocab, bias=False)
            hd = d // h
            s.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd), persistent=False)

        def forward(s, input_ids):
            t = input_ids.shape[1]
            freqs = torch.outer(torch.arange(t, device=input_ids.device).float(), s.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos()[None, None], emb.sin()[None, None]
            x = s.emb(input_ids)
            for layer in s.layers:
                x = layer(x, cos, sin)
            return s.head(s.norm(x))

    return {"gpt2_tiny": GPT2, "bert_tiny": Bert, "llama_tiny": Llama}


def build(name, torch):
    """(model, example inputs at sequence length t -> dict, dynamic_shapes)"""
    torch.manual_seed(0)
    texts = text_models(torch)
    if name in texts:
        m = texts[name]().eval()

        def inputs(t):
            g = torch.Generator().manual_seed(t)
            d = {"input_ids": torch.randint(0, 500, (2, t), generator=g)}
            if name == "bert_tiny":
                mask = torch.ones(2, t, dtype=torch.int64)
                mask[1, t - 3:] = 0  # the second sequence is padded
                d["attention_mask"] = mask
            return d

        seq = torch.export.Dim("seq", min=2, max=64)
        dyn = {k: {1: seq} for k in inputs(LENGTHS[0])}
        return m, inputs, dyn
    import torchvision

    m = getattr(torchvision.models, name)(weights=None).eval()
    if name.startswith("vit"):  # torchvision starts the head at zero: every output would be 0
        torch.nn.init.normal_(m.heads.head.weight, std=0.02)
        torch.nn.init.normal_(m.heads.head.bias, std=0.02)

    def image(t):
        del t
        return {"x": torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))}

    return m, image, None


def export(name, torch, path):
    base, _, opset = name.partition("@")
    m, inputs, dyn = build(base, torch)
    args = inputs(LENGTHS[0])
    # the current default exporter (torch.export-based in PyTorch 2.x) at its default opset
    prog = torch.onnx.export(m, (), kwargs=args, dynamic_shapes=dyn, opset_version=int(opset) if opset else None,
                             verbose=False)
    prog.save(path)  # weights inline when small enough, else next to the model
    return m, inputs


def main():
    tether, cache = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or NAMES
    try:
        import numpy as np
        import onnx
        import torch
        import torchvision  # noqa: F401
    except ImportError as e:
        print(f"skipped: {e} (scripts/deps.sh --exporters makes a venv with PyTorch 2.x)")
        return 77
    if int(torch.__version__.split(".")[0]) < 2:
        print(f"skipped: PyTorch {torch.__version__} is older than 2 (scripts/deps.sh --exporters)")
        return 77
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with open(__file__, "rb") as f:
        key = hashlib.sha256(f.read() + torch.__version__.encode()).hexdigest()[:16]
    root = os.path.join(cache, key)
    os.makedirs(root, exist_ok=True)
    print(f"PyTorch {torch.__version__}, onnx {onnx.__version__}; exports cached in {root}")
    failures = 0
    for name in names:
        file = name.replace("@", "_opset")
        path = os.path.join(root, file + ".onnx")
        lengths = LENGTHS if name.partition("@")[0] in text_models(torch) else LENGTHS[:1]
        want_files = [os.path.join(root, f"{file}.{t}.npz") for t in lengths]
        if not os.path.exists(path) or not all(os.path.exists(f) for f in want_files):
            t0 = time.time()
            with open(os.path.join(root, file + ".log"), "w") as log:  # the exporter's chatter
                old_out, old_err = os.dup(1), os.dup(2)
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                try:
                    m, inputs = export(name, torch, path)
                finally:
                    sys.stdout.flush()
                    os.dup2(old_out, 1)
                    os.dup2(old_err, 2)
            for t, f in zip(lengths, want_files):
                args = inputs(t)
                with torch.no_grad():
                    out = m(**args)
                outs = out if isinstance(out, tuple) else (out,)
                np.savez(f, **{f"in_{k}": v.numpy() for k, v in args.items()},
                         **{f"out_{i}": o.numpy() for i, o in enumerate(outs)})
            print(f"exported {name} in {time.time() - t0:.1f} s")
        model = onnx.load(path, load_external_data=False)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        in_names = [i.name for i in model.graph.input]
        out_names = [o.name for o in model.graph.output]
        ops = sorted({n.op_type for n in model.graph.node})
        ok = True
        for t, f in zip(lengths, want_files):
            data = np.load(f)
            with tempfile.TemporaryDirectory() as d:
                cmd = [tether, "run", path, "--output-dir", d]
                for k in in_names:
                    np.save(os.path.join(d, f"in_{k}.npy"), data[f"in_{k}"])
                    cmd += ["--input", f"{k}={os.path.join(d, f'in_{k}.npy')}"]
                t0 = time.time()
                r = subprocess.run(cmd, capture_output=True, text=True)
                dt = time.time() - t0
                if r.returncode != 0:
                    print(f"FAIL {name} (length {t}): tether run failed: {r.stderr.strip()}")
                    ok = False
                    break
                worst = 0.0
                for i, o in enumerate(out_names):
                    got = np.load(os.path.join(d, o + ".npy"))
                    want = data[f"out_{i}"]
                    if got.shape != want.shape:
                        print(f"FAIL {name} (length {t}): output {o} is {list(got.shape)}, PyTorch's {list(want.shape)}")
                        ok = False
                        continue
                    err = np.abs(got.astype(np.float64) - want)
                    bad = err > 1e-4 + 1e-3 * np.abs(want)
                    if bad.any():
                        j = np.unravel_index(np.argmax(err - 1e-3 * np.abs(want)), want.shape)
                        print(f"FAIL {name} (length {t}): output {o}: {bad.sum()} of {want.size} elements differ; "
                              f"worst at {j}: {got[j]} vs {want[j]}")
                        ok = False
                    worst = max(worst, float(err.max()) if err.size else 0.0)
                if ok:
                    what = f"length {t}" if len(lengths) > 1 else "1x3x224x224"
                    print(f"pass {name} (opset {opset}, {what}): matches PyTorch (max |a-b| {worst:.1e}), "
                          f"tether run {dt:.2f} s")
        if ok:
            print(f"     {name}: {len(model.graph.node)} nodes, ops {' '.join(ops)}")
        failures += not ok
    print(f"{len(names) - failures} passed, {failures} failed, 0 skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
