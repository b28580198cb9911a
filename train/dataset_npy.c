/* dataset_npy.c - the NumPy .npy loader for Datasets.
 *
 * The header (magic, version, dict, data extent) is read by ir/npy.c, which
 * frontend/ shares; this file owns what is particular to datasets: files may be
 * gzip-compressed (.npy.gz), inputs are '<f4', '<f8' or '|u1' and become floats,
 * labels are a 1-D '<i8', '<i4' or '|u1' array. Shape and label checks are
 * shared with the IDX loader (dataset.c).
 */
#include "train/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "ir/npy.h"
#include "train/inflate.h"

typedef enum { NPY_F4, NPY_F8, NPY_U1, NPY_I4, NPY_I8, NPY_OTHER } NpyType;

/* A parsed file: the shared header plus what this loader makes of its dtype. */
typedef struct NpyArray {
    NpyHeader h;
    NpyType type;
    int elem_size;
    int64_t count; /* elements */
    const uint8_t *data;
} NpyArray;

static void array_type_from_descr(NpyArray *a)
{
    static const struct {
        const char *descr;
        NpyType type;
        int size;
    } known[] = {{"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|u1", NPY_U1, 1}, {"<i4", NPY_I4, 4}, {"<i8", NPY_I8, 8}};
    a->type = NPY_OTHER;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(a->h.descr, known[i].descr) == 0) {
            a->type = known[i].type;
            a->elem_size = known[i].size;
        }
}

/* Reads (inflating .gz) and parses a whole .npy file; *buf keeps the bytes
 * a->data points into. An unknown dtype is left for the caller to reject,
 * since only it can name the dtypes it accepts. */
static Status array_open(const char *path, uint8_t **buf, NpyArray *a, Diag *d)
{
    size_t len;
    memset(a, 0, sizeof *a);
    *buf = NULL;
    if (gz_inflate_file(path, buf, &len, d))
        return KDC_ERR;
    if (npy_header_read(*buf, len, path, &a->h, d))
        return KDC_ERR;
    a->data = *buf + a->h.data_offset;
    array_type_from_descr(a);
    if (a->type == NPY_OTHER)
        return KDC_OK;
    return npy_data_check(&a->h, len, (size_t)a->elem_size, path, &a->count, d);
}

static uint64_t le_bytes(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void array_to_float(const NpyArray *a, float *x)
{
    for (int64_t i = 0; i < a->count; i++) {
        const uint8_t *p = a->data + i * a->elem_size;
        if (a->type == NPY_U1) {
            x[i] = p[0];
        } else if (a->type == NPY_F4) {
            uint32_t u = (uint32_t)le_bytes(p, 4);
            memcpy(&x[i], &u, sizeof u);
        } else {
            uint64_t u = le_bytes(p, 8);
            double v;
            memcpy(&v, &u, sizeof v);
            x[i] = (float)v;
        }
    }
}

static Status npy_load_inputs(const char *path, Dataset *ds, Diag *d)
{
    uint8_t *buf = NULL;
    NpyArray a;
    if (array_open(path, &buf, &a, d))
        goto fail;
    if (a.type != NPY_F4 && a.type != NPY_F8 && a.type != NPY_U1) {
        diag_error(d, "%s: inputs have dtype '%s', expected '<f4', '<f8' or '|u1'", path, a.h.descr);
        goto fail;
    }
    if (dataset_set_shape(ds, a.h.shape, a.h.ndims, path, d))
        goto fail;
    ds->x = malloc((size_t)a.count * sizeof *ds->x);
    if (!ds->x) {
        diag_error(d, "%s: out of memory for %lld values", path, (long long)a.count);
        goto fail;
    }
    array_to_float(&a, ds->x);
    free(buf);
    return a.type == NPY_U1 ? KDC_OK : dataset_check_finite(ds, path, d);
fail:
    free(buf);
    return KDC_ERR;
}

static Status npy_read_labels(const char *path, int64_t **labels, int64_t *count, Diag *d)
{
    uint8_t *buf = NULL;
    NpyArray a;
    if (array_open(path, &buf, &a, d))
        goto fail;
    if ((a.type != NPY_I8 && a.type != NPY_I4 && a.type != NPY_U1) || a.h.ndims != 1) {
        diag_error(d, "%s: labels must be a 1-D array of '<i8', '<i4' or '|u1', got '%s' with %d dims", path, a.h.descr,
                   a.h.ndims);
        goto fail;
    }
    *labels = malloc((size_t)(a.count ? a.count : 1) * sizeof **labels);
    if (!*labels) {
        diag_error(d, "%s: out of memory for %lld labels", path, (long long)a.count);
        goto fail;
    }
    for (int64_t i = 0; i < a.count; i++) {
        uint64_t u = le_bytes(a.data + i * a.elem_size, a.elem_size);
        (*labels)[i] = a.type == NPY_I8 ? (int64_t)u : a.type == NPY_I4 ? (int32_t)(uint32_t)u : (int64_t)u;
    }
    *count = a.count;
    free(buf);
    return KDC_OK;
fail:
    free(buf);
    return KDC_ERR;
}

Status dataset_load_npy(const char *inputs, const char *labels, Dataset *out, Diag *d)
{
    return dataset_load_with(inputs, labels, npy_load_inputs, npy_read_labels, out, d);
}
