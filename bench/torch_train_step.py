"""torch_train_step.py - PyTorch's speed at kdc's training step, for bench/train_vs_torch.sh.

Trains the same student kdc derives from tests/models/cnn_teacher.onnx at width 0.5
(conv 16 -> conv 32 -> fc 64 -> 10, BatchNorm, ReLU, max pooling) with the same loss
(KD with T=4, alpha=0.9 against fixed teacher logits, plus cross-entropy) and optimizer
(SGD, momentum 0.9, weight decay 5e-4) at batch 128 on 2 threads, and prints
"torch: N images/s". Run with Debian's python: /usr/bin/python3.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, STEPS, WARMUP, T, ALPHA = 128, 200, 20, 4.0, 0.9


def student():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def step(model, opt, x, t, y):
    s = model(x)
    kd = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    loss = ALPHA * kd + (1 - ALPHA) * F.cross_entropy(s, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = student().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(BATCH, 1, 28, 28)
    t = torch.randn(BATCH, 10)
    y = torch.randint(0, 10, (BATCH,))
    for _ in range(WARMUP):
        step(model, opt, x, t, y)
    start = time.perf_counter()
    for _ in range(STEPS):
        step(model, opt, x, t, y)
    seconds = time.perf_counter() - start
    print("torch: %.0f images/s (%.2f ms per step of %d)" % (STEPS * BATCH / seconds, 1e3 * seconds / STEPS, BATCH))


if __name__ == "__main__":
    main()
