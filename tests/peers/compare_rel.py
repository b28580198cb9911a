#!/usr/bin/python3
"""compare_rel.py - kdc's outputs agree with a peer's within a relative tolerance.

    /usr/bin/python3 tests/peers/compare_rel.py KDC_DIR PEER_DIR RTOL

Compares every PEER_DIR/output_K.npy (K = 0, 1, ...) with KDC_DIR/output_K.npy.
For floats the measure is max |kdc - peer| / max |peer| over the whole output,
so a model whose logits are large is judged by the same yardstick as one whose
logits are small; NaN must match NaN. Integer and bool outputs must be equal.
Prints one line per output, then `worst rel X`; exits 1 when an output is
missing, differs in shape or dtype kind, or is off by more than RTOL.
"""
import os
import sys

import numpy as np


def peer_outputs(peer_dir):
    """output_0.npy, output_1.npy, ... in order, stopping at the first gap."""
    names = []
    while os.path.exists(os.path.join(peer_dir, "output_%d.npy" % len(names))):
        names.append("output_%d.npy" % len(names))
    return names


def rel_diff(ours, peer):
    """(relative difference, description) of two same-shaped arrays."""
    if peer.dtype.kind in "biu" or ours.dtype.kind in "biu":
        wrong = int(np.count_nonzero(ours != peer))
        return (0.0 if wrong == 0 else float("inf")), "%d elements differ" % wrong
    a, b = ours.astype(np.float64), peer.astype(np.float64)
    if not (np.isnan(a) == np.isnan(b)).all():
        return float("inf"), "NaN in different places"
    diff = np.abs(a - b)
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    scale = float(np.nanmax(np.abs(b))) if b.size else 0.0
    if scale == 0.0:
        rel = 0.0 if worst == 0.0 else float("inf")
    else:
        rel = worst / scale
    return rel, "max abs diff %.3g, max |peer| %.3g" % (worst, scale)


def compare(kdc_dir, peer_dir, name):
    """Relative difference of one output; inf when it cannot be compared."""
    path = os.path.join(kdc_dir, name)
    if not os.path.exists(path):
        print("%s: kdc wrote no such output" % name)
        return float("inf")
    ours, peer = np.load(path), np.load(os.path.join(peer_dir, name))
    if ours.shape != peer.shape:
        print("%s: shapes differ: kdc %s, peer %s" % (name, ours.shape, peer.shape))
        return float("inf")
    rel, what = rel_diff(ours, peer)
    print("%s: shape %s, %s, rel %.3g" % (name, peer.shape, what, rel))
    return rel


def main():
    if len(sys.argv) != 4:
        print("usage: compare_rel.py KDC_DIR PEER_DIR RTOL")
        return 2
    kdc_dir, peer_dir, rtol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    names = peer_outputs(peer_dir)
    if not names:
        print("%s: the peer wrote no output_0.npy" % peer_dir)
        return 1
    worst = max(compare(kdc_dir, peer_dir, name) for name in names)
    extra = os.path.join(kdc_dir, "output_%d.npy" % len(names))
    if os.path.exists(extra):
        print("kdc wrote more outputs than the peer (%s)" % os.path.basename(extra))
        worst = float("inf")
    print("worst rel %.3g (tolerance %g)" % (worst, rtol))
    return 0 if worst <= rtol else 1


if __name__ == "__main__":
    sys.exit(main())
