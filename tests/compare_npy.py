#!/usr/bin/python3
"""compare_npy.py - A.npy and B.npy agree within an absolute tolerance.

    /usr/bin/python3 tests/compare_npy.py A.npy B.npy ATOL
Prints the shapes and the largest absolute difference; exits 1 if they differ
in shape or by more than ATOL anywhere (NaN must match NaN).
"""
import sys

import numpy as np


def main():
    a, b, atol = np.load(sys.argv[1]), np.load(sys.argv[2]), float(sys.argv[3])
    if a.shape != b.shape:
        print("shapes differ: %s vs %s" % (a.shape, b.shape))
        return 1
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    nan_ok = np.isnan(a) == np.isnan(b)
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    print("shape %s, max abs diff %.3g (tolerance %g)" % (a.shape, worst, atol))
    return 0 if nan_ok.all() and worst <= atol else 1


if __name__ == "__main__":
    sys.exit(main())
