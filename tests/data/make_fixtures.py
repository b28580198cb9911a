"""Writes the tiny dataset fixtures in tests/data (run with Debian's python3, which has numpy).

    /usr/bin/python3 tests/data/make_fixtures.py

Used by tests/unit/test_dataset.c: real numpy-written .npy files (format versions
1.0, 2.0 and 3.0, a Fortran-order array) and a gzip-compressed IDX pair written
by Python's gzip module, so the loaders are checked against other producers.
"""

import gzip
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, arr, version=None):
    with open(os.path.join(HERE, name), "wb") as f:
        if version is None:
            np.save(f, arr)
        else:
            np.lib.format.write_array(f, arr, version=version)


def main():
    save("npy_inputs_f4.npy", (np.arange(12, dtype=np.float32) * 0.5).reshape(3, 2, 2))
    save("npy_labels_i8.npy", np.array([2, 0, 1], dtype=np.int64))
    save("npy_inputs_u1_v2.npy", np.arange(12, dtype=np.uint8).reshape(3, 4), (2, 0))
    save("npy_labels_u1.npy", np.array([7, 3, 5], dtype=np.uint8))
    save("npy_inputs_f8_v3.npy", (np.arange(6, dtype=np.float64) - 2.5).reshape(3, 2), (3, 0))
    save("npy_labels_i4.npy", np.array([1, 1, 4], dtype=np.int32))
    save("npy_fortran.npy", np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)))
    images = np.arange(18, dtype=np.uint8).reshape(3, 2, 3) * 10
    with gzip.open(os.path.join(HERE, "idx_images.gz"), "wb") as f:
        f.write(struct.pack(">BBBBiii", 0, 0, 8, 3, 3, 2, 3) + images.tobytes())
    with gzip.open(os.path.join(HERE, "idx_labels.gz"), "wb") as f:
        f.write(struct.pack(">BBBBi", 0, 0, 8, 1, 3) + bytes([9, 0, 4]))


if __name__ == "__main__":
    main()
