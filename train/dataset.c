/* dataset.c - the IDX loader, the load driver and the shape and label checks
 * shared with the .npy loader (dataset_npy.c), normalization and freeing of
 * Datasets.
 *
 * IDX (the MNIST format): bytes 0 and 1 are zero, byte 2 the element type
 * (0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
 * byte 3 the number of dims, then one big-endian 32-bit size per dim, then the
 * elements, big-endian, in C order. Files may be gzip-compressed.
 */
#include "train/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/inflate.h"

#define IDX_MAX_DIMS 8

typedef struct IdxArray {
    int type;
    int elem_size;
    int ndims;
    int64_t dims[IDX_MAX_DIMS];
    int64_t count; /* elements */
    const uint8_t *data;
} IdxArray;

bool dataset_mul(int64_t a, int64_t b, int64_t *product)
{
    if (a < 0 || b < 0)
        return false;
    return !__builtin_mul_overflow(a, b, product);
}

static int idx_elem_size(int type)
{
    switch (type) {
    case 0x08:
    case 0x09:
        return 1;
    case 0x0B:
        return 2;
    case 0x0C:
    case 0x0D:
        return 4;
    case 0x0E:
        return 8;
    default:
        return 0;
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static Status idx_parse_dims(const uint8_t *buf, size_t len, const char *path, IdxArray *a,
                             Diag *d)
{
    size_t header = 4 + 4 * (size_t)a->ndims;
    if (len < header)
        return diag_error(d, "%s: truncated IDX header (%zu bytes, %zu needed for %d dims)", path,
                          len, header, a->ndims);
    a->count = 1;
    for (int i = 0; i < a->ndims; i++) {
        int32_t dim = (int32_t)be32(buf + 4 + 4 * i);
        if (dim <= 0)
            return diag_error(d, "%s: IDX dimension %d is %s (%d)", path, i,
                              dim < 0 ? "negative" : "zero", dim);
        a->dims[i] = dim;
        if (!dataset_mul(a->count, dim, &a->count))
            return diag_error(d, "%s: IDX dimensions overflow", path);
    }
    int64_t bytes;
    if (!dataset_mul(a->count, a->elem_size, &bytes) || (uint64_t)bytes > len - header)
        return diag_error(d, "%s: header claims %lld elements of %d bytes but the file has only "
                          "%zu bytes of data (truncated?)", path, (long long)a->count,
                          a->elem_size, len - header);
    if ((uint64_t)bytes < len - header)
        return diag_error(d, "%s: %llu bytes of unexpected data after the IDX elements", path,
                          (unsigned long long)(len - header - (size_t)bytes));
    a->data = buf + header;
    return KDC_OK;
}

static Status idx_parse(const uint8_t *buf, size_t len, const char *path, IdxArray *a, Diag *d)
{
    memset(a, 0, sizeof *a);
    if (len < 4)
        return diag_error(d, "%s: not an IDX file (only %zu bytes)", path, len);
    a->type = buf[2];
    a->ndims = buf[3];
    a->elem_size = idx_elem_size(a->type);
    if (buf[0] != 0 || buf[1] != 0 || a->elem_size == 0)
        return diag_error(d, "%s: not an IDX file (bad magic 0x%08x)", path, (unsigned)be32(buf));
    if (a->ndims == 0 || a->ndims > IDX_MAX_DIMS)
        return diag_error(d, "%s: IDX file has %d dims, expected 1 to %d", path, a->ndims,
                          IDX_MAX_DIMS);
    return idx_parse_dims(buf, len, path, a, d);
}

static double idx_element(const IdxArray *a, int64_t i)
{
    const uint8_t *p = a->data + i * a->elem_size;
    switch (a->type) {
    case 0x08:
        return p[0];
    case 0x09:
        return (int8_t)p[0];
    case 0x0B:
        return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C:
        return (int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    default: {
        uint64_t u = be64(p);
        double v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    }
}

static void idx_to_float(const IdxArray *a, float *x)
{
    if (a->type == 0x08) { /* the common case (images) gets a tight loop */
        for (int64_t i = 0; i < a->count; i++)
            x[i] = a->data[i];
        return;
    }
    for (int64_t i = 0; i < a->count; i++)
        x[i] = (float)idx_element(a, i);
}

Status dataset_set_shape(Dataset *ds, const int64_t *shape, int ndims, const char *path, Diag *d)
{
    if (ndims < 2)
        return diag_error(d, "%s: inputs need at least 2 dims [N, ...], the file has %d", path,
                          ndims);
    int rank = ndims == 3 ? 3 : ndims - 1; /* a 2-D image [r, c] becomes [1, r, c] */
    if (rank > DATASET_MAX_RANK)
        return diag_error(d, "%s: samples have %d dims, at most %d are supported", path,
                          ndims - 1, DATASET_MAX_RANK);
    for (int i = 0; i < ndims; i++)
        if (shape[i] <= 0)
            return diag_error(d, "%s: dimension %d is %lld, it must be positive", path, i,
                              (long long)shape[i]);
    ds->n = shape[0];
    ds->rank = rank;
    if (ndims == 3)
        ds->dims[0] = 1;
    memcpy(ds->dims + (rank - (ndims - 1)), shape + 1, (size_t)(ndims - 1) * sizeof *shape);
    ds->sample_size = 1;
    for (int i = 0; i < rank; i++)
        if (!dataset_mul(ds->sample_size, ds->dims[i], &ds->sample_size))
            return diag_error(d, "%s: sample dims overflow", path);
    int64_t total;
    if (!dataset_mul(ds->n, ds->sample_size, &total) ||
        !dataset_mul(total, (int64_t)sizeof(float), &total) || (uint64_t)total > SIZE_MAX)
        return diag_error(d, "%s: %lld samples of %lld values are too many to hold", path,
                          (long long)ds->n, (long long)ds->sample_size);
    return KDC_OK;
}

Status dataset_set_labels(Dataset *ds, const int64_t *labels64, int64_t count,
                          const char *labels_path, const char *inputs_path, Diag *d)
{
    if (count != ds->n)
        return diag_error(d, "%s: %lld labels but %s has %lld samples", labels_path,
                          (long long)count, inputs_path, (long long)ds->n);
    ds->y = malloc((size_t)count * sizeof *ds->y);
    if (!ds->y)
        return diag_error(d, "%s: out of memory for %lld labels", labels_path, (long long)count);
    ds->max_label = 0;
    for (int64_t i = 0; i < count; i++) {
        if (labels64[i] < 0 || labels64[i] > INT32_MAX)
            return diag_error(d, "%s: label %lld of sample %lld is out of range (must be 0 to %d)",
                              labels_path, (long long)labels64[i], (long long)i, INT32_MAX);
        ds->y[i] = (int32_t)labels64[i];
        if (ds->y[i] > ds->max_label)
            ds->max_label = ds->y[i];
    }
    return KDC_OK;
}

Status dataset_check_finite(const Dataset *ds, const char *path, Diag *d)
{
    int64_t total = ds->n * ds->sample_size;
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(ds->x[i]))
            return diag_error(d, "%s: sample %lld holds a non-finite value (%g)", path,
                              (long long)(i / ds->sample_size), (double)ds->x[i]);
    return KDC_OK;
}

static Status idx_load_inputs(const char *path, Dataset *ds, Diag *d)
{
    uint8_t *buf = NULL;
    size_t len;
    IdxArray a;
    if (gz_inflate_file(path, &buf, &len, d) || idx_parse(buf, len, path, &a, d) ||
        dataset_set_shape(ds, a.dims, a.ndims, path, d))
        goto fail;
    ds->x = malloc((size_t)a.count * sizeof *ds->x);
    if (!ds->x) {
        diag_error(d, "%s: out of memory for %lld values", path, (long long)a.count);
        goto fail;
    }
    idx_to_float(&a, ds->x);
    free(buf);
    return a.type == 0x0D || a.type == 0x0E ? dataset_check_finite(ds, path, d) : KDC_OK;
fail:
    free(buf);
    return KDC_ERR;
}

static Status idx_read_labels(const char *path, int64_t **labels, int64_t *count, Diag *d)
{
    uint8_t *buf = NULL;
    size_t len;
    IdxArray a;
    if (gz_inflate_file(path, &buf, &len, d) || idx_parse(buf, len, path, &a, d))
        goto fail;
    if (a.ndims != 1 || a.type == 0x0D || a.type == 0x0E) {
        diag_error(d, "%s: labels must be a 1-D integer IDX array (type 0x%02x, %d dims)", path,
                   a.type, a.ndims);
        goto fail;
    }
    *labels = malloc((size_t)a.count * sizeof **labels);
    if (!*labels) {
        diag_error(d, "%s: out of memory for %lld labels", path, (long long)a.count);
        goto fail;
    }
    for (int64_t i = 0; i < a.count; i++)
        (*labels)[i] = (int64_t)idx_element(&a, i);
    *count = a.count;
    free(buf);
    return KDC_OK;
fail:
    free(buf);
    return KDC_ERR;
}

Status dataset_load_with(const char *inputs, const char *labels, DatasetInputsReader read_inputs,
                         DatasetLabelsReader read_labels, Dataset *out, Diag *d)
{
    Dataset ds = {0};
    int64_t *labels64 = NULL, count = 0;
    memset(out, 0, sizeof *out);
    if (read_inputs(inputs, &ds, d) || read_labels(labels, &labels64, &count, d) ||
        dataset_set_labels(&ds, labels64, count, labels, inputs, d))
        goto fail;
    free(labels64);
    *out = ds;
    return KDC_OK;
fail:
    free(labels64);
    dataset_free(&ds);
    return KDC_ERR;
}

Status dataset_load_idx(const char *inputs, const char *labels, Dataset *out, Diag *d)
{
    return dataset_load_with(inputs, labels, idx_load_inputs, idx_read_labels, out, d);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

Status dataset_load(const char *inputs, const char *labels, Dataset *out, Diag *d)
{
    if (has_suffix(inputs, ".npy") || has_suffix(inputs, ".npy.gz"))
        return dataset_load_npy(inputs, labels, out, d);
    return dataset_load_idx(inputs, labels, out, d);
}

/* Per-channel a, b with x' = x * a - b, checking the lists against the channels. */
static Status normalize_coefficients(const Dataset *ds, double scale, const double *mean,
                                     int n_mean, const double *std, int n_std, double *a,
                                     double *b, Diag *d)
{
    int64_t channels = ds->dims[0];
    if (!isfinite(scale) || scale == 0)
        return diag_error(d, "normalize: scale must be a finite non-zero number, got %g", scale);
    if ((n_mean > 1 && n_mean != channels) || n_mean < 0 || (n_mean > 0 && !mean))
        return diag_error(d, "normalize: mean has %d values but samples have %lld channels "
                          "(give 1 value or one per channel)", n_mean, (long long)channels);
    if ((n_std > 1 && n_std != channels) || n_std < 0 || (n_std > 0 && !std))
        return diag_error(d, "normalize: std has %d values but samples have %lld channels "
                          "(give 1 value or one per channel)", n_std, (long long)channels);
    for (int64_t c = 0; c < channels; c++) {
        double m = n_mean == 0 ? 0.0 : mean[n_mean == 1 ? 0 : c];
        double s = n_std == 0 ? 1.0 : std[n_std == 1 ? 0 : c];
        if (!isfinite(m))
            return diag_error(d, "normalize: mean of channel %lld is not finite", (long long)c);
        if (!isfinite(s) || s <= 0)
            return diag_error(d, "normalize: std of channel %lld is %g, it must be positive",
                              (long long)c, s);
        a[c] = scale / s;
        b[c] = m / s;
    }
    return KDC_OK;
}

Status dataset_normalize(Dataset *ds, double scale, const double *mean, int n_mean,
                         const double *std, int n_std, Diag *d)
{
    if (!ds->x || ds->rank < 1 || ds->dims[0] <= 0)
        return diag_error(d, "normalize: the dataset is empty");
    int64_t channels = ds->dims[0], inner = ds->sample_size / channels;
    double *a = malloc(2 * (size_t)channels * sizeof *a);
    if (!a)
        return diag_error(d, "normalize: out of memory");
    double *b = a + channels;
    if (normalize_coefficients(ds, scale, mean, n_mean, std, n_std, a, b, d)) {
        free(a);
        return KDC_ERR;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        float *x = ds->x + i * ds->sample_size;
        for (int64_t c = 0; c < channels; c++) {
            float ac = (float)a[c], bc = (float)b[c];
            for (int64_t j = 0; j < inner; j++)
                x[c * inner + j] = x[c * inner + j] * ac - bc;
        }
    }
    free(a);
    return KDC_OK;
}

void dataset_free(Dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}
