/* import_tensor.c - TensorProto -> Tensor for initializers and attribute
 * tensors: raw_data, every typed field ONNX packs data into, and external
 * data files next to the model.
 *
 * Owns the size checks that make hostile files harmless: dims are validated
 * with overflow-safe arithmetic and compared with the bytes actually present
 * (inline or in the external file) before any tensor memory is allocated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/import_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kdc keeps tensor data little-endian in memory and assumes a little-endian host"
#endif

/* The typed TensorProto fields, as ONNX assigns them to data types. */
typedef enum { TF_NONE, TF_FLOAT, TF_INT32, TF_STRING, TF_INT64, TF_DOUBLE, TF_UINT64, TF_COUNT_ } TypedField;

static const char *const typed_field_names[TF_COUNT_] = {
    "no data", "float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data",
};

static TypedField typed_field_for(DType t)
{
    switch (t) {
    case DT_FLOAT:
    case DT_COMPLEX64: return TF_FLOAT;
    case DT_INT32:
    case DT_INT16:
    case DT_INT8:
    case DT_UINT16:
    case DT_UINT8:
    case DT_BOOL:
    case DT_FLOAT16:
    case DT_BFLOAT16: return TF_INT32;
    case DT_STRING: return TF_STRING;
    case DT_INT64: return TF_INT64;
    case DT_DOUBLE:
    case DT_COMPLEX128: return TF_DOUBLE;
    case DT_UINT32:
    case DT_UINT64: return TF_UINT64;
    default: return TF_NONE;
    }
}

static size_t typed_count(const Onnx__TensorProto *tp, TypedField f)
{
    switch (f) {
    case TF_FLOAT: return tp->n_float_data;
    case TF_INT32: return tp->n_int32_data;
    case TF_STRING: return tp->n_string_data;
    case TF_INT64: return tp->n_int64_data;
    case TF_DOUBLE: return tp->n_double_data;
    case TF_UINT64: return tp->n_uint64_data;
    default: return 0;
    }
}

Status imp_dtype(ImportCtx *c, int32_t data_type, const char *what, DType *out)
{
    if (!dtype_valid(data_type))
        return imp_error(c, "%s: unknown data_type %" PRId32, what, data_type);
    *out = (DType)data_type;
    return KDC_OK;
}

static void format_dims(const int64_t *dims, size_t n, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? "," : "", dims[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* Validates dims and computes the element count and byte size without overflow. */
static Status check_dims(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, DType dt, int64_t *numel,
                         size_t *nbytes)
{
    char dims[256];
    format_dims(tp->dims, tp->n_dims, dims, sizeof dims);
    if (tp->n_dims > IR_MAX_RANK)
        return imp_error(c, "%s: rank %zu exceeds kdc's maximum of %d", what, tp->n_dims, IR_MAX_RANK);
    int64_t n = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return imp_error(c, "%s: negative dimension in dims %s", what, dims);
        if (__builtin_mul_overflow(n, tp->dims[i], &n))
            return imp_error(c, "%s: dims %s overflow the element count", what, dims);
    }
    size_t bytes;
    if (n > (int64_t)(SIZE_MAX / 2) || __builtin_mul_overflow((size_t)n, dtype_size(dt), &bytes))
        return imp_error(c, "%s: dims %s of %s overflow the byte size", what, dims, dtype_name(dt));
    *numel = n;
    *nbytes = bytes;
    return KDC_OK;
}

/* The one typed field that holds values, TF_NONE if none; more is an error. */
static Status present_typed_field(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, TypedField *out)
{
    *out = TF_NONE;
    for (int f = TF_FLOAT; f < TF_COUNT_; f++) {
        if (!typed_count(tp, (TypedField)f))
            continue;
        if (*out != TF_NONE)
            return imp_error(c, "%s: holds both %s and %s", what, typed_field_names[*out], typed_field_names[f]);
        *out = (TypedField)f;
    }
    return KDC_OK;
}

/* ---- external data ---- */

typedef struct ExtRef {
    const char *location;
    uint64_t offset;
    uint64_t length;
    bool has_length;
} ExtRef;

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* A location may not leave the model's folder: no absolute path, no "..". */
static bool location_escapes(const char *loc)
{
    if (loc[0] == '/')
        return true;
    for (const char *p = loc; *p;) {
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += seg;
        p += *p == '/';
    }
    return false;
}

static Status ext_parse(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, ExtRef *r)
{
    *r = (ExtRef){0};
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k)
            return imp_error(c, "%s: external_data entry without a key", what);
        if (!strcmp(k, "location"))
            r->location = v;
        else if (!strcmp(k, "offset") && !parse_u64(v, &r->offset))
            return imp_error(c, "%s: external data offset '%s' is not a byte count", what, v ? v : "");
        else if (!strcmp(k, "length")) {
            if (!parse_u64(v, &r->length))
                return imp_error(c, "%s: external data length '%s' is not a byte count", what, v ? v : "");
            r->has_length = true;
        }
    }
    if (!r->location || !*r->location)
        return imp_error(c, "%s: external data without a location", what);
    if (location_escapes(r->location))
        return imp_error(c, "%s: external data location '%s' leaves the model's folder", what, r->location);
    if (!c->base_dir)
        return imp_error(c, "%s: uses external data '%s' but the model was not read from a folder", what, r->location);
    return KDC_OK;
}

/* Opens the data file and checks that [offset, offset+size) lies inside it. */
static Status ext_open(ImportCtx *c, const ExtRef *r, const char *what, FILE **f, uint64_t *size)
{
    char full[4096];
    struct stat st;
    if ((size_t)snprintf(full, sizeof full, "%s/%s", c->base_dir, r->location) >= sizeof full)
        return imp_error(c, "%s: external data path '%s' is too long", what, r->location);
    *f = fopen(full, "rb");
    if (!*f)
        return imp_error(c, "%s: cannot open external data '%s': %s", what, full, strerror(errno));
    if (fstat(fileno(*f), &st) || !S_ISREG(st.st_mode)) {
        imp_error(c, "%s: external data '%s' is not a regular file", what, full);
        goto fail;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (r->offset > fsize || (r->has_length && r->length > fsize - r->offset)) {
        imp_error(c,
                  "%s: external data range offset %" PRIu64 " length %" PRIu64 " lies outside '%s' (%" PRIu64 " bytes)",
                  what, r->offset, r->has_length ? r->length : 0, full, fsize);
        goto fail;
    }
    *size = r->has_length ? r->length : fsize - r->offset;
    return KDC_OK;
fail:
    fclose(*f);
    *f = NULL;
    return KDC_ERR;
}

/* Opens the external data of tp and checks that it holds exactly `need`
 * bytes, so the tensor can be allocated before reading. */
static Status ext_check(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, const char *dims_text, DType dt,
                        size_t need, FILE **f, uint64_t *offset)
{
    ExtRef r;
    uint64_t size;
    *f = NULL;
    if (ext_parse(c, tp, what, &r) || ext_open(c, &r, what, f, &size))
        return KDC_ERR;
    if (size != need) {
        fclose(*f);
        *f = NULL;
        return imp_error(c, "%s: external data holds %" PRIu64 " bytes but dims %s of %s need %zu", what, size,
                         dims_text, dtype_name(dt), need);
    }
    *offset = r.offset;
    return KDC_OK;
}

static Status ext_read(ImportCtx *c, FILE *f, uint64_t offset, const char *what, Tensor *t)
{
    if (t->nbytes && !t->data)
        return imp_error(c, "%s: out of memory for %zu bytes of external data", what, t->nbytes);
    if (fseeko(f, (off_t)offset, SEEK_SET) || fread(t->data, 1, t->nbytes, f) != t->nbytes)
        return imp_error(c, "%s: cannot read %zu bytes of external data", what, t->nbytes);
    return KDC_OK;
}

/* ---- typed fields ---- */

/* Narrows the typed field into little-endian elements of t (sizes checked). */
static void fill_typed(Tensor *t, const Onnx__TensorProto *tp)
{
    uint8_t *dst = t->data;
    size_t n = typed_count(tp, typed_field_for(t->dtype));
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DT_FLOAT:
        case DT_COMPLEX64: memcpy(dst + 4 * i, &tp->float_data[i], 4); break;
        case DT_DOUBLE:
        case DT_COMPLEX128: memcpy(dst + 8 * i, &tp->double_data[i], 8); break;
        case DT_INT64: memcpy(dst + 8 * i, &tp->int64_data[i], 8); break;
        case DT_UINT64: memcpy(dst + 8 * i, &tp->uint64_data[i], 8); break;
        case DT_INT32: memcpy(dst + 4 * i, &tp->int32_data[i], 4); break;
        case DT_UINT32: {
            uint32_t v = (uint32_t)tp->uint64_data[i];
            memcpy(dst + 4 * i, &v, 4);
            break;
        }
        case DT_INT16:
        case DT_UINT16:
        case DT_FLOAT16:
        case DT_BFLOAT16: { /* ONNX keeps the 16-bit pattern in the low half */
            uint16_t v = (uint16_t)tp->int32_data[i];
            memcpy(dst + 2 * i, &v, 2);
            break;
        }
        case DT_INT8:
        case DT_UINT8: dst[i] = (uint8_t)tp->int32_data[i]; break;
        case DT_BOOL: dst[i] = tp->int32_data[i] != 0; break;
        default: break;
        }
    }
}

static Status fill_strings(ImportCtx *c, Tensor *t, const Onnx__TensorProto *tp)
{
    for (size_t i = 0; i < tp->n_string_data; i++) {
        const ProtobufCBinaryData *s = &tp->string_data[i];
        t->strings[i].data = arena_memdup(c->m->arena, s->data, s->len);
        t->strings[i].len = s->len;
        if (!t->strings[i].data)
            return imp_error(c, "out of memory");
    }
    return KDC_OK;
}

/* Checks that inline data (raw or typed) matches the dims exactly. */
static Status check_inline(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, const char *dims, DType dt,
                           int64_t numel, size_t need)
{
    TypedField present, expect = typed_field_for(dt);
    if (present_typed_field(c, tp, what, &present))
        return KDC_ERR;
    if (tp->has_raw_data && present != TF_NONE)
        return imp_error(c, "%s: holds both raw_data and %s", what, typed_field_names[present]);
    if (tp->has_raw_data && dt == DT_STRING)
        return imp_error(c, "%s: string tensors must use string_data, not raw_data", what);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != need)
            return imp_error(c, "%s: raw_data holds %zu bytes but dims %s of %s need %zu", what, tp->raw_data.len, dims,
                             dtype_name(dt), need);
        return KDC_OK;
    }
    if (present != TF_NONE && present != expect)
        return imp_error(c, "%s: %s cannot hold %s values", what, typed_field_names[present], dtype_name(dt));
    uint64_t want = (uint64_t)numel * (dt == DT_COMPLEX64 || dt == DT_COMPLEX128 ? 2 : 1);
    if (typed_count(tp, expect) != want)
        return imp_error(c, "%s: %s holds %zu values but dims %s of %s need %" PRIu64, what, typed_field_names[expect],
                         typed_count(tp, expect), dims, dtype_name(dt), want);
    return KDC_OK;
}

static Status fill_inline(ImportCtx *c, const Onnx__TensorProto *tp, Tensor *t)
{
    if (t->dtype == DT_STRING)
        return fill_strings(c, t, tp);
    if (t->nbytes && !t->data)
        return imp_error(c, "out of memory for a tensor of %zu bytes", t->nbytes);
    if (!tp->has_raw_data) {
        fill_typed(t, tp);
        return KDC_OK;
    }
    if (t->nbytes)
        memcpy(t->data, tp->raw_data.data, t->nbytes);
    if (t->dtype == DT_BOOL) /* the IR promises 0 or 1 */
        for (size_t i = 0; i < t->nbytes; i++)
            ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    return KDC_OK;
}

static Status check_layout(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, DType dt, bool external)
{
    if (tp->segment)
        return imp_error(c, "%s: segmented tensors are not supported", what);
    if (!external)
        return KDC_OK;
    TypedField present;
    if (present_typed_field(c, tp, what, &present))
        return KDC_ERR;
    if (tp->has_raw_data || present != TF_NONE)
        return imp_error(c, "%s: holds both external and inline data", what);
    if (dt == DT_STRING)
        return imp_error(c, "%s: string tensors cannot use external data", what);
    return KDC_OK;
}

Status imp_tensor(ImportCtx *c, const Onnx__TensorProto *tp, const char *what, Tensor **out)
{
    DType dt = DT_UNDEFINED;
    int64_t numel = 0;
    size_t need = 0;
    uint64_t offset = 0;
    char dims[256];
    FILE *f = NULL;
    bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (imp_dtype(c, tp->has_data_type ? tp->data_type : 0, what, &dt) || check_dims(c, tp, what, dt, &numel, &need) ||
        check_layout(c, tp, what, dt, external))
        return KDC_ERR;
    format_dims(tp->dims, tp->n_dims, dims, sizeof dims);
    if (external ? ext_check(c, tp, what, dims, dt, need, &f, &offset)
                 : check_inline(c, tp, what, dims, dt, numel, need))
        return KDC_ERR;
    /* sizes are now known to match data present in a file: safe to allocate */
    Tensor *t = tensor_new(c->m->arena, dt, (int)tp->n_dims, tp->dims);
    if (!t) {
        imp_error(c, "out of memory");
        goto fail;
    }
    t->name = imp_str(c, tp->name);
    t->doc = imp_str(c, tp->doc_string);
    if (external ? ext_read(c, f, offset, what, t) : fill_inline(c, tp, t))
        goto fail;
    if (f)
        fclose(f);
    *out = t;
    return KDC_OK;
fail:
    if (f)
        fclose(f);
    return KDC_ERR;
}
