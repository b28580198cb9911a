#!/usr/bin/python3
"""loss_contrastive_golden.py - golden values for tests/unit/test_loss_contrastive.c.

Implements RepDistiller's CRDLoss (crd/criterion.py: Embed, Normalize, ContrastLoss;
crd/memory.py: ContrastMemory.forward) formula by formula with torch autograd in float64,
with explicit head weights, memory banks and contrast indices, and prints C initializers to
paste into the test. Per case, two calls on the same state: the first sets Z and updates
the memories, the second keeps Z and sees the updated memories. Inputs are multiples of
1/64 from a fixed formula, exact in float and independent of any RNG. Run with
/usr/bin/python3 (Debian's python3-torch).
"""
import math

import torch

from golden_c import tensor_doubles as c_doubles, tensor_floats as c_floats

EPS = 1e-7


def values(rows, cols, phase, amp):
    """Deterministic [rows, cols] values in [-amp, amp], multiples of 1/64."""
    return torch.tensor([[round(64 * amp * math.sin(1.3 * i + 0.7 * k + phase)) / 64
                          for k in range(cols)] for i in range(rows)], dtype=torch.float64)


def normalize(x):
    """RepDistiller's Normalize(2): x / x.pow(2).sum(1).pow(1/2), no epsilon."""
    norm = x.pow(2).sum(1, keepdim=True).pow(1. / 2)
    return x.div(norm)


def contrast_loss(x, n_data):
    """ContrastLoss.forward."""
    bsz = x.shape[0]
    m = x.size(1) - 1
    pn = 1 / float(n_data)
    p_pos = x.select(1, 0)
    log_d1 = torch.div(p_pos, p_pos.add(m * pn + EPS)).log()
    p_neg = x.narrow(1, 1, m)
    log_d0 = torch.div(p_neg.clone().fill_(m * pn), p_neg.add(m * pn + EPS)).log()
    return -(log_d1.sum(0) + log_d0.view(-1, 1).sum(0)) / bsz


class Crd:
    """CRDLoss with ContrastMemory's state; the parameters are leaf tensors."""

    def __init__(self, w_s, b_s, w_t, b_t, memory_s, memory_t, n_data, temp, momentum):
        self.params = [p.clone().requires_grad_(True) for p in (w_s, b_s, w_t, b_t)]
        self.memory_v1, self.memory_v2 = memory_s.clone(), memory_t.clone()
        self.n_data, self.temp, self.momentum = n_data, temp, momentum
        self.z_v1 = self.z_v2 = None

    def forward(self, f_s, f_t, contrast_idx):
        w_s, b_s, w_t, b_t = self.params
        v1 = normalize(f_s @ w_s.t() + b_s)
        v2 = normalize(f_t @ w_t.t() + b_t)
        bsz, k1 = contrast_idx.shape
        dim = v1.shape[1]
        weight_v1 = torch.index_select(self.memory_v1, 0, contrast_idx.view(-1)).view(bsz, k1, dim)
        out_v2 = torch.exp(torch.bmm(weight_v1, v2.view(bsz, dim, 1)) / self.temp)
        weight_v2 = torch.index_select(self.memory_v2, 0, contrast_idx.view(-1)).view(bsz, k1, dim)
        out_v1 = torch.exp(torch.bmm(weight_v2, v1.view(bsz, dim, 1)) / self.temp)
        if self.z_v1 is None:
            self.z_v1 = (out_v1.mean() * self.n_data).item()
            self.z_v2 = (out_v2.mean() * self.n_data).item()
        out_s = out_v1 / self.z_v1
        out_t = out_v2 / self.z_v2
        with torch.no_grad():
            y = contrast_idx[:, 0]
            for memory, v in ((self.memory_v1, v1), (self.memory_v2, v2)):
                pos = torch.index_select(memory, 0, y) * self.momentum + v * (1 - self.momentum)
                memory.index_copy_(0, y, normalize(pos))
        return contrast_loss(out_s, self.n_data) + contrast_loss(out_t, self.n_data)


def c_indices(name, x):
    vals = ", ".join(str(v) for v in x.reshape(-1).tolist())
    return "static const int64_t %s[%d] = {%s};" % (name, x.numel(), vals)


def emit_call(name, crd, f_s, f_t, contrast_idx):
    f_s = f_s.clone().requires_grad_(True)
    for p in crd.params:
        p.grad = None
    loss = crd.forward(f_s, f_t, contrast_idx).sum()
    loss.backward()
    print(c_floats(name + "_s", f_s.detach()))
    print(c_floats(name + "_t", f_t))
    print(c_indices(name + "_idx", contrast_idx))
    print("static const double %s_loss = %.17g;" % (name, loss.item()))
    print(c_doubles(name + "_grad_s", f_s.grad))
    for pname, p in zip(("dw_s", "db_s", "dw_t", "db_t"), crd.params):
        print(c_doubles("%s_%s" % (name, pname), p.grad))
    print(c_doubles(name + "_memory_s", crd.memory_v1))
    print(c_doubles(name + "_memory_t", crd.memory_v2))


def emit_case(name, dims, temp, momentum, calls):
    batch, s_dim, t_dim, feat_dim, n_data, negatives = dims
    stdv = 1 / math.sqrt(feat_dim / 3)
    state = (values(feat_dim, s_dim, 0.3, 0.5), values(1, feat_dim, 1.1, 0.25).view(-1),
             values(feat_dim, t_dim, 2.2, 0.5), values(1, feat_dim, 3.4, 0.25).view(-1),
             values(n_data, feat_dim, 0.9, stdv), values(n_data, feat_dim, 4.1, stdv))
    print("/* %s: B %d, s_dim %d, t_dim %d, feat_dim %d, n_data %d, K %d, T %g, momentum %g */"
          % (name, batch, s_dim, t_dim, feat_dim, n_data, negatives, temp, momentum))
    for pname, x in zip(("w_s", "b_s", "w_t", "b_t", "memory_s", "memory_t"), state):
        print(c_floats("%s_%s" % (name, pname), x))
    crd = Crd(*state, n_data, temp, momentum)
    for i, (phase, contrast_idx) in enumerate(calls):
        assert contrast_idx.shape == (batch, negatives + 1)
        emit_call("%s_%d" % (name, i + 1), crd, values(batch, s_dim, phase, 2.0),
                  values(batch, t_dim, phase + 0.5, 2.0), contrast_idx)
        if i == 0:
            print("static const double %s_log_z[2] = {%.17g, %.17g};"
                  % (name, math.log(crd.z_v1), math.log(crd.z_v2)))


def main():
    idx = torch.tensor
    # Negatives repeat within a row and a positive appears as another row's negative.
    emit_case("a", (3, 5, 4, 3, 7, 4), 0.07, 0.5,
              [(0.0, idx([[2, 0, 5, 6, 0], [5, 1, 2, 3, 4], [0, 6, 6, 1, 3]])),
               (1.7, idx([[4, 1, 2, 3, 6], [2, 6, 5, 0, 1], [6, 0, 3, 2, 5]]))])
    emit_case("b", (4, 6, 3, 5, 9, 3), 0.3, 0.9,
              [(2.5, idx([[8, 0, 3, 5], [1, 8, 7, 2], [3, 4, 4, 6], [6, 2, 1, 0]])),
               (3.9, idx([[0, 1, 2, 3], [7, 5, 3, 8], [2, 6, 0, 7], [5, 4, 8, 1]]))])


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    main()
