/* tensor_file.c - one tensor written as a TensorProto (.pb) or a .npy file,
 * through atomic_file so a failed write leaves nothing behind. */
#include "backend/tensor_file.h"

#include "backend/atomic_file.h"
#include "backend/export_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *pb_alloc(void *arena, size_t size)
{
    return arena_alloc(arena, size);
}

static void pb_free(void *arena, void *p)
{
    (void)arena;
    (void)p;
}

Status tensor_file_write_pb(const char *path, const Tensor *t, const char *name, Diag *d)
{
    ExportCtx x = {.a = arena_new(), .alloc = {pb_alloc, pb_free, NULL}, .d = d};
    Onnx__TensorProto *tp;
    Status st = KDC_ERR;
    if (!x.a)
        return diag_error(d, "out of memory");
    x.alloc.allocator_data = x.a;
    if (exp_tensor(&x, t, name, &tp))
        goto fail;
    size_t size = protobuf_c_message_get_packed_size(&tp->base);
    uint8_t *buf = arena_alloc(x.a, size + 1);
    if (!buf) {
        diag_error(d, "out of memory");
        goto fail;
    }
    protobuf_c_message_pack(&tp->base, buf);
    st = atomic_file_write(path, buf, size, d);
fail:
    arena_free(x.a);
    return st;
}

static const char *npy_descr(DType t)
{
    switch (t) {
    case DT_FLOAT: return "<f4";
    case DT_DOUBLE: return "<f8";
    case DT_FLOAT16: return "<f2";
    case DT_INT64: return "<i8";
    case DT_INT32: return "<i4";
    case DT_INT16: return "<i2";
    case DT_INT8: return "|i1";
    case DT_UINT8: return "|u1";
    case DT_UINT16: return "<u2";
    case DT_UINT32: return "<u4";
    case DT_UINT64: return "<u8";
    case DT_BOOL: return "|b1";
    default: return NULL;
    }
}

Status tensor_file_write_npy(const char *path, const Tensor *t, Diag *d)
{
    const char *descr = npy_descr(t->dtype);
    if (!descr)
        return diag_error(d, "%s: %s tensors cannot be written as .npy", path, dtype_name(t->dtype));
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->rank ? " " : "");
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    size_t total_hdr = 10 + (size_t)n + 1, pad = (64 - total_hdr % 64) % 64; /* NumPy aligns data to 64 */
    size_t hlen = (size_t)n + pad + 1, size = 10 + hlen + t->nbytes;
    uint8_t *buf = malloc(size);
    if (!buf)
        return diag_error(d, "out of memory");
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)(hlen & 0xff);
    buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, hdr, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    memcpy(buf + 10 + hlen, t->data, t->nbytes);
    Status st = atomic_file_write(path, buf, size, d);
    free(buf);
    return st;
}
