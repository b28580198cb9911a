/* print.c - the text form of the IR (`kdc inspect --ir`).
 *
 * Deterministic and complete enough that two imports of the same model print
 * the same text and any lost or changed field shows up: every name, type,
 * attribute and doc string is printed; tensor data is printed as a 64-bit
 * FNV-1a digest (and in full when it has at most 8 elements).
 */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void print_quoted(FILE *f, const void *data, size_t len)
{
    const unsigned char *s = data;
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fprintf(f, "\\%c", s[i]);
        else if (s[i] < 32 || s[i] > 126)
            fprintf(f, "\\x%02x", s[i]);
        else
            fputc(s[i], f);
    }
    fputc('"', f);
}

static void print_str(FILE *f, const char *s)
{
    print_quoted(f, s ? s : "", s ? strlen(s) : 0);
}

static void print_doc(FILE *f, const char *doc)
{
    if (doc && *doc) {
        fputs(" doc=", f);
        print_str(f, doc);
    }
}

static void print_shape(FILE *f, const Shape *s)
{
    if (s->rank < 0) {
        fputs("[?rank]", f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < s->rank; i++) {
        const Dim *d = &s->dims[i];
        if (i)
            fputc(',', f);
        if (d->value >= 0)
            fprintf(f, "%" PRId64, d->value);
        else if (d->param)
            fputs(d->param, f);
        else
            fputc('?', f);
    }
    fputc(']', f);
}

static void print_type(FILE *f, const Value *v)
{
    if (v->kind == TYPE_TENSOR) {
        fprintf(f, "%s", dtype_name(v->dtype));
        print_shape(f, &v->shape);
    } else if (v->kind == TYPE_OPAQUE) {
        fprintf(f, "opaque(%zu:%016" PRIx64 ")", v->opaque_type.len, fnv1a(v->opaque_type.data, v->opaque_type.len));
    } else {
        fputs("?", f);
    }
}

static void print_tensor(FILE *f, const Tensor *t)
{
    fprintf(f, "tensor %s[", dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++)
        fprintf(f, "%s%" PRId64, i ? "," : "", t->dims[i]);
    fputc(']', f);
    int64_t numel = tensor_numel(t);
    uint64_t h = 1469598103934665603ull;
    if (t->dtype == DT_STRING) {
        for (int64_t i = 0; i < numel; i++)
            h ^= fnv1a(t->strings[i].data, t->strings[i].len) + (uint64_t)i;
    } else {
        h = fnv1a(t->data, t->nbytes);
    }
    fprintf(f, " #%016" PRIx64, h);
    bool is_num = t->dtype == DT_FLOAT || t->dtype == DT_DOUBLE || t->dtype == DT_INT64 || t->dtype == DT_INT32;
    if (is_num && numel <= 8) {
        fputs(" {", f);
        for (int64_t i = 0; i < numel; i++)
            fprintf(f, "%s%.9g", i ? "," : "", tensor_get_double(t, i));
        fputc('}', f);
    }
    if (t->name && *t->name) {
        fputs(" name=", f);
        print_str(f, t->name);
    }
    print_doc(f, t->doc);
}

static void print_graph(FILE *f, const Graph *g, int indent);

static void print_attr(FILE *f, const Attr *a, int indent)
{
    fprintf(f, "%s=", a->name);
    switch (a->kind) {
    case ATTR_FLOAT: fprintf(f, "%.9g", a->f); break;
    case ATTR_INT: fprintf(f, "%" PRId64, a->i); break;
    case ATTR_STRING: print_quoted(f, a->s.data, a->s.len); break;
    case ATTR_TENSOR: print_tensor(f, a->t); break;
    case ATTR_GRAPH: print_graph(f, a->g, indent + 4); break;
    case ATTR_FLOATS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++)
            fprintf(f, "%s%.9g", i ? "," : "", a->floats[i]);
        fputc(']', f);
        break;
    case ATTR_INTS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++)
            fprintf(f, "%s%" PRId64, i ? "," : "", a->ints[i]);
        fputc(']', f);
        break;
    case ATTR_STRINGS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++) {
            if (i)
                fputc(',', f);
            print_quoted(f, a->strings[i].data, a->strings[i].len);
        }
        fputc(']', f);
        break;
    case ATTR_TENSORS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++) {
            fputs(i ? ", " : "", f);
            print_tensor(f, a->tensors[i]);
        }
        fputc(']', f);
        break;
    case ATTR_GRAPHS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++)
            print_graph(f, a->graphs[i], indent + 4);
        fputc(']', f);
        break;
    default:
        fprintf(f, "kind%d[", a->kind);
        for (int i = 0; i < a->n; i++)
            fprintf(f, "%s%zu:%016" PRIx64, i ? "," : "", a->blobs[i].len, fnv1a(a->blobs[i].data, a->blobs[i].len));
        fputc(']', f);
        break;
    }
    if (a->ref_attr_name)
        fprintf(f, " ref=%s", a->ref_attr_name);
    print_doc(f, a->doc);
}

static void print_value_ref(FILE *f, const Value *v)
{
    if (v)
        fprintf(f, "%%%s", v->name);
    else
        fputs("_", f);
}

static void print_node(FILE *f, const Node *n, int indent)
{
    fprintf(f, "%*s", indent, "");
    for (int i = 0; i < n->n_outputs; i++) {
        fputs(i ? ", " : "", f);
        print_value_ref(f, n->outputs[i]);
    }
    fprintf(f, " = %s%s%s(", n->domain && *n->domain ? n->domain : "", n->domain && *n->domain ? "." : "", n->op_type);
    for (int i = 0; i < n->n_inputs; i++) {
        fputs(i ? ", " : "", f);
        print_value_ref(f, n->inputs[i]);
    }
    fputc(')', f);
    if (n->n_attrs) {
        fputs(" {", f);
        for (int i = 0; i < n->n_attrs; i++) {
            fputs(i ? ", " : "", f);
            print_attr(f, &n->attrs[i], indent);
        }
        fputc('}', f);
    }
    if (n->name && *n->name) {
        fputs(" name=", f);
        print_str(f, n->name);
    }
    print_doc(f, n->doc);
    fputc('\n', f);
    for (int i = 0; i < n->n_outputs; i++) {
        const Value *v = n->outputs[i];
        if (v && (v->kind != TYPE_NONE || v->in_value_info)) {
            fprintf(f, "%*s  : %%%s : ", indent, "", v->name);
            print_type(f, v);
            fputs(v->in_value_info ? " (value_info)" : "", f);
            print_doc(f, v->doc);
            fputc('\n', f);
        }
    }
}

static void print_io(FILE *f, const char *what, const Value *v, int indent)
{
    fprintf(f, "%*s%s %%%s : ", indent + 2, "", what, v->name);
    print_type(f, v);
    print_doc(f, v->doc);
    fputc('\n', f);
}

static void print_blobs(FILE *f, const char *what, const Bytes *b, int n, int indent)
{
    for (int i = 0; i < n; i++)
        fprintf(f, "%*s%s %zu:%016" PRIx64 "\n", indent, "", what, b[i].len, fnv1a(b[i].data, b[i].len));
}

static void print_graph(FILE *f, const Graph *g, int indent)
{
    fputs("graph ", f);
    print_str(f, g->name);
    print_doc(f, g->doc);
    fputs(" {\n", f);
    for (int i = 0; i < g->n_inputs; i++)
        print_io(f, "input", g->inputs[i], indent);
    for (int i = 0; i < g->n_inits; i++) {
        const Value *v = g->inits[i];
        fprintf(f, "%*sinit %%%s = ", indent + 2, "", v->name);
        print_tensor(f, v->init);
        fputc('\n', f);
    }
    print_blobs(f, "sparse_init", g->sparse_inits, g->n_sparse_inits, indent + 2);
    for (int i = 0; i < g->n_nodes; i++)
        print_node(f, g->nodes[i], indent + 2);
    for (int i = 0; i < g->n_outputs; i++)
        print_io(f, "output", g->outputs[i], indent);
    /* value_info entries for values no node defines (rare, but must survive) */
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (v->in_value_info && !v->producer)
            print_io(f, "value_info", v, indent);
    }
    print_blobs(f, "quantization_annotation", g->quant_annotations, g->n_quant_annotations, indent + 2);
    fprintf(f, "%*s}", indent, "");
}

void ir_print(const Model *m, void *file)
{
    FILE *f = file;
    fprintf(f, "model ir_version=%" PRId64 " domain=", m->ir_version);
    print_str(f, m->domain);
    fprintf(f, " model_version=%" PRId64, m->model_version);
    print_doc(f, m->doc);
    /* on a line of its own: the backend stamps producer = kdc, so round-trip
     * comparisons skip exactly this line */
    fputs("\nproducer ", f);
    print_str(f, m->producer_name);
    fputc(' ', f);
    print_str(f, m->producer_version);
    fputc('\n', f);
    for (int i = 0; i < m->n_opsets; i++) {
        fputs("opset ", f);
        print_str(f, m->opsets[i].domain);
        fprintf(f, " %" PRId64 "\n", m->opsets[i].version);
    }
    for (int i = 0; i < m->n_metadata; i++) {
        fputs("metadata ", f);
        print_str(f, m->metadata[i].key);
        fputs(" = ", f);
        print_str(f, m->metadata[i].value);
        fputc('\n', f);
    }
    print_blobs(f, "function", m->functions, m->n_functions, 0);
    print_blobs(f, "training_info", m->training_info, m->n_training_info, 0);
    print_graph(f, m->graph, 0);
    fputc('\n', f);
}
