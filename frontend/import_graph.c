/* import_graph.c - GraphProto -> Graph: values with their types, nodes with
 * every attribute kind (subgraphs recursively), value_info, sparse
 * initializers and quantization annotations (kept packed).
 *
 * A graph is built in phases so that names resolve regardless of node order
 * in the file: first every value the graph defines (inputs, initializers,
 * node outputs), then node inputs and attributes (subgraphs then see every
 * outer value), then graph outputs and value_info, and finally a stable
 * topological sort.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "frontend/import_internal.h"
#include "ir/ops.h"

/* "subgraph 'body': " for nested graphs, "" for the main graph; names where
 * a message comes from when the same names recur in several bodies. */
static void graph_prefix(const Graph *g, char *buf, size_t cap)
{
    if (g->parent)
        snprintf(buf, cap, "subgraph '%s': ", g->name ? g->name : "");
    else
        buf[0] = 0;
}

static void node_label(const Graph *g, const Onnx__NodeProto *np, size_t idx, char *buf, size_t cap)
{
    char pre[300];
    graph_prefix(g, pre, sizeof pre);
    const char *op = np->op_type ? np->op_type : "";
    if (np->name && *np->name)
        snprintf(buf, cap, "%snode '%s' (%s)", pre, np->name, op);
    else
        snprintf(buf, cap, "%snode #%zu (%s)", pre, idx, op);
}

static Value *add_value(ImportCtx *c, Graph *g, const char *name, const char *what)
{
    Diag tmp;
    char pre[300];
    Value *v = graph_add_value(g, name, &tmp);
    if (!v) {
        graph_prefix(g, pre, sizeof pre);
        imp_error(c, "%s%s: %s", pre, what, tmp.msg);
    }
    return v;
}

static Status dup_bytes(ImportCtx *c, const ProtobufCBinaryData *src, Bytes *dst)
{
    dst->data = arena_memdup(c->m->arena, src->data, src->len);
    dst->len = src->len;
    return dst->data ? KDC_OK : imp_error(c, "out of memory");
}

/* ---- types ---- */

static Status import_shape(ImportCtx *c, const Onnx__TensorShapeProto *sp, Shape *s, const char *what)
{
    if (sp->n_dim > IR_MAX_RANK)
        return imp_error(c, "%s: rank %zu exceeds kdc's maximum of %d", what, sp->n_dim, IR_MAX_RANK);
    s->rank = (int)sp->n_dim;
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dp = sp->dim[i];
        Dim *dim = &s->dims[i];
        dim->value = -1;
        dim->param = NULL;
        if (dp->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dp->dim_value < 0)
                return imp_error(c, "%s: negative dimension %" PRId64 " in its shape", what, dp->dim_value);
            dim->value = dp->dim_value;
        } else if (dp->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
            dim->param = imp_str(c, dp->dim_param);
        }
    }
    return KDC_OK;
}

/* Tensor types become dtype + shape; every other type is kept packed. */
static Status import_type(ImportCtx *c, const Onnx__TypeProto *tp, Value *v, const char *what)
{
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return KDC_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        v->kind = TYPE_OPAQUE;
        return imp_pack(c, &tp->base, &v->opaque_type);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    v->kind = TYPE_TENSOR;
    v->dtype = DT_UNDEFINED;
    if (tt->has_elem_type && tt->elem_type != DT_UNDEFINED && imp_dtype(c, tt->elem_type, what, &v->dtype))
        return KDC_ERR;
    v->shape.rank = -1;
    return tt->shape ? import_shape(c, tt->shape, &v->shape, what) : KDC_OK;
}

/* The first ValueInfoProto naming a value gives its type and doc. */
static Status apply_value_info(ImportCtx *c, const Onnx__ValueInfoProto *vi, Value *v, const char *what)
{
    if (!v->doc)
        v->doc = imp_str(c, vi->doc_string);
    if (v->kind != TYPE_NONE)
        return KDC_OK;
    return import_type(c, vi->type, v, what);
}

/* ---- phase 1: values the graph defines ---- */

static Status define_inputs(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g)
{
    char what[600];
    g->inputs = arena_alloc(g->arena, (gp->n_input + 1) * sizeof *g->inputs);
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        snprintf(what, sizeof what, "graph input '%s'", vi->name ? vi->name : "");
        Value *v = add_value(c, g, vi->name, what);
        if (!v || apply_value_info(c, vi, v, what))
            return KDC_ERR;
        g->inputs[g->n_inputs++] = v;
    }
    return KDC_OK;
}

/* An initializer with the name of a graph input (IR < 4 style) gives that
 * input its default value: both are the same Value. */
static Status define_inits(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g)
{
    char what[600];
    g->inits = arena_alloc(g->arena, (gp->n_initializer + 1) * sizeof *g->inits);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        snprintf(what, sizeof what, "initializer '%s'", tp->name ? tp->name : "");
        Value *v = tp->name ? graph_find_value(g, tp->name) : NULL;
        if (!v || v->graph != g || v->init)
            v = add_value(c, g, tp->name, what);
        if (!v || imp_tensor(c, tp, what, &v->init))
            return KDC_ERR;
        g->inits[g->n_inits++] = v;
    }
    g->sparse_inits = arena_alloc(g->arena, (gp->n_sparse_initializer + 1) * sizeof *g->sparse_inits);
    for (size_t i = 0; i < gp->n_sparse_initializer; i++)
        if (imp_pack(c, &gp->sparse_initializer[i]->base, &g->sparse_inits[g->n_sparse_inits++]))
            return KDC_ERR;
    return KDC_OK;
}

static Status define_node(ImportCtx *c, const Onnx__NodeProto *np, size_t idx, Graph *g)
{
    char what[700], label[600];
    node_label(g, np, idx, label, sizeof label);
    if (!np->op_type || !*np->op_type)
        return imp_error(c, "%s: node has no op_type", label);
    if (np->n_input > INT_MAX / 2 || np->n_output > INT_MAX / 2 || np->n_attribute > INT_MAX / 2)
        return imp_error(c, "%s: too many inputs, outputs or attributes", label);
    Node *n = graph_add_node(g, np->op_type, np->domain, (int)np->n_input, (int)np->n_output);
    n->name = imp_str(c, np->name ? np->name : "");
    n->doc = imp_str(c, np->doc_string);
    n->opset = (int)model_opset(c->m, n->domain);
    for (size_t k = 0; k < np->n_output; k++) {
        if (!np->output[k] || !*np->output[k])
            continue; /* optional output not requested */
        snprintf(what, sizeof what, "%s output '%s'", label, np->output[k]);
        Value *v = add_value(c, g, np->output[k], what);
        if (!v)
            return KDC_ERR;
        node_set_output(n, (int)k, v);
    }
    return KDC_OK;
}

/* ---- phase 2: node inputs and attributes ---- */

static Status import_subgraph(ImportCtx *c, const Onnx__GraphProto *gp, Graph *parent, Graph **out)
{
    *out = graph_new(c->m->arena, parent);
    return *out ? imp_graph(c, gp, *out) : imp_error(c, "out of memory");
}

static Status import_tensor_list(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a, const char *what)
{
    char item[900];
    a->tensors = arena_alloc(c->m->arena, (ap->n_tensors + 1) * sizeof *a->tensors);
    for (size_t k = 0; k < ap->n_tensors; k++) {
        snprintf(item, sizeof item, "%s tensor %zu", what, k);
        if (imp_tensor(c, ap->tensors[k], item, &a->tensors[k]))
            return KDC_ERR;
    }
    a->n = (int)ap->n_tensors;
    return KDC_OK;
}

static Status import_graph_list(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a, Graph *g)
{
    a->graphs = arena_alloc(c->m->arena, (ap->n_graphs + 1) * sizeof *a->graphs);
    for (size_t k = 0; k < ap->n_graphs; k++)
        if (import_subgraph(c, ap->graphs[k], g, &a->graphs[k]))
            return KDC_ERR;
    a->n = (int)ap->n_graphs;
    return KDC_OK;
}

static Status import_string_list(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a)
{
    a->strings = arena_alloc(c->m->arena, (ap->n_strings + 1) * sizeof *a->strings);
    for (size_t k = 0; k < ap->n_strings; k++)
        if (dup_bytes(c, &ap->strings[k], &a->strings[k]))
            return KDC_ERR;
    a->n = (int)ap->n_strings;
    return KDC_OK;
}

/* Sparse tensors and type protos are kept packed, one blob per element. */
static Status import_blobs(ImportCtx *c, ProtobufCMessage *const *msgs, size_t n, Attr *a)
{
    a->blobs = arena_alloc(c->m->arena, (n + 1) * sizeof *a->blobs);
    for (size_t k = 0; k < n; k++)
        if (imp_pack(c, msgs[k], &a->blobs[k]))
            return KDC_ERR;
    a->n = (int)n;
    return KDC_OK;
}

static Status import_number_list(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a)
{
    if (a->kind == ATTR_FLOATS) {
        a->floats = arena_memdup(c->m->arena, ap->floats, ap->n_floats * sizeof *a->floats);
        a->n = (int)ap->n_floats;
    } else {
        a->ints = arena_memdup(c->m->arena, ap->ints, ap->n_ints * sizeof *a->ints);
        a->n = (int)ap->n_ints;
    }
    return a->floats || a->ints ? KDC_OK : imp_error(c, "out of memory");
}

/* Singular message-valued kinds must carry their message. */
static Status import_single_message(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a, Graph *g, const char *what)
{
    const ProtobufCMessage *msg = a->kind == ATTR_TENSOR          ? (const ProtobufCMessage *)ap->t
                                  : a->kind == ATTR_GRAPH         ? (const ProtobufCMessage *)ap->g
                                  : a->kind == ATTR_SPARSE_TENSOR ? (const ProtobufCMessage *)ap->sparse_tensor
                                                                  : (const ProtobufCMessage *)ap->tp;
    if (!msg)
        return imp_error(c, "%s: attribute of type %d carries no value", what, a->kind);
    if (a->kind == ATTR_TENSOR)
        return imp_tensor(c, ap->t, what, &a->t);
    if (a->kind == ATTR_GRAPH)
        return import_subgraph(c, ap->g, g, &a->g);
    ProtobufCMessage *const one[1] = {(ProtobufCMessage *)msg};
    return import_blobs(c, one, 1, a);
}

static Status import_attr_value(ImportCtx *c, const Onnx__AttributeProto *ap, Attr *a, Graph *g, const char *what)
{
    switch (a->kind) {
    case ATTR_FLOAT: a->f = ap->f; return KDC_OK;
    case ATTR_INT: a->i = ap->i; return KDC_OK;
    case ATTR_STRING: return dup_bytes(c, &ap->s, &a->s);
    case ATTR_TENSOR:
    case ATTR_GRAPH:
    case ATTR_SPARSE_TENSOR:
    case ATTR_TYPE_PROTO: return import_single_message(c, ap, a, g, what);
    case ATTR_FLOATS:
    case ATTR_INTS: return import_number_list(c, ap, a);
    case ATTR_STRINGS: return import_string_list(c, ap, a);
    case ATTR_TENSORS: return import_tensor_list(c, ap, a, what);
    case ATTR_GRAPHS: return import_graph_list(c, ap, a, g);
    case ATTR_SPARSE_TENSORS:
        return import_blobs(c, (ProtobufCMessage *const *)ap->sparse_tensors, ap->n_sparse_tensors, a);
    case ATTR_TYPE_PROTOS: return import_blobs(c, (ProtobufCMessage *const *)ap->type_protos, ap->n_type_protos, a);
    default: return imp_error(c, "%s: unknown attribute type %d", what, (int)a->kind);
    }
}

static Status import_attr(ImportCtx *c, const Onnx__AttributeProto *ap, Node *n, const char *label)
{
    char what[800];
    snprintf(what, sizeof what, "%s attribute '%s'", label, ap->name ? ap->name : "");
    if (!ap->name || !*ap->name)
        return imp_error(c, "%s: attribute has no name", what);
    int kind = ap->has_type ? (int)ap->type : ATTR_UNDEFINED;
    if (kind <= ATTR_UNDEFINED || kind > ATTR_TYPE_PROTOS)
        return imp_error(c, "%s: unknown attribute type %d", what, kind);
    /* the array was sized in fill_node: node_add_attr copies it on every
     * call, which a file with many attributes on one node would make quadratic */
    Attr *a = &n->attrs[n->n_attrs++];
    a->name = imp_str(c, ap->name);
    a->kind = (AttrKind)kind;
    a->doc = imp_str(c, ap->doc_string);
    a->ref_attr_name = ap->ref_attr_name && *ap->ref_attr_name ? imp_str(c, ap->ref_attr_name) : NULL;
    return import_attr_value(c, ap, a, n->graph, what);
}

static Status fill_node(ImportCtx *c, const Onnx__NodeProto *np, size_t idx, Node *n)
{
    char label[600];
    node_label(n->graph, np, idx, label, sizeof label);
    for (size_t k = 0; k < np->n_input; k++) {
        const char *name = np->input[k];
        if (!name || !*name)
            continue; /* optional input left empty */
        n->inputs[k] = graph_find_value(n->graph, name);
        if (!n->inputs[k])
            return imp_error(c, "%s: input '%s' is not defined by any node, graph input or initializer", label, name);
    }
    n->attrs = arena_alloc(c->m->arena, (np->n_attribute + 1) * sizeof *n->attrs);
    for (size_t k = 0; k < np->n_attribute; k++)
        if (import_attr(c, np->attribute[k], n, label))
            return KDC_ERR;
    op_bind(n);
    return KDC_OK;
}

/* ---- phase 3: outputs, value_info, leftovers ---- */

static Status bind_outputs(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g)
{
    char what[600], pre[300];
    graph_prefix(g, pre, sizeof pre);
    g->outputs = arena_alloc(g->arena, (gp->n_output + 1) * sizeof *g->outputs);
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *name = vi->name ? vi->name : "";
        snprintf(what, sizeof what, "%sgraph output '%s'", pre, name);
        Value *v = graph_find_value(g, name);
        if (!v)
            return imp_error(c, "%s is not defined by any node, graph input or initializer", what);
        if (apply_value_info(c, vi, v, what))
            return KDC_ERR;
        g->outputs[g->n_outputs++] = v;
    }
    return KDC_OK;
}

/* value_info types intermediate values; an entry for a name nothing defines
 * is kept as a value without producer so that it survives a round trip. */
static Status apply_value_infos(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g)
{
    char what[600], pre[300];
    graph_prefix(g, pre, sizeof pre);
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        snprintf(what, sizeof what, "%svalue_info '%s'", pre, vi->name ? vi->name : "");
        Value *v = vi->name ? graph_find_value(g, vi->name) : NULL;
        if (v && v->graph != g)
            return imp_error(c, "%s describes a value of an enclosing graph", what);
        if (!v)
            v = add_value(c, g, vi->name, what);
        if (!v || apply_value_info(c, vi, v, what))
            return KDC_ERR;
        v->in_value_info = true;
    }
    g->quant_annotations = arena_alloc(g->arena, (gp->n_quantization_annotation + 1) * sizeof *g->quant_annotations);
    for (size_t i = 0; i < gp->n_quantization_annotation; i++)
        if (imp_pack(c, &gp->quantization_annotation[i]->base, &g->quant_annotations[g->n_quant_annotations++]))
            return KDC_ERR;
    return KDC_OK;
}

/* Initializers nothing else typed take the type of their tensor. */
static void type_inits(Graph *g)
{
    for (int i = 0; i < g->n_inits; i++) {
        Value *v = g->inits[i];
        if (v->kind != TYPE_NONE)
            continue;
        v->kind = TYPE_TENSOR;
        v->dtype = v->init->dtype;
        v->shape = shape_from_dims(v->init->rank, v->init->dims);
    }
}

Status imp_graph(ImportCtx *c, const Onnx__GraphProto *gp, Graph *g)
{
    g->name = imp_str(c, gp->name);
    g->doc = imp_str(c, gp->doc_string);
    if (define_inputs(c, gp, g) || define_inits(c, gp, g))
        return KDC_ERR;
    for (size_t i = 0; i < gp->n_node; i++)
        if (define_node(c, gp->node[i], i, g))
            return KDC_ERR;
    for (size_t i = 0; i < gp->n_node; i++)
        if (fill_node(c, gp->node[i], i, g->nodes[i]))
            return KDC_ERR;
    if (bind_outputs(c, gp, g) || apply_value_infos(c, gp, g))
        return KDC_ERR;
    type_inits(g);
    Diag tmp;
    if (graph_toposort(g, &tmp)) {
        char pre[300];
        graph_prefix(g, pre, sizeof pre);
        return imp_error(c, "%s%s", pre, tmp.msg);
    }
    return KDC_OK;
}
