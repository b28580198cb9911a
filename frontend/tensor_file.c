/* tensor_file.c - one tensor from a .pb TensorProto or a .npy file (see
 * tensor_file.h). The NumPy header is a Python dict literal; only the keys
 * and forms NumPy itself writes are accepted. */
#include "frontend/tensor_file.h"

#include "frontend/import_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Status file_read_all(const char *path, uint8_t **buf, size_t *len, Diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return diag_error(d, "%s: cannot open: %s", path, strerror(errno));
    Status st = KDC_ERR;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        diag_error(d, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    *buf = malloc((size_t)size + 1);
    if (!*buf) {
        diag_error(d, "%s: out of memory", path);
        goto fail;
    }
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        free(*buf);
        *buf = NULL;
        diag_error(d, "%s: cannot read: %s", path, ferror(f) ? strerror(errno) : "the file shrank");
        goto fail;
    }
    *len = (size_t)size;
    st = KDC_OK;
fail:
    fclose(f);
    return st;
}

static Status read_pb(const uint8_t *buf, size_t len, const char *path, Model *m, Tensor **out, Diag *d)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!tp)
        return diag_error(d, "%s: not a serialized ONNX TensorProto (protobuf parse failed)", path);
    ImportCtx c = {.path = path, .base_dir = NULL, .file_len = len, .m = m, .d = d};
    Status st = imp_tensor(&c, tp, "tensor", out);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* ---- .npy ---- */

static const struct {
    const char *descr;
    DType dtype;
} npy_types[] = {
    {"<f4", DT_FLOAT}, {"<f8", DT_DOUBLE}, {"<f2", DT_FLOAT16}, {"<i8", DT_INT64}, {"<i4", DT_INT32},
    {"<i2", DT_INT16}, {"|i1", DT_INT8},   {"|u1", DT_UINT8},   {"<u2", DT_UINT16}, {"<u4", DT_UINT32},
    {"<u8", DT_UINT64}, {"|b1", DT_BOOL},
};

/* Finds 'key': in the header dict and returns a pointer just after the colon. */
static const char *npy_key(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

static Status npy_header_dtype(const char *hdr, const char *path, DType *dt, Diag *d)
{
    const char *p = npy_key(hdr, "descr");
    if (!p || *p != '\'')
        return diag_error(d, "%s: .npy header has no 'descr'", path);
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strncmp(p + 1, npy_types[i].descr, 3) && p[4] == '\'') {
            *dt = npy_types[i].dtype;
            return KDC_OK;
        }
    return diag_error(d, "%s: .npy dtype %.8s is not supported (little-endian numbers and bool are)", path, p);
}

static Status npy_header_shape(const char *hdr, const char *path, int *rank, int64_t *dims, Diag *d)
{
    const char *p = npy_key(hdr, "fortran_order");
    if (!p || strncmp(p, "False", 5))
        return diag_error(d, "%s: .npy array must be in C order (fortran_order False)", path);
    p = npy_key(hdr, "shape");
    if (!p || *p != '(')
        return diag_error(d, "%s: .npy header has no 'shape'", path);
    *rank = 0;
    for (p++; *p && *p != ')';) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *rank == IR_MAX_RANK)
            return diag_error(d, "%s: bad or too long .npy shape", path);
        dims[(*rank)++] = v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return *p == ')' ? KDC_OK : diag_error(d, "%s: unterminated .npy shape", path);
}

Status npy_parse(const uint8_t *buf, size_t len, const char *path, Arena *a, Tensor **out, Diag *d)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
        return diag_error(d, "%s: not a .npy file (bad magic)", path);
    size_t hlen = buf[6] == 1 ? (size_t)(buf[8] | buf[9] << 8) : len >= 12 ? (size_t)buf[8] | (size_t)buf[9] << 8 |
                                                                                 (size_t)buf[10] << 16 | (size_t)buf[11] << 24
                                                                           : len;
    size_t start = buf[6] == 1 ? 10 : 12;
    if (buf[6] < 1 || buf[6] > 3 || start + hlen > len)
        return diag_error(d, "%s: truncated or unsupported .npy header", path);
    char *hdr = arena_strndup(a, (const char *)buf + start, hlen);
    DType dt = DT_UNDEFINED;
    int rank = 0;
    int64_t dims[IR_MAX_RANK], numel = 1;
    if (npy_header_dtype(hdr, path, &dt, d) || npy_header_shape(hdr, path, &rank, dims, d))
        return KDC_ERR;
    for (int i = 0; i < rank; i++)
        if (__builtin_mul_overflow(numel, dims[i], &numel))
            return diag_error(d, "%s: .npy shape overflows", path);
    size_t bytes;
    if (__builtin_mul_overflow((size_t)numel, dtype_size(dt), &bytes) || bytes != len - start - hlen)
        return diag_error(d, "%s: .npy data holds %zu bytes, its shape needs %lld elements", path,
                          len - start - hlen, (long long)numel);
    Tensor *t = tensor_new(a, dt, rank, dims);
    memcpy(t->data, buf + start + hlen, bytes);
    *out = t;
    return KDC_OK;
}

Status tensor_file_read(const char *path, Model *m, Tensor **out, Diag *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (file_read_all(path, &buf, &len, d))
        return KDC_ERR;
    size_t n = strlen(path);
    bool npy = n >= 4 && !strcmp(path + n - 4, ".npy");
    Status st = npy ? npy_parse(buf, len, path, m->arena, out, d) : read_pb(buf, len, path, m, out, d);
    free(buf);
    return st;
}
