"""Export the model zoo that checks kdc against onnxruntime on real architectures.

Builds eleven models with random weights (no downloads: there is no network for
pretrained weights) and exports each to tests/models/zoo/<name>.onnx the way a
user would: eval mode, torch.onnx.export's defaults (BatchNorm folded into the
Conv before it, constant folding on), opset 13, a dynamic batch axis.

* torchvision at 3x64x64, num_classes=10: resnet18, resnet50, mobilenet_v2,
  mobilenet_v3_small, efficientnet_b0, densenet121, shufflenet_v2_x1_0,
  squeezenet1_1.
* unet: 3 down / 3 up levels of Conv-BN-ReLU, MaxPool, ConvTranspose and a
  bilinear Upsample, Concat skips; 3x64x64 in, a 4-class map 4x64x64 out.
* bert: int64 token ids [batch, 16] (vocab 1000), token + position embeddings,
  2 post-norm encoder layers (4 heads, d=64, GELU MLP); outputs the last
  hidden state [batch, 16, 64] and pooled logits [batch, 10].
* vit: 3x32x32 image, 8x8 patches by a strided Conv, class token, 2 pre-norm
  encoder layers as above, logits [batch, 10].

Before export, BatchNorm running statistics are measured on a few random
batches (train-mode forward passes, no weight updates): with torchvision's
initial mean 0 / variance 1 the folded BN would be an identity and
activations of deep nets would drift far from O(1), which real models don't.

Beside each model it writes <name>_b1.npy and <name>_b8.npy (seeded random
inputs; int64 token ids for bert), and it keeps zoo.json (params, bytes, op
types, inputs, outputs, committed) and zoo/.gitignore up to date: models under
3 MiB are committed with their inputs, larger ones are ignored and regenerated
by tests/zoo_parity.sh when torch is installed.

Run with Debian's python (torch 1.13, torchvision 0.14, onnx 1.12):
    /usr/bin/python3 tests/models/export_zoo.py [NAME...]
With no NAME every model is exported.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

ZOO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")
OPSET = 13
NUM_CLASSES = 10
COMMIT_LIMIT = 3 * 1024 * 1024       # a model at or over this is not committed
COMMIT_TOTAL_LIMIT = 15 * 1024 * 1024
BN_CALIBRATION_BATCHES = 4


# ---------------------------------------------------------------- U-Net

def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def double_conv(cin, cout):
    return nn.Sequential(*conv_bn_relu(cin, cout), *conv_bn_relu(cout, cout))


class UNet(nn.Module):
    """Three down and three up levels; both ways to upsample appear."""

    def __init__(self, classes=4):
        super().__init__()
        self.enc1, self.enc2 = double_conv(3, 16), double_conv(16, 32)
        self.enc3, self.bottom = double_conv(32, 64), double_conv(64, 128)
        self.pool = nn.MaxPool2d(2)
        self.up3 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec3 = double_conv(128, 64)
        self.up2 = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(64, 32, 1))
        self.dec2 = double_conv(64, 32)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec1 = double_conv(32, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        b = self.bottom(self.pool(e3))
        d3 = self.dec3(torch.cat([self.up3(b), e3], dim=1))
        d2 = self.dec2(torch.cat([self.up2(d3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


# ---------------------------------------------------------------- transformers

class SelfAttention(nn.Module):
    """Multi-head self-attention written out as exporters see it in the wild:
    separate q/k/v projections (BERT) or one fused qkv projection (ViT)."""

    def __init__(self, d, heads, fused_qkv):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.fused = fused_qkv
        if fused_qkv:
            self.qkv = nn.Linear(d, 3 * d)
        else:
            self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def split_heads(self, t, b, s):
        return t.view(b, s, self.heads, self.dh).transpose(1, 2)

    def forward(self, x):
        b, s, d = x.shape
        if self.fused:
            qkv = self.qkv(x).view(b, s, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            q, k, v = (self.split_heads(f(x), b, s) for f in (self.q, self.k, self.v))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.dh)
        ctx = torch.matmul(scores.softmax(dim=-1), v)
        return self.out(ctx.transpose(1, 2).reshape(b, s, d))


class EncoderLayer(nn.Module):
    """Attention + GELU MLP with LayerNorm: post-norm (BERT) or pre-norm (ViT)."""

    def __init__(self, d, heads, pre_norm):
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = SelfAttention(d, heads, fused_qkv=pre_norm)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        if self.pre_norm:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


class Bert(nn.Module):
    """BERT-style encoder; positions are sliced from a buffer as HF does."""

    def __init__(self, vocab=1000, max_pos=64, d=64, heads=4, layers=2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_pos, d)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0))
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList(EncoderLayer(d, heads, False) for _ in range(layers))
        self.pooler = nn.Linear(d, d)
        self.classifier = nn.Linear(d, NUM_CLASSES)

    def forward(self, ids):
        pos = self.position_ids[:, :ids.size(1)]
        x = self.ln(self.tok(ids) + self.pos(pos))
        for layer in self.layers:
            x = layer(x)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, self.classifier(pooled)


class ViT(nn.Module):
    """ViT-style encoder: Conv patch embedding, class token, pre-norm layers."""

    def __init__(self, image=32, patch=8, d=64, heads=4, layers=2):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, d) * 0.02)
        self.layers = nn.ModuleList(EncoderLayer(d, heads, True) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, NUM_CLASSES)

    def forward(self, img):
        x = self.patch(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.ln(x)[:, 0])


# ---------------------------------------------------------------- the zoo

def torchvision_model(name):
    return lambda: getattr(torchvision.models, name)(num_classes=NUM_CLASSES)


IMAGE_64 = ("input", "float32", [3, 64, 64])

# name -> (constructor, input (name, dtype, per-item shape), output names).
# The order is the order tests/zoo_parity.sh reports them in.
ZOO = {name: (torchvision_model(name), IMAGE_64, ["logits"]) for name in [
    "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small",
    "efficientnet_b0", "densenet121", "shufflenet_v2_x1_0", "squeezenet1_1"]}
ZOO["unet"] = (UNet, IMAGE_64, ["segmentation"])
ZOO["bert"] = (Bert, ("input_ids", "int64", [16]), ["last_hidden_state", "logits"])
ZOO["vit"] = (ViT, ("input", "float32", [3, 32, 32]), ["logits"])


def make_input(spec, batch, rng):
    """A seeded random batch: N(0,1) images or token ids in [0, 1000)."""
    _, dtype, shape = spec
    if dtype == "int64":
        return rng.integers(0, 1000, size=[batch] + shape, dtype=np.int64)
    return rng.standard_normal([batch] + shape).astype(np.float32)


def calibrate_batchnorm(model, spec):
    """Set BN running statistics from random batches, weights untouched."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(BN_CALIBRATION_BATCHES):
            model(torch.randn([16] + spec[2]))


def export(model, spec, outputs, path):
    """Export as a user would (defaults: BN folded), batch axis dynamic."""
    model.eval()
    dummy = torch.from_numpy(make_input(spec, 2, np.random.default_rng(1)))
    axes = {name: {0: "batch"} for name in [spec[0]] + outputs}
    torch.onnx.export(model, dummy, path, opset_version=OPSET,
                      input_names=[spec[0]], output_names=outputs,
                      dynamic_axes=axes)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def op_types(m):
    """Distinct op types of a model, in order of first appearance."""
    seen = []
    for node in m.graph.node:
        if node.op_type not in seen:
            seen.append(node.op_type)
    return seen


def build(name):
    """Export one model and its inputs; return its zoo.json entry."""
    ctor, spec, outputs = ZOO[name]
    torch.manual_seed(0)
    model = ctor()
    calibrate_batchnorm(model, spec)
    path = os.path.join(ZOO_DIR, f"{name}.onnx")
    m = export(model, spec, outputs, path)
    rng = np.random.default_rng(0)
    for batch in (1, 8):
        np.save(os.path.join(ZOO_DIR, f"{name}_b{batch}.npy"), make_input(spec, batch, rng))
    params = sum(p.numel() for p in model.parameters())
    size = os.path.getsize(path)
    ops = op_types(m)
    print(f"{name}: {params} parameters, {size} bytes, {len(m.graph.node)} nodes\n"
          f"  ops: {' '.join(ops)}", flush=True)
    return {"parameters": params, "bytes": size, "nodes": len(m.graph.node),
            "op_types": ops, "input": {"name": spec[0], "dtype": spec[1],
                                       "shape": ["batch"] + spec[2]},
            "outputs": outputs, "committed": size < COMMIT_LIMIT}


def load_manifest(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)["models"]


def write_manifest(path, models):
    """zoo.json in ZOO order, plus the .gitignore that follows from it."""
    ordered = {n: models[n] for n in ZOO if n in models}
    committed = sum(e["bytes"] for e in ordered.values() if e["committed"])
    if committed >= COMMIT_TOTAL_LIMIT:
        sys.exit(f"committed zoo models total {committed} bytes, over 15 MiB")
    info = {"torch_version": torch.__version__,
            "torchvision_version": torchvision.__version__,
            "onnx_version": onnx.__version__, "opset": OPSET, "seed": 0,
            "committed_bytes": committed, "models": ordered}
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    with open(os.path.join(ZOO_DIR, ".gitignore"), "w") as f:
        f.write("# Written by export_zoo.py: models of 3 MiB or more (and their inputs)\n"
                "# are regenerated by tests/zoo_parity.sh, never committed.\n")
        for name, e in ordered.items():
            if not e["committed"]:
                f.write(f"/{name}.onnx\n/{name}_b1.npy\n/{name}_b8.npy\n")


def main():
    names = sys.argv[1:] or list(ZOO)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        sys.exit(f"unknown model {unknown[0]}; the zoo has: {' '.join(ZOO)}")
    torch.set_num_threads(2)
    os.makedirs(ZOO_DIR, exist_ok=True)
    manifest_path = os.path.join(ZOO_DIR, "zoo.json")
    models = load_manifest(manifest_path)
    for name in names:
        models[name] = build(name)
    write_manifest(manifest_path, models)


if __name__ == "__main__":
    main()
