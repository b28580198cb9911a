/* container_file.c - sequences and optionals from SequenceProto /
 * OptionalProto files, and the declared kind of opaque values (see
 * container_file.h).
 *
 * Debian's onnx.proto, which protobuf-c compiles for us, lacks these two
 * messages (upstream keeps them in onnx-data.proto), so their few fields are
 * read here straight from the protobuf wire format. Both messages number
 * their fields alike (1 name, 2 elem_type, 3 tensor, 4 sparse tensor,
 * 5 sequence, 6 map, 7 optional; repeated in SequenceProto, single in
 * OptionalProto), so one scan serves both. Each embedded TensorProto is
 * decoded by protobuf-c and imported by imp_tensor, as a tensor file is.
 */
#include "frontend/container_file.h"

#include "frontend/import_internal.h"
#include "frontend/tensor_file.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field numbers of SequenceProto and OptionalProto (onnx-data.proto). */
enum { F_NAME = 1, F_ELEM_TYPE = 2, F_TENSOR = 3, F_SPARSE = 4, F_SEQUENCE = 5, F_MAP = 6, F_OPTIONAL = 7, F_COUNT_ };

/* Their DataType enum: what the elements are. */
enum { ELEM_UNDEFINED, ELEM_TENSOR, ELEM_SPARSE, ELEM_SEQUENCE, ELEM_MAP, ELEM_OPTIONAL, ELEM_COUNT_ };
static const char *const elem_names[ELEM_COUNT_] = {"undefined", "tensors", "sparse tensors", "sequences", "maps",
                                                    "optionals"};
static const char *const elem_enum_names[ELEM_COUNT_] = {"UNDEFINED", "TENSOR", "SPARSE_TENSOR", "SEQUENCE", "MAP",
                                                         "OPTIONAL"};
/* The element kind each value field carries, indexed by field number. */
static const int field_elem[F_COUNT_] = {
    [F_TENSOR] = ELEM_TENSOR, [F_SPARSE] = ELEM_SPARSE, [F_SEQUENCE] = ELEM_SEQUENCE,
    [F_MAP] = ELEM_MAP,       [F_OPTIONAL] = ELEM_OPTIONAL,
};

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* A cursor over one message's bytes; file is where the file starts, so
 * that errors give offsets into the file. */
typedef struct Wire {
    const uint8_t *file, *at, *end;
} Wire;

typedef struct Field {
    uint32_t number;
    int wire;
    uint64_t varint;      /* WIRE_VARINT */
    const uint8_t *bytes; /* WIRE_LEN */
    size_t len;
} Field;

/* What one scan of a SequenceProto or OptionalProto found. */
typedef struct Scan {
    const uint8_t *name;
    size_t name_len;
    bool has_name;
    uint64_t elem_type;
    int count[F_COUNT_]; /* occurrences of each value field */
    Field last[F_COUNT_]; /* the last occurrence of each value field */
} Scan;

/* ---- the wire format ---- */

static bool wire_varint(Wire *w, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->at == w->end)
            return false;
        uint8_t b = *w->at++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false; /* more than ten bytes: not a varint */
}

static bool wire_skip(Wire *w, size_t n)
{
    if ((size_t)(w->end - w->at) < n)
        return false;
    w->at += n;
    return true;
}

/* Reads the next field; false on bytes that are not one (w->at tells where). */
static bool wire_next(Wire *w, Field *f)
{
    uint64_t tag, len;
    if (!wire_varint(w, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return false;
    *f = (Field){.number = (uint32_t)(tag >> 3), .wire = (int)(tag & 7)};
    switch (f->wire) {
    case WIRE_VARINT:
        return wire_varint(w, &f->varint);
    case WIRE_I64:
        return wire_skip(w, 8);
    case WIRE_I32:
        return wire_skip(w, 4);
    case WIRE_LEN:
        if (!wire_varint(w, &len) || len > (uint64_t)(w->end - w->at))
            return false;
        f->bytes = w->at;
        f->len = (size_t)len;
        w->at += len;
        return true;
    default: /* groups (3, 4) are unused by ONNX; 6 and 7 do not exist */
        return false;
    }
}

static Status malformed(ImportCtx *c, const Wire *w, const char *msg)
{
    return imp_error(c, "not a valid %s: malformed or truncated protobuf at byte %zu", msg,
                     (size_t)(w->at - w->file));
}

/* ---- scanning one message ---- */

/* at: where the field starts in the file, for messages */
static Status scan_field(ImportCtx *c, size_t at, const Field *f, const char *msg, Scan *s)
{
    int want = f->number == F_ELEM_TYPE ? WIRE_VARINT : WIRE_LEN;
    if (f->number >= F_COUNT_)
        return KDC_OK; /* unknown fields of a newer ONNX: skipped */
    if (f->wire != want)
        return imp_error(c, "not a valid %s: field %u at byte %zu has wire type %d, not %d", msg, f->number, at,
                         f->wire, want);
    if (f->number == F_NAME) {
        s->name = f->bytes;
        s->name_len = f->len;
        s->has_name = true;
    } else if (f->number == F_ELEM_TYPE) {
        s->elem_type = f->varint;
    } else {
        s->count[f->number]++;
        s->last[f->number] = *f;
    }
    return KDC_OK;
}

static Status scan_message(ImportCtx *c, const uint8_t *file, const uint8_t *bytes, size_t len, const char *msg,
                           Scan *s)
{
    Wire w = {file, bytes, bytes + len};
    *s = (Scan){0};
    while (w.at < w.end) {
        Field f;
        size_t at = (size_t)(w.at - w.file);
        if (!wire_next(&w, &f))
            return malformed(c, &w, msg);
        if (scan_field(c, at, &f, msg, s))
            return KDC_ERR;
    }
    if (s->elem_type >= ELEM_COUNT_)
        return imp_error(c, "%s: unknown elem_type %llu", msg, (unsigned long long)s->elem_type);
    return KDC_OK;
}

/* The first field in [first, last] that occurs, or 0. */
static int first_present(const Scan *s, int first, int last)
{
    for (int f = first; f <= last; f++)
        if (s->count[f])
            return f;
    return 0;
}

static Status set_header(ImportCtx *c, const Scan *s, Holds holds, Tensor *v)
{
    *v = (Tensor){.holds = holds};
    if (s->has_name && !(v->name = arena_strndup(c->m->arena, (const char *)s->name, s->name_len)))
        return imp_error(c, "out of memory");
    return KDC_OK;
}

/* ---- decoding values ---- */

static Status decode_tensor(ImportCtx *c, const Field *f, const char *what, Tensor *out)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, f->len, f->bytes);
    if (!tp)
        return imp_error(c, "%s: not a valid TensorProto (protobuf parse failed)", what);
    Tensor *t = NULL;
    Status st = imp_tensor(c, tp, what, &t);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st == KDC_OK)
        *out = *t;
    return st;
}

/* Decodes the tensor_values of a scanned sequence into v->items. */
static Status decode_elements(ImportCtx *c, const uint8_t *file, const uint8_t *bytes, size_t len, Tensor *v)
{
    Wire w = {file, bytes, bytes + len};
    int n = 0;
    while (w.at < w.end) {
        Field f;
        char what[48];
        bool ok = wire_next(&w, &f); /* the scan already checked every field */
        assert(ok);
        (void)ok;
        if (f.number != F_TENSOR)
            continue;
        snprintf(what, sizeof what, "sequence element %d", n);
        if (decode_tensor(c, &f, what, &v->items[n]))
            return KDC_ERR;
        if (n > 0 && v->items[n].dtype != v->items[0].dtype)
            return imp_error(c, "sequence element %d is %s but element 0 is %s: a sequence's elements share one dtype",
                             n, dtype_name(v->items[n].dtype), dtype_name(v->items[0].dtype));
        n++;
    }
    v->dtype = n ? v->items[0].dtype : DT_UNDEFINED;
    return KDC_OK;
}

static Status read_sequence(ImportCtx *c, const uint8_t *file, const uint8_t *bytes, size_t len, Tensor *v)
{
    Scan s;
    if (scan_message(c, file, bytes, len, "SequenceProto", &s))
        return KDC_ERR;
    int other = first_present(&s, F_SPARSE, F_OPTIONAL);
    int elem = other ? field_elem[other] : (int)s.elem_type;
    if (elem != ELEM_UNDEFINED && elem != ELEM_TENSOR)
        return imp_error(c, "a sequence of %s: kdc's sequences hold tensors only", elem_names[elem]);
    if (set_header(c, &s, HOLDS_SEQUENCE, v))
        return KDC_ERR;
    v->n_items = s.count[F_TENSOR];
    if (v->n_items && !(v->items = arena_alloc(c->m->arena, (size_t)v->n_items * sizeof *v->items)))
        return imp_error(c, "out of memory");
    return decode_elements(c, file, bytes, len, v);
}

/* Checks what an OptionalProto holds; *field gets F_TENSOR, F_SEQUENCE or 0 (empty). */
static Status optional_field(ImportCtx *c, const Scan *s, int *field)
{
    int other = s->count[F_SPARSE] ? F_SPARSE : first_present(s, F_MAP, F_OPTIONAL);
    int elem = other ? field_elem[other] : (int)s->elem_type;
    if (elem == ELEM_SPARSE || elem == ELEM_MAP || elem == ELEM_OPTIONAL)
        return imp_error(c, "an optional of %s: kdc's optionals hold a tensor or a sequence", elem_names[elem]);
    if (s->count[F_TENSOR] + s->count[F_SEQUENCE] > 1)
        return imp_error(c, "an OptionalProto holding more than one value");
    *field = s->count[F_TENSOR] ? F_TENSOR : s->count[F_SEQUENCE] ? F_SEQUENCE : 0;
    if (*field && s->elem_type != ELEM_UNDEFINED && (int)s->elem_type != field_elem[*field])
        return imp_error(c, "an OptionalProto of elem_type %s holding a %s", elem_enum_names[s->elem_type],
                         *field == F_TENSOR ? "tensor_value" : "sequence_value");
    return KDC_OK;
}

static Status read_optional(ImportCtx *c, const uint8_t *file, const uint8_t *bytes, size_t len, Tensor *v)
{
    Scan s;
    int field = 0;
    if (scan_message(c, file, bytes, len, "OptionalProto", &s) || optional_field(c, &s, &field) ||
        set_header(c, &s, HOLDS_OPTIONAL, v))
        return KDC_ERR;
    if (!field)
        return KDC_OK;
    if (!(v->items = arena_alloc(c->m->arena, sizeof *v->items)))
        return imp_error(c, "out of memory");
    v->n_items = 1;
    const Field *f = &s.last[field];
    if (field == F_TENSOR ? decode_tensor(c, f, "the optional's tensor", &v->items[0])
                          : read_sequence(c, file, f->bytes, f->len, &v->items[0]))
        return KDC_ERR;
    v->dtype = v->items[0].dtype;
    return KDC_OK;
}

/* ---- files and declared types ---- */

Status container_file_read(const char *path, Model *m, Holds expect, Tensor **out, Diag *d)
{
    assert(expect == HOLDS_SEQUENCE || expect == HOLDS_OPTIONAL);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (file_read_all(path, &buf, &len, d))
        return KDC_ERR;
    ImportCtx c = {.path = path, .base_dir = NULL, .file_len = len, .m = m, .d = d};
    Tensor *v = arena_alloc(m->arena, sizeof *v);
    Status st = !v                        ? imp_error(&c, "out of memory")
                : expect == HOLDS_SEQUENCE ? read_sequence(&c, buf, buf, len, v)
                                           : read_optional(&c, buf, buf, len, v);
    free(buf);
    if (st == KDC_OK)
        *out = v;
    return st;
}

bool container_declared_holds(const Value *v, Holds *out)
{
    if (v->kind != TYPE_OPAQUE || !v->opaque_type.len)
        return false;
    Onnx__TypeProto *tp = onnx__type_proto__unpack(NULL, v->opaque_type.len, v->opaque_type.data);
    if (!tp)
        return false;
    bool container = true;
    if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE)
        *out = HOLDS_SEQUENCE;
    else if (tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE)
        *out = HOLDS_OPTIONAL;
    else
        container = false;
    onnx__type_proto__free_unpacked(tp, NULL);
    return container;
}
