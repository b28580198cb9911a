"""make_data.py - small Fashion-MNIST subsets and recipes for kdc's end-to-end tests.

Writes into OUT_DIR (argument 1):
  train_x.npy uint8 [4096,28,28], train_y.npy int64 [4096]  - first training images
  test_x.npy  uint8 [256,28,28],  test_y.npy  int64 [256]   - first test images
  test_input.npy float32 [256,1,28,28] - test_x normalized as the recipes do (model input)
  cnn.yaml, mlp.yaml - one-epoch recipes distilling the committed teachers at width 0.5
  cnn_batchnorm.yaml - cnn.yaml with train_norm: batchnorm (dense too) on a teacher that
                   keeps BatchNormalization of its own
  bad_size.yaml  - training images of 32x32 (big_x/big_y.npy), which the teachers cannot take
  bad_label.yaml - a training label of 10 for 10-class teachers
  big_input.npy  - float32 [2,1,32,32], a model input of the wrong size
Run with Debian's python (/usr/bin/python3, numpy from python3-numpy).
"""
import gzip
import os
import struct
import sys

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_TRAIN, N_TEST = 4096, 256
MEAN, STD = 0.2860, 0.3530


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndims = raw[3]
    dims = struct.unpack(">" + "I" * ndims, raw[4:4 + 4 * ndims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def recipe(teacher, train_x, train_y, output, student="{width: 0.5}"):
    return f"""kdc: 1
teacher: {os.path.join(ROOT, 'tests/models', teacher)}
data:
  train: {{format: npy, inputs: {train_x}, labels: {train_y}}}
  test: {{format: npy, inputs: test_x.npy, labels: test_y.npy}}
  normalize: {{scale: 0.00392156862745098, mean: [{MEAN}], std: [{STD}]}}
student: {student}
distill: {{temperature: 4, alpha: 0.9}}
train: {{epochs: 1, batch_size: 64, lr: 0.05, momentum: 0.9, weight_decay: 0.0005, schedule: cosine, seed: 0}}
output: {output}
"""


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    train_x = read_idx("train-images-idx3-ubyte.gz")[:N_TRAIN]
    train_y = read_idx("train-labels-idx1-ubyte.gz")[:N_TRAIN].astype(np.int64)
    test_x = read_idx("t10k-images-idx3-ubyte.gz")[:N_TEST]
    test_y = read_idx("t10k-labels-idx1-ubyte.gz")[:N_TEST].astype(np.int64)
    np.save(os.path.join(out, "train_x.npy"), np.ascontiguousarray(train_x))
    np.save(os.path.join(out, "train_y.npy"), train_y)
    np.save(os.path.join(out, "test_x.npy"), np.ascontiguousarray(test_x))
    np.save(os.path.join(out, "test_y.npy"), test_y)
    norm = ((test_x.astype(np.float32) / 255.0 - MEAN) / STD).astype(np.float32)
    np.save(os.path.join(out, "test_input.npy"), norm.reshape(N_TEST, 1, 28, 28))
    np.save(os.path.join(out, "big_x.npy"), np.zeros((64, 32, 32), dtype=np.uint8))
    np.save(os.path.join(out, "big_y.npy"), train_y[:64])
    np.save(os.path.join(out, "big_input.npy"), np.zeros((2, 1, 32, 32), dtype=np.float32))
    bad_y = train_y.copy()
    bad_y[7] = 10
    np.save(os.path.join(out, "bad_y.npy"), bad_y)
    files = {
        "cnn.yaml": recipe("cnn_teacher.onnx", "train_x.npy", "train_y.npy", "cnn_student.onnx"),
        "mlp.yaml": recipe("mlp_teacher.onnx", "train_x.npy", "train_y.npy", "mlp_student.onnx"),
        "cnn_batchnorm.yaml": recipe("cnn_teacher.onnx", "train_x.npy", "train_y.npy", "cnn_batchnorm_student.onnx",
                                     "{width: 0.5, train_norm: batchnorm, train_norm_dense: true}"),
        "bad_size.yaml": recipe("cnn_teacher.onnx", "big_x.npy", "big_y.npy", "bad_size_student.onnx"),
        "bad_label.yaml": recipe("cnn_teacher.onnx", "train_x.npy", "bad_y.npy", "bad_label_student.onnx"),
    }
    for name, text in files.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
