/* onnx_import.c - entry points of the ONNX frontend: reading the file,
 * guarding the protobuf parser against hostile nesting, and the model-level
 * fields (versions, producer, opsets, metadata, functions, training info).
 *
 * Owns the parsed protobuf-c tree for the duration of an import; graphs are
 * built by import_graph.c and tensors by import_tensor.c.
 */
#include "frontend/onnx_import.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/import_internal.h"

/* Message nesting allowed in a file: a subgraph costs three levels
 * (Graph > Node > Attribute), so this admits ~60 levels of nested control
 * flow while keeping protobuf-c's recursive parser far from the stack limit. */
#define IMPORT_MAX_NESTING 200

Status imp_error(ImportCtx *c, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* names come from the file: keep the message on one line whatever they hold */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return diag_error(c->d, "%s: %s", c->path, msg);
}

const char *imp_str(ImportCtx *c, const char *s)
{
    return s ? arena_strdup(c->m->arena, s) : NULL;
}

Status imp_pack(ImportCtx *c, const ProtobufCMessage *msg, Bytes *out)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = arena_alloc(c->m->arena, len);
    if (!buf)
        return imp_error(c, "out of memory");
    size_t written = protobuf_c_message_pack(msg, buf);
    if (written != len)
        return imp_error(c, "internal error: re-packing a %s gave %zu bytes, expected %zu", msg->descriptor->name,
                         written, len);
    out->data = buf;
    out->len = len;
    return KDC_OK;
}

/* ---- nesting guard: a schema-aware walk of the wire format ---- */

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Returns 0 when well formed and shallow enough, -1 when malformed, -2 when
 * nested deeper than IMPORT_MAX_NESTING. Recursion depth is bounded by it. */
static int check_nesting(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *desc, int depth)
{
    if (depth > IMPORT_MAX_NESTING)
        return -2;
    size_t pos = 0;
    while (pos < len) {
        uint64_t tag, n;
        if (read_varint(p, len, &pos, &tag))
            return -1;
        unsigned wire = (unsigned)(tag & 7);
        if (wire == 0) {
            if (read_varint(p, len, &pos, &n))
                return -1;
            continue;
        }
        if (wire == 1)
            n = 8;
        else if (wire == 5)
            n = 4;
        else if (wire != 2 || read_varint(p, len, &pos, &n))
            return -1; /* groups (3, 4) are not used by ONNX; 6, 7 do not exist */
        if (n > len - pos)
            return -1;
        if (wire == 2 && tag >> 3 <= UINT32_MAX) {
            const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = check_nesting(p + pos, (size_t)n, f->descriptor, depth + 1);
                if (r)
                    return r;
            }
        }
        pos += (size_t)n;
    }
    return 0;
}

/* ---- model-level fields ---- */

static Status import_opsets(ImportCtx *c, const Onnx__ModelProto *mp)
{
    Model *m = c->m;
    m->opsets = arena_alloc(m->arena, (mp->n_opset_import + 1) * sizeof *m->opsets);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        m->opsets[i].domain = imp_str(c, o->domain);
        m->opsets[i].version = o->version;
    }
    m->n_opsets = (int)mp->n_opset_import;
    return KDC_OK;
}

static void import_metadata(ImportCtx *c, const Onnx__ModelProto *mp)
{
    Model *m = c->m;
    m->metadata = arena_alloc(m->arena, (mp->n_metadata_props + 1) * sizeof *m->metadata);
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        m->metadata[i].key = imp_str(c, mp->metadata_props[i]->key);
        m->metadata[i].value = imp_str(c, mp->metadata_props[i]->value);
    }
    m->n_metadata = (int)mp->n_metadata_props;
}

/* Packs n sub-messages into a Bytes array (functions, training info). */
static Status pack_all(ImportCtx *c, ProtobufCMessage *const *msgs, size_t n, Bytes **out, int *count)
{
    *out = arena_alloc(c->m->arena, (n + 1) * sizeof **out);
    for (size_t i = 0; i < n; i++)
        if (imp_pack(c, msgs[i], &(*out)[i]))
            return KDC_ERR;
    *count = (int)n;
    return KDC_OK;
}

static Status import_model(ImportCtx *c, const Onnx__ModelProto *mp)
{
    Model *m = c->m;
    if (!mp->graph)
        return imp_error(c, "the model has no graph");
    m->ir_version = mp->ir_version;
    m->producer_name = imp_str(c, mp->producer_name);
    m->producer_version = imp_str(c, mp->producer_version);
    m->domain = imp_str(c, mp->domain);
    m->model_version = mp->model_version;
    m->doc = imp_str(c, mp->doc_string);
    if (import_opsets(c, mp))
        return KDC_ERR;
    import_metadata(c, mp);
    if (pack_all(c, (ProtobufCMessage *const *)mp->functions, mp->n_functions, &m->functions, &m->n_functions))
        return KDC_ERR;
    if (pack_all(c, (ProtobufCMessage *const *)mp->training_info, mp->n_training_info, &m->training_info,
                 &m->n_training_info))
        return KDC_ERR;
    return imp_graph(c, mp->graph, m->graph);
}

Status onnx_import_buffer(const uint8_t *buf, size_t len, const char *path_for_errors,
                          const char *base_dir_for_external_data, Model **out, Diag *d)
{
    Onnx__ModelProto *mp = NULL;
    ImportCtx c = {path_for_errors ? path_for_errors : "<buffer>", base_dir_for_external_data, len, NULL, d};
    *out = NULL;
    int nest = check_nesting(buf, len, &onnx__model_proto__descriptor, 0);
    if (nest == -2) {
        imp_error(&c, "not a valid ONNX model (messages nested deeper than %d levels)", IMPORT_MAX_NESTING);
        goto fail;
    }
    mp = nest ? NULL : onnx__model_proto__unpack(NULL, len, buf);
    if (!mp) {
        imp_error(&c, "not a valid ONNX model (protobuf parse failed)");
        goto fail;
    }
    c.m = model_new();
    if (!c.m) {
        imp_error(&c, "out of memory");
        goto fail;
    }
    if (import_model(&c, mp))
        goto fail;
    onnx__model_proto__free_unpacked(mp, NULL);
    *out = c.m;
    return KDC_OK;
fail:
    if (mp)
        onnx__model_proto__free_unpacked(mp, NULL);
    model_free(c.m);
    return KDC_ERR;
}

/* Reads a whole file; the buffer is malloc'ed (at least 1 byte). */
static Status read_file(const char *path, uint8_t **buf, size_t *len, Diag *d)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    if (!f)
        return diag_error(d, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        diag_error(d, "%s: not a regular file", path);
        goto fail;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf) {
        diag_error(d, "%s: out of memory reading %zu bytes", path, *len);
        goto fail;
    }
    if (fread(*buf, 1, *len, f) != *len) {
        diag_error(d, "%s: read error: %s", path, ferror(f) ? strerror(errno) : "file shrank while reading");
        goto fail;
    }
    fclose(f);
    return KDC_OK;
fail:
    free(*buf);
    *buf = NULL;
    fclose(f);
    return KDC_ERR;
}

Status onnx_import_file(const char *path, Model **out, Diag *d)
{
    uint8_t *buf;
    size_t len = 0;
    *out = NULL;
    if (read_file(path, &buf, &len, d))
        return KDC_ERR;
    /* external data locations are relative to the model's folder */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    Status st = KDC_ERR;
    if (!dir)
        diag_error(d, "%s: out of memory", path);
    else
        st = onnx_import_buffer(buf, len, path, dir, out, d);
    free(dir);
    free(buf);
    return st;
}
