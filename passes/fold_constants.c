/* fold_constants.c - constant folding of shape computations (pass_fold_constants).
 *
 * Exporters compute reshape targets and other small int64 vectors inside the
 * graph (Constant, Shape, Gather, Slice, Unsqueeze, Squeeze, Concat, Cast, Identity,
 * Add/Sub/Mul/Div). This pass evaluates every such node whose inputs are
 * constant into a new initializer and points the node's uses at it; the node
 * itself is left for pass_eliminate_dead.
 *
 * With a symbolic batch dim, Shape(x) is not constant. Such vectors are
 * partially evaluated: each element is a number or "dim i of value v"
 * (SymVec). When a Reshape's target holds symbolic elements only where they
 * are its own data input's dim at the same position, the target becomes a
 * constant with 0 ("copy the input dim") there: that is PyTorch's
 * x.view(x.size(0), -1). Anything else is left as it is.
 *
 * Owns: SymVec and the small tensor evaluators below. Only the top-level
 * graph is folded; initializers that are also graph inputs are not constant
 * (the caller may feed them).
 */
#include "passes/fold_constants_impl.h"

#include "ir/ops.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- constants and results ---- */

static bool value_is_graph_input(const Value *v)
{
    for (int i = 0; i < v->graph->n_inputs; i++)
        if (v->graph->inputs[i] == v)
            return true;
    return false;
}

const Tensor *const_of(const Value *v)
{
    return v && v->init && !value_is_graph_input(v) ? v->init : NULL;
}

bool is_int_dtype(DType t)
{
    return t == DT_INT64 || t == DT_INT32;
}

/* A new initializer value holding t, named after `like`. */
Value *new_init(Folder *F, const char *like, Tensor *t)
{
    if (F->n_new == F->cap_new) {
        int cap = F->cap_new ? 2 * F->cap_new : 16;
        Value **p = realloc(F->new_inits, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        F->new_inits = p;
        F->cap_new = cap;
    }
    char name[480];
    snprintf(name, sizeof name, "%s_const", like);
    Value *v = graph_new_value(F->g, name);
    t->name = v->name;
    v->init = t;
    v->kind = TYPE_TENSOR;
    v->dtype = t->dtype;
    v->shape = shape_from_dims(t->rank, t->dims);
    F->new_inits[F->n_new++] = v;
    return v;
}

/* Replaces node output `out` by the constant t everywhere it is used. A
 * graph output keeps its producer, so the model's interface does not change. */
Status fold_output(Folder *F, Value *out, Tensor *t, Diag *d)
{
    if (!out || graph_has_output(F->g, out))
        return KDC_OK;
    Value *nv = new_init(F, out->name, t);
    if (!nv)
        return diag_error(d, "out of memory while folding '%s'", out->name);
    graph_replace_uses(F->g, out, nv);
    return KDC_OK;
}

static Status append_new_inits(Folder *F, Diag *d)
{
    Graph *g = F->g;
    if (!F->n_new)
        return KDC_OK;
    Value **inits = arena_alloc(g->arena, (size_t)(g->n_inits + F->n_new) * sizeof *inits);
    if (!inits)
        return diag_error(d, "out of memory");
    if (g->n_inits)
        memcpy(inits, g->inits, (size_t)g->n_inits * sizeof *inits);
    memcpy(inits + g->n_inits, F->new_inits, (size_t)F->n_new * sizeof *inits);
    g->inits = inits;
    g->n_inits += F->n_new;
    return KDC_OK;
}

/* ---- concrete evaluation: every input constant ---- */

static Tensor *tensor_copy_reshaped(Folder *F, const Tensor *src, int rank, const int64_t *dims)
{
    Tensor *t = tensor_new(F->g->arena, src->dtype, rank, dims);
    if (t->nbytes)
        memcpy(t->data, src->data, t->nbytes);
    return t;
}

static Tensor *eval_constant(Folder *F, const Node *n)
{
    Arena *a = F->g->arena;
    const Attr *at = n->n_attrs == 1 ? &n->attrs[0] : NULL;
    if (!at)
        return NULL;
    if (!strcmp(at->name, "value") && at->kind == ATTR_TENSOR && at->t)
        return arena_memdup(a, at->t, sizeof *at->t); /* same data, its own name */
    int64_t count = at->n;
    if (!strcmp(at->name, "value_float") && at->kind == ATTR_FLOAT) {
        Tensor *t = tensor_new(a, DT_FLOAT, 0, NULL);
        memcpy(t->data, &at->f, sizeof at->f);
        return t;
    }
    if (!strcmp(at->name, "value_int") && at->kind == ATTR_INT) {
        Tensor *t = tensor_new(a, DT_INT64, 0, NULL);
        memcpy(t->data, &at->i, sizeof at->i);
        return t;
    }
    if (!strcmp(at->name, "value_floats") && at->kind == ATTR_FLOATS) {
        Tensor *t = tensor_new(a, DT_FLOAT, 1, &count);
        if (count)
            memcpy(t->data, at->floats, t->nbytes);
        return t;
    }
    if (!strcmp(at->name, "value_ints") && at->kind == ATTR_INTS) {
        Tensor *t = tensor_new(a, DT_INT64, 1, &count);
        if (count)
            memcpy(t->data, at->ints, t->nbytes);
        return t;
    }
    return NULL; /* sparse_value, value_string(s): left to the runtime */
}

/* Axes of Unsqueeze/Squeeze: input 1 (opset 13+) or attribute (older).
 * Returns the count (0 when absent), -1 when not constant. */
int node_axes(const Node *n, int64_t *axes)
{
    if (n->n_inputs > 1 && n->inputs[1]) {
        const Tensor *t = const_of(n->inputs[1]);
        if (!t || !is_int_dtype(t->dtype) || tensor_numel(t) > IR_MAX_RANK)
            return -1;
        for (int64_t i = 0; i < tensor_numel(t); i++)
            axes[i] = tensor_get_int(t, i);
        return (int)tensor_numel(t);
    }
    int count = 0;
    const int64_t *list = node_attr_ints(n, "axes", &count);
    if (count > IR_MAX_RANK)
        return -1;
    if (count)
        memcpy(axes, list, (size_t)count * sizeof *axes);
    return count;
}

/* Output dims of Unsqueeze on a rank-r input; false when the axes are invalid. */
static bool unsqueeze_dims(const int64_t *in_dims, int r, const int64_t *axes, int na, int64_t *out)
{
    int out_rank = r + na;
    bool inserted[IR_MAX_RANK] = {false};
    if (na < 1 || out_rank > IR_MAX_RANK)
        return false;
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + out_rank : axes[i];
        if (a < 0 || a >= out_rank || inserted[a])
            return false;
        inserted[a] = true;
    }
    for (int i = 0, k = 0; i < out_rank; i++)
        out[i] = inserted[i] ? 1 : in_dims[k++];
    return true;
}

/* Output rank of Squeeze (dims in out); -1 when an axis is invalid or not 1. */
static int squeeze_dims(const int64_t *in_dims, int r, const int64_t *axes, int na, int64_t *out)
{
    bool removed[IR_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        if (a < 0 || a >= r || in_dims[a] != 1)
            return -1;
        removed[a] = true;
    }
    int k = 0;
    for (int i = 0; i < r; i++)
        if (!(na ? removed[i] : in_dims[i] == 1))
            out[k++] = in_dims[i];
    return k;
}

static Tensor *eval_unsqueeze(Folder *F, const Node *n, const Tensor *x)
{
    int64_t axes[IR_MAX_RANK], dims[IR_MAX_RANK];
    int na = node_axes(n, axes);
    if (na < 0 || !unsqueeze_dims(x->dims, x->rank, axes, na, dims))
        return NULL;
    return tensor_copy_reshaped(F, x, x->rank + na, dims);
}

static Tensor *eval_squeeze(Folder *F, const Node *n, const Tensor *x)
{
    int64_t axes[IR_MAX_RANK], dims[IR_MAX_RANK];
    int na = node_axes(n, axes);
    int rank = na < 0 ? -1 : squeeze_dims(x->dims, x->rank, axes, na, dims);
    return rank < 0 ? NULL : tensor_copy_reshaped(F, x, rank, dims);
}

static bool indices_in_range(const Tensor *idx, int64_t limit)
{
    for (int64_t j = 0; j < tensor_numel(idx); j++) {
        int64_t k = tensor_get_int(idx, j);
        if (k < -limit || k >= limit)
            return false;
    }
    return true;
}

static Tensor *eval_gather(Folder *F, const Node *n, const Tensor *x, const Tensor *idx)
{
    int64_t axis = node_attr_int(n, "axis", 0);
    axis = axis < 0 ? axis + x->rank : axis;
    if (!is_int_dtype(idx->dtype) || axis < 0 || axis >= x->rank || x->rank - 1 + idx->rank > IR_MAX_RANK)
        return NULL;
    int64_t outer = 1, inner = 1, limit = x->dims[axis], ni = tensor_numel(idx);
    int64_t dims[IR_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < axis; i++)
        outer *= dims[rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        dims[rank++] = idx->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++)
        inner *= dims[rank++] = x->dims[i];
    if (!indices_in_range(idx, limit))
        return NULL;
    Tensor *t = tensor_new(F->g->arena, x->dtype, rank, dims);
    size_t es = dtype_size(x->dtype), run = (size_t)inner * es;
    const unsigned char *src = x->data;
    unsigned char *dst = t->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t k = tensor_get_int(idx, j);
            k = k < 0 ? k + limit : k;
            memcpy(dst + (size_t)(o * ni + j) * run, src + (size_t)(o * limit + k) * run, run);
        }
    return t;
}

/* Checks every Concat input is constant and they agree except on the axis;
 * returns the output dims. */
static bool concat_dims(const Node *n, const Tensor *first, int axis, int64_t *dims)
{
    for (int i = 0; i < first->rank; i++)
        dims[i] = i == axis ? 0 : first->dims[i];
    for (int j = 0; j < n->n_inputs; j++) {
        const Tensor *t = const_of(n->inputs[j]);
        if (!t || t->dtype != first->dtype || t->rank != first->rank)
            return false;
        for (int i = 0; i < first->rank; i++)
            if (i != axis && t->dims[i] != first->dims[i])
                return false;
        dims[axis] += t->dims[axis];
    }
    return true;
}

static Tensor *eval_concat(Folder *F, const Node *n, const Tensor *first)
{
    int64_t axis = node_attr_int(n, "axis", 0), dims[IR_MAX_RANK];
    axis = axis < 0 ? axis + first->rank : axis;
    if (first->rank < 1 || axis < 0 || axis >= first->rank || !concat_dims(n, first, (int)axis, dims))
        return NULL;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < first->rank; i++) {
        outer *= i < axis ? dims[i] : 1;
        inner *= i > axis ? dims[i] : 1;
    }
    Tensor *t = tensor_new(F->g->arena, first->dtype, first->rank, dims);
    size_t es = dtype_size(first->dtype);
    unsigned char *dst = t->data;
    for (int64_t o = 0; o < outer; o++)
        for (int j = 0; j < n->n_inputs; j++) {
            const Tensor *in = const_of(n->inputs[j]);
            size_t run = (size_t)(in->dims[axis] * inner) * es;
            if (run)
                memcpy(dst, (const unsigned char *)in->data + (size_t)o * run, run);
            dst += run;
        }
    return t;
}

static bool cast_supported(DType t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT64 || t == DT_INT32 || t == DT_INT16 || t == DT_INT8 ||
           t == DT_UINT8 || t == DT_BOOL;
}

void store_int(Tensor *t, int64_t i, int64_t v)
{
    unsigned char *p = t->data;
    switch (t->dtype) {
    case DT_INT64: memcpy(p + 8 * i, &v, 8); break;
    case DT_INT32: {
        int32_t w = (int32_t)v;
        memcpy(p + 4 * i, &w, 4);
        break;
    }
    case DT_INT16: {
        int16_t w = (int16_t)v;
        memcpy(p + 2 * i, &w, 2);
        break;
    }
    case DT_INT8: p[i] = (unsigned char)(int8_t)v; break;
    case DT_UINT8: p[i] = (unsigned char)v; break;
    case DT_BOOL: p[i] = v != 0; break;
    default: assert(!"store_int: not an integer dtype"); break;
    }
}

/* Element i of src converted to dst's type; false when a float does not fit
 * an integer (the conversion would be undefined). */
static bool cast_element(const Tensor *src, int64_t i, Tensor *dst)
{
    bool src_real = src->dtype == DT_FLOAT || src->dtype == DT_DOUBLE;
    if (dst->dtype == DT_FLOAT) {
        float f = (float)tensor_get_double(src, i);
        memcpy((float *)dst->data + i, &f, sizeof f);
        return true;
    }
    if (dst->dtype == DT_DOUBLE) {
        double x = tensor_get_double(src, i);
        memcpy((double *)dst->data + i, &x, sizeof x);
        return true;
    }
    if (!src_real) {
        store_int(dst, i, tensor_get_int(src, i));
        return true;
    }
    double x = tensor_get_double(src, i);
    if (dst->dtype == DT_BOOL) {
        store_int(dst, i, x != 0);
        return true;
    }
    if (!(x > -9.2e18 && x < 9.2e18))
        return false;
    store_int(dst, i, (int64_t)x);
    return true;
}

static Tensor *eval_cast(Folder *F, const Node *n, const Tensor *x)
{
    DType to = (DType)node_attr_int(n, "to", 0);
    if (!cast_supported(to) || !cast_supported(x->dtype))
        return NULL;
    Tensor *t = tensor_new(F->g->arena, to, x->rank, x->dims);
    for (int64_t i = 0; i < tensor_numel(x); i++)
        if (!cast_element(x, i, t))
            return NULL;
    return t;
}

/* Numpy broadcasting of two constant shapes. */
static bool broadcast_dims(const Tensor *a, const Tensor *b, int *rank, int64_t *dims)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return true;
}

/* Offset into t of output element `flat` of a broadcast with the given output dims. */
static int64_t broadcast_offset(const Tensor *t, int rank, const int64_t *dims, int64_t flat)
{
    int64_t off = 0, stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int64_t coord = flat % dims[i];
        flat /= dims[i];
        int it = i - (rank - t->rank);
        if (it >= 0) {
            off += (t->dims[it] == 1 ? 0 : coord) * stride;
            stride *= t->dims[it];
        }
    }
    return off;
}

/* Integer arithmetic with ONNX (C) semantics; wraps rather than overflowing. */
static bool int_arith(int op, int64_t x, int64_t y, int64_t *r)
{
    switch (op) {
    case OP_Add: *r = (int64_t)((uint64_t)x + (uint64_t)y); return true;
    case OP_Sub: *r = (int64_t)((uint64_t)x - (uint64_t)y); return true;
    case OP_Mul: *r = (int64_t)((uint64_t)x * (uint64_t)y); return true;
    case OP_Div:
        if (y == 0 || (x == INT64_MIN && y == -1))
            return false;
        *r = x / y;
        return true;
    default: return false;
    }
}

static Tensor *eval_arith(Folder *F, const Node *n, const Tensor *a, const Tensor *b)
{
    int rank;
    int64_t dims[IR_MAX_RANK];
    if (a->dtype != b->dtype || !is_int_dtype(a->dtype) || !broadcast_dims(a, b, &rank, dims))
        return NULL;
    Tensor *t = tensor_new(F->g->arena, a->dtype, rank, dims);
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        int64_t r;
        int64_t x = tensor_get_int(a, broadcast_offset(a, rank, dims, i));
        int64_t y = tensor_get_int(b, broadcast_offset(b, rank, dims, i));
        if (!int_arith(n->op, x, y, &r))
            return NULL;
        store_int(t, i, r);
    }
    return t;
}

/* ---- driver ---- */

static bool node_well_formed(const Node *n)
{
    const OpInfo *op = &op_table[n->op];
    if (n->n_outputs < 1 || !n->outputs[0] || n->n_inputs < op->min_inputs || n->n_inputs > op->max_inputs)
        return false;
    for (int j = 0; j < op->min_inputs; j++)
        if (!n->inputs[j])
            return false;
    return true;
}

static bool all_inputs_const(const Node *n)
{
    for (int j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] && !const_of(n->inputs[j]))
            return false;
    return true;
}

static Tensor *eval_node(Folder *F, const Node *n)
{
    const Tensor *x = const_of(n->inputs[0]);
    if (x->dtype == DT_STRING)
        return NULL;
    switch (n->op) {
    case OP_Gather: return eval_gather(F, n, x, const_of(n->inputs[1]));
    case OP_Unsqueeze: return eval_unsqueeze(F, n, x);
    case OP_Squeeze: return eval_squeeze(F, n, x);
    case OP_Concat: return eval_concat(F, n, x);
    case OP_Cast: return eval_cast(F, n, x);
    case OP_Add:
    case OP_Sub:
    case OP_Mul:
    case OP_Div: return eval_arith(F, n, x, const_of(n->inputs[1]));
    default: return NULL;
    }
}

static Status fold_node(Folder *F, Node *n, Diag *d)
{
    if (n->op == OP_OPAQUE || !node_well_formed(n))
        return KDC_OK;
    Value *out = n->outputs[0];
    switch (n->op) {
    case OP_Constant: {
        Tensor *t = eval_constant(F, n);
        return t ? fold_output(F, out, t, d) : KDC_OK;
    }
    case OP_Reshape:
        if (fold_reshape_target(F, n, d))
            return KDC_ERR;
        break; /* a shape vector reshaped to 1-D is evaluated too */
    case OP_Expand: return fold_expand_shape(F, n, d);
    case OP_Identity:
        if (const_of(n->inputs[0]) && !graph_has_output(F->g, out))
            graph_replace_uses(F->g, out, n->inputs[0]);
        return const_of(n->inputs[0]) ? KDC_OK : fold_symbolic(F, n, d);
    case OP_Shape:
    case OP_Gather:
    case OP_Unsqueeze:
    case OP_Squeeze:
    case OP_Concat:
    case OP_Slice:
    case OP_Equal:
    case OP_Where:
    case OP_ConstantOfShape:
    case OP_Cast:
    case OP_Add:
    case OP_Sub:
    case OP_Mul:
    case OP_Div: break;
    default: return KDC_OK;
    }
    if (n->op != OP_Shape && all_inputs_const(n)) {
        Tensor *t = eval_node(F, n);
        if (t)
            return fold_output(F, out, t, d);
    }
    return fold_symbolic(F, n, d);
}

Status pass_fold_constants(Graph *g, Diag *d)
{
    Status st = KDC_ERR;
    Folder F = {.g = g, .n_sym = g->n_values};
    F.sym = calloc((size_t)g->n_values + 1, sizeof *F.sym);
    if (!F.sym) {
        diag_error(d, "out of memory");
        goto fail;
    }
    st = KDC_OK;
    /* each node is inferred again around its folding: a target folded upstream
     * (or its own) lets its output's shape be known to the nodes downstream */
    for (int i = 0; i < g->n_nodes && st == KDC_OK; i++) {
        Node *n = g->nodes[i];
        bool inferable = n->op != OP_OPAQUE && node_well_formed(n);
        st = (inferable && pass_infer_node(n, d)) || fold_node(&F, n, d) || (inferable && pass_infer_node(n, d));
    }
    /* even after a failure: values already redirected to must be defined */
    if (append_new_inits(&F, d))
        st = KDC_ERR;
fail:
    for (int i = 0; F.sym && i < F.n_sym; i++)
        free(F.sym[i]);
    free(F.sym);
    free(F.new_inits);
    return st;
}
