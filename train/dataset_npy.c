/* dataset_npy.c - the NumPy .npy loader for Datasets.
 *
 * Format (numpy.lib.format, versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY",
 * major and minor version bytes, a little-endian header length (2 bytes in v1,
 * 4 in v2/v3), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 * padded with spaces and ended by '\n', then the raw C-order elements. Owns the
 * small dict parser; shape and label checks are shared with the IDX loader.
 */
#include "train/dataset.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "train/inflate.h"

#define NPY_MAX_DIMS 8

typedef enum { NPY_F4, NPY_F8, NPY_U1, NPY_I4, NPY_I8, NPY_OTHER } NpyType;

typedef struct NpyArray {
    char descr[16];
    NpyType type;
    int elem_size;
    bool fortran_order;
    int ndims;
    int64_t shape[NPY_MAX_DIMS];
    int64_t count; /* elements */
    const uint8_t *data;
} NpyArray;

/* Reading position inside the header dict; errors name the file and offset. */
typedef struct NpyCursor {
    const char *start, *p, *end;
    const char *path;
    Diag *d;
} NpyCursor;

static Status npy_syntax(NpyCursor *c, const char *expected)
{
    return diag_error(c->d, "%s: bad .npy header: expected %s at header offset %ld", c->path,
                      expected, (long)(c->p - c->start));
}

static void npy_skip_space(NpyCursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool npy_accept(NpyCursor *c, char ch)
{
    npy_skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static Status npy_string(NpyCursor *c, char *buf, size_t cap)
{
    npy_skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return npy_syntax(c, "a quoted string");
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= cap)
            return npy_syntax(c, "a shorter string");
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return npy_syntax(c, "a closing quote");
    c->p++;
    buf[n] = 0;
    return KDC_OK;
}

static bool npy_word(NpyCursor *c, const char *word)
{
    size_t n = strlen(word);
    npy_skip_space(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

static Status npy_int(NpyCursor *c, int64_t *value)
{
    npy_skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return npy_syntax(c, "a non-negative integer");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (!dataset_mul(v, 10, &v) || __builtin_add_overflow(v, *c->p - '0', &v))
            return diag_error(c->d, "%s: .npy shape dimension overflows", c->path);
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') /* Python 2 long suffix */
        c->p++;
    *value = v;
    return KDC_OK;
}

static Status npy_shape(NpyCursor *c, NpyArray *a)
{
    if (!npy_accept(c, '('))
        return npy_syntax(c, "'(' starting the shape");
    a->ndims = 0;
    while (!npy_accept(c, ')')) {
        if (a->ndims == NPY_MAX_DIMS)
            return diag_error(c->d, "%s: .npy array has more than %d dims", c->path, NPY_MAX_DIMS);
        if (npy_int(c, &a->shape[a->ndims++]))
            return KDC_ERR;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, ')'))
                return npy_syntax(c, "',' or ')' in the shape");
            break;
        }
    }
    return KDC_OK;
}

static Status npy_value(NpyCursor *c, const char *key, NpyArray *a, unsigned *seen)
{
    if (strcmp(key, "descr") == 0) {
        *seen |= 1;
        npy_skip_space(c);
        if (c->p < c->end && *c->p == '[')
            return diag_error(c->d, "%s: structured .npy dtypes are not supported", c->path);
        return npy_string(c, a->descr, sizeof a->descr);
    }
    if (strcmp(key, "fortran_order") == 0) {
        *seen |= 2;
        if (npy_word(c, "True"))
            a->fortran_order = true;
        else if (!npy_word(c, "False"))
            return npy_syntax(c, "True or False");
        return KDC_OK;
    }
    if (strcmp(key, "shape") == 0) {
        *seen |= 4;
        return npy_shape(c, a);
    }
    return diag_error(c->d, "%s: unexpected key '%s' in the .npy header", c->path, key);
}

static Status npy_dict(NpyCursor *c, NpyArray *a)
{
    unsigned seen = 0;
    char key[32];
    if (!npy_accept(c, '{'))
        return npy_syntax(c, "'{'");
    while (!npy_accept(c, '}')) {
        if (npy_string(c, key, sizeof key))
            return KDC_ERR;
        if (!npy_accept(c, ':'))
            return npy_syntax(c, "':'");
        if (npy_value(c, key, a, &seen))
            return KDC_ERR;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, '}'))
                return npy_syntax(c, "',' or '}'");
            break;
        }
    }
    npy_skip_space(c);
    if (c->p != c->end)
        return npy_syntax(c, "only padding after the dict");
    if (seen != 7)
        return diag_error(c->d, "%s: .npy header lacks 'descr', 'fortran_order' or 'shape'",
                          c->path);
    return KDC_OK;
}

static void npy_type_from_descr(NpyArray *a)
{
    static const struct {
        const char *descr;
        NpyType type;
        int size;
    } known[] = {{"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|u1", NPY_U1, 1},
                 {"<i4", NPY_I4, 4}, {"<i8", NPY_I8, 8}};
    a->type = NPY_OTHER;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(a->descr, known[i].descr) == 0) {
            a->type = known[i].type;
            a->elem_size = known[i].size;
        }
}

/* Checks the element count against the bytes after the header. */
static Status npy_check_data(NpyArray *a, size_t data_len, const char *path, Diag *d)
{
    int64_t bytes;
    a->count = 1;
    for (int i = 0; i < a->ndims; i++)
        if (!dataset_mul(a->count, a->shape[i], &a->count))
            return diag_error(d, "%s: .npy shape overflows", path);
    if (!dataset_mul(a->count, a->elem_size, &bytes) || (uint64_t)bytes > data_len)
        return diag_error(d, "%s: header claims %lld elements of %d bytes but the file has only "
                          "%zu bytes of data (truncated?)", path, (long long)a->count,
                          a->elem_size, data_len);
    if ((uint64_t)bytes < data_len)
        return diag_error(d, "%s: %zu bytes of unexpected data after the .npy elements", path,
                          data_len - (size_t)bytes);
    return KDC_OK;
}

static Status npy_parse(const uint8_t *buf, size_t len, const char *path, NpyArray *a, Diag *d)
{
    memset(a, 0, sizeof *a);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return diag_error(d, "%s: not a .npy file (bad magic)", path);
    int major = buf[6];
    if (major < 1 || major > 3)
        return diag_error(d, "%s: unsupported .npy version %d.%d", path, major, buf[7]);
    size_t prefix = major == 1 ? 10 : 12;
    if (len < prefix)
        return diag_error(d, "%s: truncated .npy header", path);
    size_t header_len = major == 1 ? (size_t)(buf[8] | buf[9] << 8)
                                   : (size_t)(buf[8] | buf[9] << 8 | buf[10] << 16) |
                                         (size_t)buf[11] << 24;
    if (header_len > len - prefix)
        return diag_error(d, "%s: truncated .npy header (%zu bytes claimed, %zu present)", path,
                          header_len, len - prefix);
    NpyCursor c = {(const char *)buf + prefix, (const char *)buf + prefix,
                   (const char *)buf + prefix + header_len, path, d};
    if (npy_dict(&c, a))
        return KDC_ERR;
    if (a->fortran_order)
        return diag_error(d, "%s: Fortran-order .npy arrays are not supported (save with "
                          "numpy.ascontiguousarray)", path);
    npy_type_from_descr(a);
    a->data = buf + prefix + header_len;
    return KDC_OK;
}

/* Reads and parses a whole .npy file; *buf keeps the bytes a->data points into. */
static Status npy_open(const char *path, uint8_t **buf, NpyArray *a, Diag *d)
{
    size_t len;
    *buf = NULL;
    if (gz_inflate_file(path, buf, &len, d))
        return KDC_ERR;
    if (npy_parse(*buf, len, path, a, d))
        return KDC_ERR;
    if (a->type == NPY_OTHER)
        return KDC_OK; /* the caller names the dtypes it accepts */
    return npy_check_data(a, len - (size_t)(a->data - *buf), path, d);
}

static uint64_t le_bytes(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void npy_to_float(const NpyArray *a, float *x)
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
    if (npy_open(path, &buf, &a, d))
        goto fail;
    if (a.type != NPY_F4 && a.type != NPY_F8 && a.type != NPY_U1) {
        diag_error(d, "%s: inputs have dtype '%s', expected '<f4', '<f8' or '|u1'", path,
                   a.descr);
        goto fail;
    }
    if (dataset_set_shape(ds, a.shape, a.ndims, path, d))
        goto fail;
    ds->x = malloc((size_t)a.count * sizeof *ds->x);
    if (!ds->x) {
        diag_error(d, "%s: out of memory for %lld values", path, (long long)a.count);
        goto fail;
    }
    npy_to_float(&a, ds->x);
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
    if (npy_open(path, &buf, &a, d))
        goto fail;
    if ((a.type != NPY_I8 && a.type != NPY_I4 && a.type != NPY_U1) || a.ndims != 1) {
        diag_error(d, "%s: labels must be a 1-D array of '<i8', '<i4' or '|u1', got '%s' with "
                   "%d dims", path, a.descr, a.ndims);
        goto fail;
    }
    *labels = malloc((size_t)(a.count ? a.count : 1) * sizeof **labels);
    if (!*labels) {
        diag_error(d, "%s: out of memory for %lld labels", path, (long long)a.count);
        goto fail;
    }
    for (int64_t i = 0; i < a.count; i++) {
        uint64_t u = le_bytes(a.data + i * a.elem_size, a.elem_size);
        (*labels)[i] = a.type == NPY_I8 ? (int64_t)u : a.type == NPY_I4 ? (int32_t)(uint32_t)u
                                                                        : (int64_t)u;
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
