/* onnx_export.c - Model -> ModelProto -> bytes or file: the model fields,
 * graphs (recursively through subgraph attributes), nodes and attributes.
 *
 * All protobuf-c structs of one export live in a scratch arena that dies at
 * the end; IR strings and tensor data are referenced, not copied. Files are
 * streamed straight into an atomic_file, so no second copy of the weights is
 * held in memory.
 */
#include "backend/onnx_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/atomic_file.h"
#include "backend/export_internal.h"

#ifndef KDC_VERSION
#define KDC_VERSION "dev"
#endif

static Status export_graph(ExportCtx *x, const Graph *g, Onnx__GraphProto **out);

static char *nonempty(const char *s)
{
    return s && *s ? exp_str(s) : NULL;
}

/* ---- attributes ---- */

/* Blob-valued kinds: one packed message per element. */
static Status export_blobs(ExportCtx *x, const Attr *a, const char *what, ProtobufCMessage ***msgs, size_t *n)
{
    bool single = a->kind == ATTR_SPARSE_TENSOR || a->kind == ATTR_TYPE_PROTO;
    const ProtobufCMessageDescriptor *desc = a->kind == ATTR_SPARSE_TENSOR || a->kind == ATTR_SPARSE_TENSORS
                                                 ? &onnx__sparse_tensor_proto__descriptor
                                                 : &onnx__type_proto__descriptor;
    if (single && a->n != 1)
        return diag_error(x->d, "%s: holds %d values, expected 1", what, a->n);
    *msgs = arena_alloc(x->a, ((size_t)a->n + 1) * sizeof **msgs);
    for (int k = 0; k < a->n; k++)
        if (exp_blob(x, desc, a->blobs[k], what, &(*msgs)[k]))
            return KDC_ERR;
    *n = (size_t)a->n;
    return KDC_OK;
}

static Status export_list_attr(ExportCtx *x, const Attr *a, Onnx__AttributeProto *ap, const char *what)
{
    size_t n = (size_t)a->n;
    switch (a->kind) {
    case ATTR_FLOATS:
        ap->n_floats = n;
        ap->floats = a->floats;
        return KDC_OK;
    case ATTR_INTS:
        ap->n_ints = n;
        ap->ints = a->ints;
        return KDC_OK;
    case ATTR_STRINGS:
        ap->strings = arena_alloc(x->a, (n + 1) * sizeof *ap->strings);
        for (size_t k = 0; k < n; k++)
            ap->strings[k] = (ProtobufCBinaryData){a->strings[k].len, (uint8_t *)a->strings[k].data};
        ap->n_strings = n;
        return KDC_OK;
    case ATTR_TENSORS:
        ap->tensors = arena_alloc(x->a, (n + 1) * sizeof *ap->tensors);
        for (size_t k = 0; k < n; k++)
            if (exp_tensor(x, a->tensors[k], a->tensors[k]->name, &ap->tensors[k]))
                return KDC_ERR;
        ap->n_tensors = n;
        return KDC_OK;
    case ATTR_GRAPHS:
        ap->graphs = arena_alloc(x->a, (n + 1) * sizeof *ap->graphs);
        for (size_t k = 0; k < n; k++)
            if (export_graph(x, a->graphs[k], &ap->graphs[k]))
                return KDC_ERR;
        ap->n_graphs = n;
        return KDC_OK;
    case ATTR_SPARSE_TENSORS:
        return export_blobs(x, a, what, (ProtobufCMessage ***)&ap->sparse_tensors, &ap->n_sparse_tensors);
    case ATTR_TYPE_PROTOS: return export_blobs(x, a, what, (ProtobufCMessage ***)&ap->type_protos, &ap->n_type_protos);
    default: return diag_error(x->d, "%s: unknown attribute kind %d", what, (int)a->kind);
    }
}

static Status export_attr_value(ExportCtx *x, const Attr *a, Onnx__AttributeProto *ap, const char *what)
{
    size_t one;
    ProtobufCMessage **msgs;
    switch (a->kind) {
    case ATTR_FLOAT:
        ap->has_f = 1;
        ap->f = a->f;
        return KDC_OK;
    case ATTR_INT:
        ap->has_i = 1;
        ap->i = a->i;
        return KDC_OK;
    case ATTR_STRING:
        ap->has_s = 1;
        ap->s = (ProtobufCBinaryData){a->s.len, (uint8_t *)a->s.data};
        return KDC_OK;
    case ATTR_TENSOR:
        if (!a->t)
            return diag_error(x->d, "%s: tensor attribute without a tensor", what);
        return exp_tensor(x, a->t, a->t->name, &ap->t);
    case ATTR_GRAPH:
        if (!a->g)
            return diag_error(x->d, "%s: graph attribute without a graph", what);
        return export_graph(x, a->g, &ap->g);
    case ATTR_SPARSE_TENSOR:
        if (export_blobs(x, a, what, &msgs, &one))
            return KDC_ERR;
        ap->sparse_tensor = (Onnx__SparseTensorProto *)msgs[0];
        return KDC_OK;
    case ATTR_TYPE_PROTO:
        if (export_blobs(x, a, what, &msgs, &one))
            return KDC_ERR;
        ap->tp = (Onnx__TypeProto *)msgs[0];
        return KDC_OK;
    default: return export_list_attr(x, a, ap, what);
    }
}

static Status export_attr(ExportCtx *x, const Node *n, const Attr *a, Onnx__AttributeProto **out)
{
    char what[600];
    snprintf(what, sizeof what, "node '%s' (%s) attribute '%s'", n->name ? n->name : "", n->op_type, a->name);
    Onnx__AttributeProto *ap = arena_alloc(x->a, sizeof *ap);
    onnx__attribute_proto__init(ap);
    ap->name = exp_str(a->name);
    ap->doc_string = exp_str(a->doc);
    ap->ref_attr_name = exp_str(a->ref_attr_name);
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->kind;
    *out = ap;
    return export_attr_value(x, a, ap, what);
}

/* ---- nodes and graphs ---- */

/* Value names of a node's inputs or outputs; "" for an omitted optional one. */
static char **value_names(ExportCtx *x, Value *const *vals, int n)
{
    char **names = arena_alloc(x->a, ((size_t)n + 1) * sizeof *names);
    for (int i = 0; i < n; i++)
        names[i] = exp_str(vals[i] ? vals[i]->name : "");
    return names;
}

static Status export_node(ExportCtx *x, const Node *n, Onnx__NodeProto **out)
{
    Onnx__NodeProto *np = arena_alloc(x->a, sizeof *np);
    onnx__node_proto__init(np);
    np->n_input = (size_t)n->n_inputs;
    np->input = value_names(x, n->inputs, n->n_inputs);
    np->n_output = (size_t)n->n_outputs;
    np->output = value_names(x, n->outputs, n->n_outputs);
    np->name = nonempty(n->name);
    np->op_type = exp_str(n->op_type);
    np->domain = nonempty(n->domain);
    np->doc_string = exp_str(n->doc);
    np->attribute = arena_alloc(x->a, ((size_t)n->n_attrs + 1) * sizeof *np->attribute);
    for (int i = 0; i < n->n_attrs; i++)
        if (export_attr(x, n, &n->attrs[i], &np->attribute[i]))
            return KDC_ERR;
    np->n_attribute = (size_t)n->n_attrs;
    *out = np;
    return KDC_OK;
}

static Status export_value_infos(ExportCtx *x, Value *const *vals, int n, Onnx__ValueInfoProto ***out, size_t *count)
{
    *out = arena_alloc(x->a, ((size_t)n + 1) * sizeof **out);
    for (int i = 0; i < n; i++)
        if (exp_value_info(x, vals[i], &(*out)[i]))
            return KDC_ERR;
    *count = (size_t)n;
    return KDC_OK;
}

static Status export_blob_list(ExportCtx *x, const ProtobufCMessageDescriptor *desc, const Bytes *b, int n,
                               const char *what, ProtobufCMessage ***out, size_t *count)
{
    *out = arena_alloc(x->a, ((size_t)n + 1) * sizeof **out);
    for (int i = 0; i < n; i++)
        if (exp_blob(x, desc, b[i], what, &(*out)[i]))
            return KDC_ERR;
    *count = (size_t)n;
    return KDC_OK;
}

/* value_info lists the values marked in_value_info, in definition order. */
static Status export_graph_value_info(ExportCtx *x, const Graph *g, Onnx__GraphProto *gp)
{
    Value **marked = arena_alloc(x->a, ((size_t)g->n_values + 1) * sizeof *marked);
    int n = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i]->in_value_info)
            marked[n++] = g->values[i];
    return export_value_infos(x, marked, n, &gp->value_info, &gp->n_value_info);
}

static Status export_graph_inits(ExportCtx *x, const Graph *g, Onnx__GraphProto *gp)
{
    gp->initializer = arena_alloc(x->a, ((size_t)g->n_inits + 1) * sizeof *gp->initializer);
    for (int i = 0; i < g->n_inits; i++)
        if (exp_tensor(x, g->inits[i]->init, g->inits[i]->name, &gp->initializer[i]))
            return KDC_ERR;
    gp->n_initializer = (size_t)g->n_inits;
    return export_blob_list(x, &onnx__sparse_tensor_proto__descriptor, g->sparse_inits, g->n_sparse_inits,
                            "sparse initializer", (ProtobufCMessage ***)&gp->sparse_initializer,
                            &gp->n_sparse_initializer);
}

static Status export_graph(ExportCtx *x, const Graph *g, Onnx__GraphProto **out)
{
    Onnx__GraphProto *gp = arena_alloc(x->a, sizeof *gp);
    onnx__graph_proto__init(gp);
    *out = gp;
    gp->name = exp_str(g->name);
    gp->doc_string = exp_str(g->doc);
    gp->node = arena_alloc(x->a, ((size_t)g->n_nodes + 1) * sizeof *gp->node);
    for (int i = 0; i < g->n_nodes; i++)
        if (export_node(x, g->nodes[i], &gp->node[i]))
            return KDC_ERR;
    gp->n_node = (size_t)g->n_nodes;
    if (export_graph_inits(x, g, gp) || export_value_infos(x, g->inputs, g->n_inputs, &gp->input, &gp->n_input) ||
        export_value_infos(x, g->outputs, g->n_outputs, &gp->output, &gp->n_output) ||
        export_graph_value_info(x, g, gp))
        return KDC_ERR;
    return export_blob_list(x, &onnx__tensor_annotation__descriptor, g->quant_annotations, g->n_quant_annotations,
                            "quantization annotation", (ProtobufCMessage ***)&gp->quantization_annotation,
                            &gp->n_quantization_annotation);
}

/* ---- model ---- */

static void export_model_lists(ExportCtx *x, const Model *m, Onnx__ModelProto *mp)
{
    mp->opset_import = arena_alloc(x->a, ((size_t)m->n_opsets + 1) * sizeof *mp->opset_import);
    for (int i = 0; i < m->n_opsets; i++) {
        Onnx__OperatorSetIdProto *o = arena_alloc(x->a, sizeof *o);
        onnx__operator_set_id_proto__init(o);
        o->domain = exp_str(m->opsets[i].domain);
        o->has_version = 1;
        o->version = m->opsets[i].version;
        mp->opset_import[i] = o;
    }
    mp->n_opset_import = (size_t)m->n_opsets;
    mp->metadata_props = arena_alloc(x->a, ((size_t)m->n_metadata + 1) * sizeof *mp->metadata_props);
    for (int i = 0; i < m->n_metadata; i++) {
        Onnx__StringStringEntryProto *e = arena_alloc(x->a, sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = exp_str(m->metadata[i].key);
        e->value = exp_str(m->metadata[i].value);
        mp->metadata_props[i] = e;
    }
    mp->n_metadata_props = (size_t)m->n_metadata;
}

static Status export_model(ExportCtx *x, const Model *m, Onnx__ModelProto **out)
{
    Onnx__ModelProto *mp = arena_alloc(x->a, sizeof *mp);
    onnx__model_proto__init(mp);
    *out = mp;
    mp->has_ir_version = 1;
    mp->ir_version = m->ir_version;
    mp->producer_name = exp_str("kdc");
    mp->producer_version = exp_str(KDC_VERSION);
    mp->domain = exp_str(m->domain);
    mp->has_model_version = m->model_version != 0;
    mp->model_version = m->model_version;
    mp->doc_string = exp_str(m->doc);
    export_model_lists(x, m, mp);
    if (export_blob_list(x, &onnx__function_proto__descriptor, m->functions, m->n_functions, "model function",
                         (ProtobufCMessage ***)&mp->functions, &mp->n_functions) ||
        export_blob_list(x, &onnx__training_info_proto__descriptor, m->training_info, m->n_training_info,
                         "training info", (ProtobufCMessage ***)&mp->training_info, &mp->n_training_info))
        return KDC_ERR;
    if (!m->graph)
        return diag_error(x->d, "the model has no graph");
    return export_graph(x, m->graph, &mp->graph);
}

/* ---- entry points ---- */

/* Names in the IR may hold any bytes: keep the message on one line. */
static Status one_line(Diag *d)
{
    for (char *p = d ? d->msg : NULL; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return KDC_ERR;
}

static void *arena_pb_alloc(void *arena, size_t size)
{
    return arena_alloc(arena, size);
}

static void arena_pb_free(void *arena, void *p)
{
    (void)arena; /* freed with the arena */
    (void)p;
}

static Status build(const Model *m, ExportCtx *x, Onnx__ModelProto **mp, Diag *d)
{
    x->d = d;
    x->a = arena_new();
    if (!x->a)
        return diag_error(d, "out of memory");
    x->alloc = (ProtobufCAllocator){arena_pb_alloc, arena_pb_free, x->a};
    return export_model(x, m, mp);
}

Status onnx_export_buffer(const Model *m, uint8_t **buf, size_t *len, Diag *d)
{
    ExportCtx x = {0};
    Onnx__ModelProto *mp;
    *buf = NULL;
    *len = 0;
    if (build(m, &x, &mp, d))
        goto fail;
    size_t size = protobuf_c_message_get_packed_size(&mp->base);
    *buf = malloc(size ? size : 1);
    if (!*buf) {
        diag_error(d, "out of memory for a %zu-byte model", size);
        goto fail;
    }
    *len = protobuf_c_message_pack(&mp->base, *buf);
    arena_free(x.a);
    return KDC_OK;
fail:
    arena_free(x.a);
    return one_line(d);
}

/* Streams packed bytes into the temporary file; write errors surface at commit. */
typedef struct FileSink {
    ProtobufCBuffer base;
    FILE *f;
} FileSink;

static void file_sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    FileSink *s = (FileSink *)b;
    if (len && !ferror(s->f))
        fwrite(data, 1, len, s->f);
}

Status onnx_export_file(const Model *m, const char *path, Diag *d)
{
    ExportCtx x = {0};
    AtomicFile af;
    Onnx__ModelProto *mp;
    if (build(m, &x, &mp, d)) {
        diag_prefix(d, "%s", path);
        goto fail;
    }
    if (atomic_file_open(&af, path, d))
        goto fail;
    FileSink sink = {{file_sink_append}, af.f};
    protobuf_c_message_pack_to_buffer(&mp->base, &sink.base);
    if (atomic_file_commit(&af, d))
        goto fail;
    arena_free(x.a);
    return KDC_OK;
fail:
    arena_free(x.a);
    return one_line(d);
}
