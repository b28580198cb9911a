/* tensor_file.c - one tensor from a .pb TensorProto or a .npy file (see
 * tensor_file.h). The .npy header is read by ir/npy.c, shared with train/'s
 * dataset loader; this file owns the mapping from NumPy dtype strings to
 * DTypes and copies the elements, which are already in Tensor layout. */
#include "frontend/tensor_file.h"

#include "frontend/import_internal.h"
#include "ir/npy.h"

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
    {"<f4", DT_FLOAT},  {"<f8", DT_DOUBLE}, {"<f2", DT_FLOAT16}, {"<i8", DT_INT64},
    {"<i4", DT_INT32},  {"<i2", DT_INT16},  {"|i1", DT_INT8},    {"|u1", DT_UINT8},
    {"<u2", DT_UINT16}, {"<u4", DT_UINT32}, {"<u8", DT_UINT64},  {"|b1", DT_BOOL},
};

_Static_assert(NPY_MAX_DIMS <= IR_MAX_RANK, "every .npy shape must fit a Tensor");

static Status dtype_from_descr(const NpyHeader *h, const char *path, DType *dt, Diag *d)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(h->descr, npy_types[i].descr) == 0) {
            *dt = npy_types[i].dtype;
            return KDC_OK;
        }
    return diag_error(d, "%s: .npy dtype '%s' is not supported (little-endian numbers and bool are)", path, h->descr);
}

Status npy_parse(const uint8_t *buf, size_t len, const char *path, Arena *a, Tensor **out, Diag *d)
{
    NpyHeader h;
    DType dt = DT_UNDEFINED;
    int64_t numel;
    if (npy_header_read(buf, len, path, &h, d) || dtype_from_descr(&h, path, &dt, d) ||
        npy_data_check(&h, len, dtype_size(dt), path, &numel, d))
        return KDC_ERR;
    Tensor *t = tensor_new(a, dt, h.ndims, h.shape);
    if (numel > 0)
        memcpy(t->data, buf + h.data_offset, (size_t)numel * dtype_size(dt));
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
