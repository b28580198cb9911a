#!/usr/bin/python3
"""loss_feature_golden.py - golden values for tests/unit/test_loss_feature.c.

Builds small deterministic inputs from a sine formula (rounded to float32, then
printed, so the C test holds exactly the values used here), computes each feature
loss in float64 with PyTorch following RepDistiller's distiller_zoo code (HintLoss =
nn.MSELoss, Attention.at_loss, Similarity.similarity_loss, Correlation.forward),
takes dloss/ds with autograd and prints C initializers for the test's
"generated" block.

Run: /usr/bin/python3 tests/golden/loss_feature_golden.py > /tmp/golden.inc
and paste the output between the markers in the test.
"""
import math

import torch
import torch.nn.functional as F

from golden_c import wrapped_doubles, wrapped_floats


def values(count, seed, amplitude=1.5, offset=0.0, relu=False):
    """count float32-representable values from a fixed formula (no RNG); relu
    clamps at 0 like post-ReLU features, exact zeros included."""
    out = []
    for i in range(count):
        v = amplitude * math.sin(0.73 * i + 1.37 * seed + 0.25) + offset
        if relu:
            v = max(v, 0.0)
        out.append(float(torch.tensor(v, dtype=torch.float32)))
    return out


def leaf(vals, shape):
    return torch.tensor(vals, dtype=torch.float64).reshape(shape).requires_grad_(True)


def hint(s, t):
    return F.mse_loss(s, t)


def attention(s, t, p, abs_power=False):
    def at(f):
        powered = f.abs().pow(p) if abs_power else f.pow(p)
        return F.normalize(powered.mean(1).view(f.size(0), -1))

    return (at(s) - at(t)).pow(2).mean()


def similarity(s, t):
    bsz = s.shape[0]
    s, t = s.view(bsz, -1), t.view(bsz, -1)
    g_s = F.normalize(torch.mm(s, s.t()))
    g_t = F.normalize(torch.mm(t, t.t()))
    diff = g_t - g_s
    return (diff * diff).view(-1, 1).sum(0)[0] / (bsz * bsz)


def correlation(s, t):
    delta = torch.abs(s - t)
    return torch.mean((delta[:-1] * delta[1:]).sum(1))


def emit(cases):
    rows = []
    for k, c in enumerate(cases):
        s = leaf(c["s"], c["s_shape"])
        t = leaf(c["t"], c["t_shape"])
        loss = c["fn"](s, t)
        loss.backward()
        grad = s.grad.reshape(-1).tolist()
        assert all(math.isfinite(g) for g in grad), c["name"]
        print("/* %s */" % c["name"])
        print(wrapped_floats("golden_s%d" % k, c["s"]))
        print(wrapped_floats("golden_t%d" % k, c["t"]))
        print(wrapped_doubles("golden_grad%d" % k, grad))
        rows.append('    {"%s", %s, {%d, %d, %d, %d}, %.17g, golden_s%d, golden_t%d,\n'
                    '     %.17g, golden_grad%d},'
                    % (c["name"], c["kind"], *c["dims"], c["p"], k, k, loss.item(), k))
    print("static const GoldenCase golden_cases[] = {")
    print("\n".join(rows))
    print("};")


def hint_case(name, shape, seed):
    n = math.prod(shape)
    return dict(name=name, kind="KIND_HINT", dims=(n, 0, 0, 0), p=0.0, fn=hint,
                s=values(n, seed), t=values(n, seed + 1, 1.2, 0.1), s_shape=shape, t_shape=shape)


def attention_case(name, b, cs, ct, h, w, p, seed, relu=False, abs_power=False, s_vals=None):
    hw = h * w
    s = s_vals if s_vals is not None else values(b * cs * hw, seed, relu=relu)
    return dict(name=name, kind="KIND_ATTENTION", dims=(b, cs, ct, hw), p=p,
                fn=lambda s_, t_: attention(s_, t_, p, abs_power),
                s=s, t=values(b * ct * hw, seed + 1, 2.0, 0.3, relu=relu),
                s_shape=(b, cs, h, w), t_shape=(b, ct, h, w))


def similarity_case(name, b, ds, dt, seed, s_vals=None):
    s = s_vals if s_vals is not None else values(b * ds, seed)
    return dict(name=name, kind="KIND_SIMILARITY", dims=(b, ds, dt, 0), p=0.0, fn=similarity,
                s=s, t=values(b * dt, seed + 1, 0.8, 0.2), s_shape=(b, ds), t_shape=(b, dt))


def correlation_case(name, b, dim, seed, t_vals=None):
    s = values(b * dim, seed)
    t = t_vals if t_vals is not None else values(b * dim, seed + 1, 1.1, -0.2)
    return dict(name=name, kind="KIND_CORRELATION", dims=(b, dim, 0, 0), p=0.0, fn=correlation,
                s=s, t=t, s_shape=(b, dim), t_shape=(b, dim))


def zero_mean_student():
    """p = 1 and channel 1 = -channel 0 in sample 0: a zero map, below F.normalize's eps."""
    base = values(6, 40)
    sample0 = base[:3] + [-v for v in base[:3]]
    return sample0 + values(6, 41)


def main():
    cases = [
        hint_case("hint 2x3", (2, 3), 1),
        hint_case("hint 2x3x2x2", (2, 3, 2, 2), 3),
        attention_case("attention p=2 2x3|4x2x2", 2, 3, 4, 2, 2, 2.0, 5),
        attention_case("attention p=3 3x2|5x3x2", 3, 2, 5, 3, 2, 3.0, 7),
        attention_case("attention p=1.5 relu 2x3|2x2x2", 2, 3, 2, 2, 2, 1.5, 9, relu=True),
        attention_case("attention p=0.5 |f| 2x2|3x1x3", 2, 2, 3, 1, 3, 0.5, 11, abs_power=True),
        attention_case("attention p=1 zero map 2x2|3x1x3", 2, 2, 3, 1, 3, 1.0, 13,
                       s_vals=zero_mean_student()),
        similarity_case("similarity 3x4|5", 3, 4, 5, 15),
        similarity_case("similarity 4x6|3", 4, 6, 3, 17),
        similarity_case("similarity zero row 3x2|3", 3, 2, 3, 19,
                        s_vals=values(2, 19) + [0.0, 0.0] + values(2, 20)),
        similarity_case("similarity batch 1", 1, 3, 2, 21),
        correlation_case("correlation 2x3", 2, 3, 23),
        correlation_case("correlation 4x5", 4, 5, 25),
    ]
    # s == t in a few places: |.| is differentiated with sign(0) = 0.
    tie = correlation_case("correlation ties 3x2", 3, 2, 27)
    tie["t"] = [tie["s"][i] if i in (0, 3) else v for i, v in enumerate(tie["t"])]
    cases.append(tie)
    print("/* generated by tests/golden/loss_feature_golden.py; rerun it to regenerate\n"
          " * (torch %s, float64) */" % torch.__version__)
    emit(cases)
    print("/* end of generated block */")


if __name__ == "__main__":
    main()
