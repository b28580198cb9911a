"""Build the teacher-model fixtures for kdc's tests.

Trains three small Fashion-MNIST classifiers in PyTorch and exports them to ONNX:

* mlp_teacher.onnx - 784-512-256-10 MLP. Its flatten is written as
  x.view(x.size(0), -1) on purpose, so the exporter emits the
  Shape/Gather/Unsqueeze/Concat/Reshape pattern the frontend must handle.
* cnn_teacher.onnx - two Conv/BatchNorm/ReLU/MaxPool blocks and two Linear
  layers. BatchNormalization is kept as its own op (not fused into Conv).
* resnet_teacher.onnx - a small ResNet (stem + three BasicBlocks of 16/32/64
  channels, strides 1/2/2, global average pool, Linear). It is exported with
  torch.onnx.export's defaults, the way a user would, so every BatchNorm is
  folded into the Conv before it: the file has no BatchNormalization node.

Besides the .onnx files it writes teachers.json (accuracies, epochs, versions,
op types) and golden input/logit .npy files for parity checks. Before
finishing it checks every file: the ONNX checker, the op types, and a small
numpy evaluation of each ONNX graph against the PyTorch golden logits.

Run with Debian's python (it has torch and onnx):
    /usr/bin/python3 tests/models/make_teachers.py [--threads N] [NAME...]
Without NAME it builds all teachers. With NAMEs it builds only those: the other
teachers' files are left untouched, and their teachers.json entries are kept
as they are (the new entries are merged in, in the fixed teacher order).
"""

import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

DATA_DIR = "/usr/share/datasets/fashion-mnist"
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.2860, 0.3530
OPSET = 13
BATCH = 128
N_GOLDEN = 8
MAX_BYTES = 5 * 1024 * 1024

# Per teacher: epochs and peak learning rate (cosine-annealed to 0 per step).
PLAN = {
    "mlp_teacher": {"epochs": 10, "lr": 0.05},
    "cnn_teacher": {"epochs": 10, "lr": 0.05},
    "resnet_teacher": {"epochs": 15, "lr": 0.1},
}

# Arguments that keep BatchNormalization as an op. With the default
# training=TrainingMode.EVAL torch 1.13 folds BN into the preceding Conv;
# PRESERVE with the model in eval() exports BN in inference mode (one output,
# running statistics as inputs). Constant folding is switched off because
# torch warns it may alter parameters in PRESERVE/TRAIN modes.
EXPORT_ARGS = {
    "opset_version": OPSET,
    "input_names": ["input"],
    "output_names": ["logits"],
    "dynamic_axes": {"input": {0: "batch"}, "logits": {0: "batch"}},
    "training": torch.onnx.TrainingMode.PRESERVE,
    "do_constant_folding": False,
}

# The user's way: torch.onnx.export defaults (training=TrainingMode.EVAL,
# do_constant_folding=True). torch 1.13 folds each BatchNorm into the Conv
# before it, so no BatchNormalization node is left.
DEFAULT_EXPORT_ARGS = {
    "opset_version": OPSET,
    "input_names": ["input"],
    "output_names": ["logits"],
    "dynamic_axes": {"input": {0: "batch"}, "logits": {0: "batch"}},
}


# ---------------------------------------------------------------- data

def read_idx(path):
    """Read a gzip-compressed IDX file into a uint8 numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def normalize(pixels):
    """uint8 [N,28,28] -> float32 [N,1,28,28], scaled then standardized."""
    x = pixels.astype(np.float32) * np.float32(1.0 / 255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :].astype(np.float32)


def load_split(split):
    """Return (images float32 [N,1,28,28], labels int64 [N]) for a split."""
    images = read_idx(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"))
    return normalize(images), labels.astype(np.int64)


# ---------------------------------------------------------------- models

class MLPTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x.view(x.size(0), -1)  # on purpose: exports Shape/Gather/.../Reshape
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


def conv_block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
            nn.ReLU(), nn.MaxPool2d(2)]


class CNNTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*conv_block(1, 32), *conv_block(32, 64))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Conv3x3-BN-ReLU-Conv3x3-BN plus shortcut, Add, ReLU (as in ResNet-18).

    The shortcut is the identity, or Conv1x1(stride)-BN when the shape changes.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(1, 16), nn.BatchNorm2d(16),
                                  nn.ReLU(inplace=True))
        self.layer1 = BasicBlock(16, 16, 1)   # 28x28
        self.layer2 = BasicBlock(16, 32, 2)   # 14x14
        self.layer3 = BasicBlock(32, 64, 2)   # 7x7
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out",
                                        nonlinearity="relu")

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


# name -> (model class, export arguments), in teachers.json order
TEACHERS = {
    "mlp_teacher": (MLPTeacher, EXPORT_ARGS),
    "cnn_teacher": (CNNTeacher, EXPORT_ARGS),
    "resnet_teacher": (ResNetTeacher, DEFAULT_EXPORT_ARGS),
}


# ---------------------------------------------------------------- training

def evaluate(model, x, y):
    """Top-1 accuracy of model on tensors x, y (eval mode)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            pred = model(x[i:i + 1000]).argmax(1)
            correct += (pred == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(model, data, epochs, lr):
    """SGD + momentum + weight decay, cosine LR per step; returns accuracy."""
    xtr, ytr, xte, yte = data
    steps = epochs * ((len(xtr) + BATCH - 1) // BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(1, epochs + 1):
        start = time.time()
        model.train()
        order = torch.randperm(len(xtr))
        for i in range(0, len(xtr), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xte, yte)
        print(f"  epoch {epoch}/{epochs}: loss {loss.item():.4f} "
              f"test acc {acc:.4f} ({time.time() - start:.0f}s)", flush=True)
    return acc


# ---------------------------------------------------------------- export

def export(model, path, export_args):
    """Export model (eval mode) to ONNX and return the loaded, checked proto."""
    model.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    torch.onnx.export(model, dummy, path, **export_args)
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


def check_ops(name, m):
    """Fail unless the graph has the ops this fixture exists to provide."""
    ops = op_types(m)
    need = {"mlp_teacher": ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"],
            "cnn_teacher": ["Conv", "BatchNormalization", "MaxPool"],
            "resnet_teacher": ["Conv", "Relu", "Add", "GlobalAveragePool",
                               "Gemm"]}[name]
    missing = [op for op in need if op not in ops]
    if missing:
        sys.exit(f"{name}: missing op types {missing}; have {ops}")
    for node in m.graph.node:
        if node.op_type == "BatchNormalization" and len(node.output) != 1:
            sys.exit(f"{name}: BatchNormalization exported in training mode")
    if name == "resnet_teacher":
        check_resnet_graph(m, ops)
    return ops


def check_resnet_graph(m, ops):
    """The default export must have folded every BatchNorm into its Conv."""
    allowed = {"Conv", "Relu", "Add", "GlobalAveragePool", "Flatten",
               "Reshape", "Gemm"}
    if "BatchNormalization" in ops:
        sys.exit("resnet_teacher: BatchNormalization was not folded into Conv")
    extra = [op for op in ops if op not in allowed]
    if extra:
        sys.exit(f"resnet_teacher: unexpected op types {extra}; have {ops}")
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    # stem 1 + block1 2 + block2 (2 + projection) + block3 (2 + projection)
    if len(convs) != 9:
        sys.exit(f"resnet_teacher: {len(convs)} Conv nodes, expected 9")
    for node in convs:
        # every Conv was bias-free in PyTorch; a bias means BN was folded in
        if len(node.input) != 3 or not node.input[2]:
            sys.exit(f"resnet_teacher: Conv {node.name} has no folded bias")
    adds = sum(n.op_type == "Add" for n in m.graph.node)
    if adds != 3:
        sys.exit(f"resnet_teacher: {adds} Add nodes, expected 3")


# ---------------------------------------------------------------- numpy check

def np_conv(x, w, b, a):
    """2-D convolution, group 1, dilation 1, any stride, via im2col.

    b may be None (no bias input); a holds the node's attributes.
    """
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise NotImplementedError("Conv with group or dilation")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv with auto_pad")
    pads = a.get("pads", [0, 0, 0, 0])
    sh, sw = a.get("strides", [1, 1])
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (x.shape[2] - kh) // sh + 1
    ow = (x.shape[3] - kw) // sw + 1
    cols = np.stack([x[:, :, i:i + sh * (oh - 1) + 1:sh,
                       j:j + sw * (ow - 1) + 1:sw]
                     for i in range(kh) for j in range(kw)], axis=2)
    cols = cols.reshape(n, c * kh * kw, oh * ow)
    out = np.einsum("kc,ncp->nkp", w.reshape(k, -1), cols)
    if b is not None:
        out = out + b[None, :, None]
    return out.reshape(n, k, oh, ow)


def np_maxpool(x, k):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))


def np_node(node, a, env):
    """Evaluate one ONNX node with numpy; a = dict of attributes."""
    i = [env[name] if name else None for name in node.input]
    op = node.op_type
    if op == "Constant":
        return numpy_helper.to_array(a["value"])
    if op == "Identity":
        return i[0]
    if op == "Shape":
        return np.array(i[0].shape, dtype=np.int64)
    if op == "Gather":
        return np.take(i[0], i[1], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        return np.expand_dims(i[0], tuple(int(v) for v in i[1]))
    if op == "Concat":
        return np.concatenate(i, axis=a["axis"])
    if op == "Reshape":
        return i[0].reshape(tuple(int(v) for v in i[1]))
    if op == "Flatten":
        return i[0].reshape(int(np.prod(i[0].shape[:a.get("axis", 1)])), -1)
    if op == "Relu":
        return np.maximum(i[0], 0)
    if op == "Gemm":
        b = i[1].T if a.get("transB", 0) else i[1]
        return a.get("alpha", 1.0) * (i[0] @ b) + a.get("beta", 1.0) * i[2]
    if op == "MatMul":
        return i[0] @ i[1]
    if op == "Add":
        return i[0] + i[1]
    if op == "Conv":
        return np_conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
    if op == "GlobalAveragePool":
        return i[0].mean(axis=tuple(range(2, i[0].ndim)), keepdims=True)
    if op == "BatchNormalization":
        s = (i[1] / np.sqrt(i[4] + a.get("epsilon", 1e-5)))[None, :, None, None]
        return (i[0] - i[3][None, :, None, None]) * s + i[2][None, :, None, None]
    if op == "MaxPool":
        return np_maxpool(i[0], a["kernel_shape"][0])
    raise NotImplementedError(op)


def np_run(m, x):
    """Run the ONNX graph on x with numpy (enough ops for these teachers)."""
    env = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    env[m.graph.input[0].name] = x
    for node in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a)
                 for a in node.attribute}
        env[node.output[0]] = np_node(node, attrs, env)
    return env[m.graph.output[0].name]


# ---------------------------------------------------------------- main

def write_golden(name, model, x):
    """Save the first N_GOLDEN inputs and PyTorch eval logits as .npy."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
    np.save(os.path.join(OUT_DIR, f"{name}_golden_input.npy"), x)
    np.save(os.path.join(OUT_DIR, f"{name}_golden_logits.npy"), logits)
    return logits


def build(name, data, golden_x):
    """Train, export, verify and write goldens for one teacher."""
    cls, export_args = TEACHERS[name]
    plan = PLAN[name]
    print(f"{name}: {plan['epochs']} epochs, lr {plan['lr']}", flush=True)
    torch.manual_seed(0)
    model = cls()
    start = time.time()
    acc = train(model, data, plan["epochs"], plan["lr"])
    seconds = time.time() - start
    path = os.path.join(OUT_DIR, f"{name}.onnx")
    m = export(model, path, export_args)
    ops = check_ops(name, m)
    size = os.path.getsize(path)
    if size >= MAX_BYTES:
        sys.exit(f"{name}: {size} bytes, over the 5 MB limit")
    logits = write_golden(name, model, golden_x)
    diff = float(np.abs(np_run(m, golden_x) - logits).max())
    if diff > 1e-3:
        sys.exit(f"{name}: numpy run of the ONNX file differs by {diff}")
    print(f"{name}: test acc {acc:.4f}, {size} bytes, {seconds:.0f}s, "
          f"onnx-vs-torch max diff {diff:.2e}\n  ops: {ops}", flush=True)
    return {"file": f"{name}.onnx", "test_accuracy": round(acc, 4),
            "epochs": plan["epochs"], "lr": plan["lr"],
            "train_seconds": round(seconds), "bytes": size, "op_types": ops,
            "golden_input": f"{name}_golden_input.npy",
            "golden_logits": f"{name}_golden_logits.npy"}


def parse_args(argv):
    """Return (threads, names) from [--threads N] [NAME...]."""
    threads, names = 2, []
    it = iter(argv)
    for arg in it:
        if arg == "--threads":
            value = next(it, "")
            threads = int(value) if value.isdigit() else 0
            if threads < 1:
                sys.exit("--threads needs a positive number")
        elif arg in TEACHERS:
            if arg not in names:
                names.append(arg)
        else:
            sys.exit(f"usage: make_teachers.py [--threads N] [NAME...]\n"
                     f"unknown argument {arg!r}; teachers: "
                     f"{', '.join(TEACHERS)}")
    return threads, names or list(TEACHERS)


def main():
    threads, names = parse_args(sys.argv[1:])
    torch.set_num_threads(threads)
    start = time.time()
    json_path = os.path.join(OUT_DIR, "teachers.json")
    old = {}
    if len(names) < len(TEACHERS):
        # Keep the entries of the teachers not rebuilt; they need the file.
        with open(json_path) as f:
            old = json.load(f).get("teachers", {})
        absent = [n for n in TEACHERS if n not in names and n not in old]
        if absent:
            print(f"note: teachers.json has no entry for {absent} "
                  "(not built now)", flush=True)
    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    data = (torch.from_numpy(xtr), torch.from_numpy(ytr),
            torch.from_numpy(xte), torch.from_numpy(yte))
    golden_x = np.ascontiguousarray(xte[:N_GOLDEN])
    built = {name: build(name, data, golden_x) for name in names}
    # Fixed order: the known teachers first, then any unknown old entries.
    teachers = {}
    for name in list(TEACHERS) + [n for n in old if n not in TEACHERS]:
        if name in built:
            teachers[name] = built[name]
        elif name in old:
            teachers[name] = old[name]
    info = {"torch_version": torch.__version__, "onnx_version": onnx.__version__,
            "opset": OPSET, "seed": 0, "batch_size": BATCH,
            "normalization": {"scale": "1/255", "mean": MEAN, "std": STD},
            "test_set": "fashion-mnist t10k (10000 images)",
            "teachers": teachers}
    with open(json_path, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(f"done in {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
