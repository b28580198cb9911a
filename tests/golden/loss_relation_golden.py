#!/usr/bin/python3
"""loss_relation_golden.py - golden values for tests/unit/test_loss_relation.c.

Computes RKD and PKT losses and their gradients w.r.t. the student with torch autograd in
float64, following RepDistiller's RKDLoss (distiller_zoo/RKD.py) and PKT
(distiller_zoo/PKT.py) formula by formula, and prints C initializers to paste into the
test. Inputs are small dyadic fractions (multiples of 1/128) built from a fixed formula, so
they are exact in float and independent of any RNG. Run with /usr/bin/python3 (Debian's python3-torch).
"""
import math

import torch
import torch.nn.functional as F

from golden_c import tensor_doubles as c_doubles, tensor_floats as c_floats


def features(rows, cols, phase):
    """Deterministic [rows, cols] values in [-2, 2], multiples of 1/16."""
    return torch.tensor([[round(32 * math.sin(1.3 * i + 0.7 * k + phase)) / 16
                          for k in range(cols)] for i in range(rows)], dtype=torch.float64)


def pdist(e, eps=1e-12):
    """RepDistiller's pdist with squared=False."""
    e_square = e.pow(2).sum(dim=1)
    prod = e @ e.t()
    res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * prod).clamp(min=eps).sqrt()
    res = res.clone()
    res[range(len(e)), range(len(e))] = 0
    return res


def rkd_terms(s, t):
    """(loss_d, loss_a) of RKDLoss.forward, unweighted."""
    t_d = pdist(t)
    t_d = t_d / t_d[t_d > 0].mean()
    d = pdist(s)
    d = d / d[d > 0].mean()
    loss_d = F.smooth_l1_loss(d, t_d)
    td = t.unsqueeze(0) - t.unsqueeze(1)
    t_angle = torch.bmm(F.normalize(td, p=2, dim=2),
                        F.normalize(td, p=2, dim=2).transpose(1, 2)).view(-1)
    sd = s.unsqueeze(0) - s.unsqueeze(1)
    norm_sd = F.normalize(sd, p=2, dim=2)
    s_angle = torch.bmm(norm_sd, norm_sd.transpose(1, 2)).view(-1)
    loss_a = F.smooth_l1_loss(s_angle, t_angle)
    return loss_d, loss_a


def pkt(output_net, target_net, eps=1e-7):
    """PKT.cosine_similarity_loss."""
    output_net = output_net / (torch.sqrt(torch.sum(output_net ** 2, dim=1, keepdim=True)) + eps)
    target_net = target_net / (torch.sqrt(torch.sum(target_net ** 2, dim=1, keepdim=True)) + eps)
    model_similarity = (torch.mm(output_net, output_net.t()) + 1.0) / 2.0
    target_similarity = (torch.mm(target_net, target_net.t()) + 1.0) / 2.0
    model_similarity = model_similarity / torch.sum(model_similarity, dim=1, keepdim=True)
    target_similarity = target_similarity / torch.sum(target_similarity, dim=1, keepdim=True)
    return torch.mean(target_similarity * torch.log((target_similarity + eps) /
                                                    (model_similarity + eps)))


def emit_rkd(name, s, t, wd, wa):
    s = s.clone().requires_grad_(True)
    loss_d, loss_a = rkd_terms(s, t)
    loss = wd * loss_d + wa * loss_a
    loss.backward()
    print("/* %s: B %d, Ds %d, Dt %d, distance_weight %g, angle_weight %g */"
          % (name, s.shape[0], s.shape[1], t.shape[1], wd, wa))
    print(c_floats(name + "_s", s.detach()))
    print(c_floats(name + "_t", t))
    print("static const double %s_terms[2] = {%.17g, %.17g};" % (name, loss_d.item(),
                                                                 loss_a.item()))
    print("static const double %s_loss = %.17g;" % (name, loss.item()))
    print(c_doubles(name + "_grad", s.grad))


def emit_pkt(name, s, t):
    s = s.clone().requires_grad_(True)
    loss = pkt(s, t)
    loss.backward()
    print("/* %s: B %d, Ds %d, Dt %d */" % (name, s.shape[0], s.shape[1], t.shape[1]))
    print(c_floats(name + "_s", s.detach()))
    print(c_floats(name + "_t", t))
    print("static const double %s_loss = %.17g;" % (name, loss.item()))
    print(c_doubles(name + "_grad", s.grad))


def main():
    emit_rkd("rkd_a", features(4, 3, 0.0), features(4, 5, 2.0), 25.0, 50.0)
    # A tight teacher cluster and one row far out skew the teacher's normalized distances:
    # about half the distance differences lie beyond smooth_l1's |x| = 1.
    t_far = features(5, 2, 1.0)
    t_far[:4] /= 8
    t_far[4] = torch.tensor([6.0, -5.5], dtype=torch.float64)
    emit_rkd("rkd_b", features(5, 6, 0.5), t_far, 2.5, 0.75)
    # The same example twice (rows 1 and 3) in both: clamped distances, zero differences.
    s_dup, t_dup = features(5, 4, 1.5), features(5, 3, 3.0)
    s_dup[3], t_dup[3] = s_dup[1], t_dup[1]
    emit_rkd("rkd_dup", s_dup, t_dup, 1.0, 3.0)
    # Student rows 0 and 2 coincide, the teacher's do not: torch's gradient has the 1/eps of
    # F.normalize's clamp (about 1e12).
    s_col = features(4, 3, 4.0)
    s_col[2] = s_col[0]
    emit_rkd("rkd_collapse", s_col, features(4, 3, 5.0), 25.0, 50.0)
    emit_pkt("pkt_a", features(4, 3, 0.25), features(4, 5, 1.25))
    emit_pkt("pkt_b", features(6, 2, 2.5), features(6, 7, 0.75))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    main()
