/* npy.h - the NumPy .npy container: magic, version, header dict, data extent.
 *
 * One reader for the header that every room loading .npy files shares
 * (frontend/ for model inputs and calibration tensors, train/ for datasets).
 * Callers keep their own dtype tables and element conversion; this module
 * only says where the elements start, what the dtype string is, the shape,
 * and whether the bytes after the header hold exactly that many elements.
 * libc only.
 */
#ifndef KDC_IR_NPY_H
#define KDC_IR_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"

#define NPY_MAX_DIMS 8

typedef struct NpyHeader {
    char descr[16]; /* the dtype string as written, e.g. "<f4" or "|u1" */
    int ndims;      /* 0 for a scalar, shape () */
    int64_t shape[NPY_MAX_DIMS];
    size_t data_offset; /* bytes from the start of the file to the first element */
} NpyHeader;

/* Parses the header of a .npy image of len bytes (versions 1.0, 2.0, 3.0).
 * Fortran-order arrays and structured dtypes are rejected: every caller reads
 * elements in C order. Errors are one line naming path. */
Status npy_header_read(const uint8_t *buf, size_t len, const char *path, NpyHeader *h, Diag *d);

/* Sets *count to the number of elements of h's shape after checking that the
 * file of len bytes holds exactly count * elem_size bytes after the header: a
 * shape that overflows, a truncated file and trailing bytes are all errors. */
Status npy_data_check(const NpyHeader *h, size_t len, size_t elem_size, const char *path, int64_t *count, Diag *d);

#endif
