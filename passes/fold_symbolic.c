/* fold_symbolic.c - partial evaluation of shape vectors for
 * pass_fold_constants: integer vectors whose elements are numbers or "dim i
 * of value v" (SymVec), through Shape, Gather, Slice, Unsqueeze, Squeeze,
 * Concat, Cast, Identity, Reshape to 1-D, Equal and Where (a dim is never
 * negative, so comparing one with a negative number is decided). Reshape
 * targets become constants (0 where the input's own dim is copied), and
 * Expand outputs get the dims their symbolic shape states (PyTorch's
 * x.expand(batch, -1, -1)).
 */
#include "passes/fold_constants_impl.h"

#include "ir/data_geom.h"

#include <stdlib.h>
#include <string.h>

/* ---- partial evaluation: integer vectors with symbolic elements ---- */

/* v as a partly known vector: its SymVec, or the numbers of a small integer constant. */
static bool sym_view(const Folder *F, const Value *v, SymVec *out)
{
    if (!v)
        return false;
    if (v->graph == F->g && v->id < F->n_sym && F->sym[v->id]) {
        *out = *F->sym[v->id];
        return true;
    }
    const Tensor *t = const_of(v);
    if (!t || (!is_int_dtype(t->dtype) && t->dtype != DT_BOOL) || t->rank > 1 || tensor_numel(t) > SYM_MAX)
        return false;
    out->dtype = t->dtype;
    out->rank = t->rank;
    out->n = (int)tensor_numel(t);
    for (int i = 0; i < out->n; i++)
        out->e[i] = (SymElem){NULL, 0, tensor_get_int(t, i)};
    return true;
}

static int64_t clamp_index(int64_t i, int64_t r)
{
    i = i < 0 ? i + r : i;
    return i < 0 ? 0 : i > r ? r : i;
}

static bool sym_shape(const Node *n, SymVec *out)
{
    const Value *x = n->inputs[0];
    if (!x || x->shape.rank < 0)
        return false;
    int r = x->shape.rank;
    int64_t start = clamp_index(node_attr_int(n, "start", 0), r);
    int64_t end = clamp_index(node_attr_int(n, "end", r), r);
    *out = (SymVec){.dtype = DT_INT64, .rank = 1};
    for (int64_t i = start; i < end; i++) {
        const Dim *dim = &x->shape.dims[i];
        out->e[out->n++] = dim->value >= 0 ? (SymElem){NULL, 0, dim->value} : (SymElem){x, (int)i, 0};
    }
    return true;
}

static bool sym_gather(const Folder *F, const Node *n, SymVec *out)
{
    SymVec x, idx;
    int64_t axis = node_attr_int(n, "axis", 0);
    if (!sym_view(F, n->inputs[0], &x) || x.rank != 1 || !sym_view(F, n->inputs[1], &idx) || (axis != 0 && axis != -1))
        return false;
    *out = (SymVec){.dtype = x.dtype, .rank = idx.rank, .n = idx.n};
    for (int j = 0; j < idx.n; j++) {
        int64_t k = idx.e[j].num;
        k = k < 0 ? k + x.n : k;
        if (idx.e[j].of || k < 0 || k >= x.n)
            return false;
        out->e[j] = x.e[k];
    }
    return true;
}

static bool sym_unsqueeze_or_squeeze(const Folder *F, const Node *n, SymVec *out)
{
    int64_t axes[IR_MAX_RANK];
    int na = node_axes(n, axes);
    bool first_axis = na == 1 && (axes[0] == 0 || axes[0] == -1);
    if (!sym_view(F, n->inputs[0], out))
        return false;
    if (n->op == OP_Unsqueeze && out->rank == 0 && first_axis) {
        out->rank = 1;
        return true;
    }
    if (n->op == OP_Squeeze && out->rank == 1 && out->n == 1 && (na == 0 || first_axis)) {
        out->rank = 0;
        return true;
    }
    return false;
}

static bool sym_concat(const Folder *F, const Node *n, SymVec *out)
{
    int64_t axis = node_attr_int(n, "axis", 0);
    if (axis != 0 && axis != -1)
        return false;
    for (int j = 0; j < n->n_inputs; j++) {
        SymVec part;
        if (!sym_view(F, n->inputs[j], &part) || part.rank != 1 || (j && part.dtype != out->dtype) ||
            (j ? out->n : 0) + part.n > SYM_MAX)
            return false;
        if (!j)
            *out = (SymVec){.dtype = part.dtype, .rank = 1};
        memcpy(out->e + out->n, part.e, (size_t)part.n * sizeof *part.e);
        out->n += part.n;
    }
    return n->n_inputs > 0;
}

/* x.size()[a:b] style slices of a shape vector (PyTorch's flatten(2)). */
static bool sym_slice(const Folder *F, const Node *n, SymVec *out)
{
    SymVec x;
    if (!sym_view(F, n->inputs[0], &x) || x.rank != 1)
        return false;
    const Tensor *vals[5] = {NULL};
    for (int k = 1; k < 5 && k < n->n_inputs; k++)
        if (n->inputs[k] && !(vals[k] = const_of(n->inputs[k])))
            return false;
    Shape shape = {.rank = 1, .dims = {{x.n, NULL}}};
    SliceGeom geom;
    bool known = true;
    Diag d;
    if (data_slice_geom(n, vals, &shape, &geom, &known, &d) || !known || geom.len[0] < 0)
        return false;
    *out = (SymVec){.dtype = x.dtype, .rank = 1, .n = (int)geom.len[0]};
    for (int i = 0; i < out->n; i++)
        out->e[i] = x.e[geom.start[0] + i * geom.step[0]];
    return true;
}

/* Element k of v, broadcasting a one-element vector. */
static const SymElem *sym_at(const SymVec *v, int k)
{
    return &v->e[v->n == 1 ? 0 : k];
}

static int sym_len(const SymVec *a, const SymVec *b, const SymVec *c)
{
    int n = a->n;
    n = b && b->n > n ? b->n : n;
    n = c && c->n > n ? c->n : n;
    bool ok = (a->n == 1 || a->n == n) && (!b || b->n == 1 || b->n == n) && (!c || c->n == 1 || c->n == n);
    return ok ? n : -1;
}

/* Equal: decided when both are numbers, the same dim, or a dim against a
 * negative number (dims are never negative). */
static bool sym_equal(const Folder *F, const Node *n, SymVec *out)
{
    SymVec a, b;
    if (!sym_view(F, n->inputs[0], &a) || !sym_view(F, n->inputs[1], &b) || a.rank != 1 || b.rank > 1)
        return false;
    int len = sym_len(&a, &b, NULL);
    *out = (SymVec){.dtype = DT_BOOL, .rank = 1, .n = len};
    for (int k = 0; k < len; k++) {
        const SymElem *x = sym_at(&a, k), *y = sym_at(&b, k);
        if (!x->of && !y->of)
            out->e[k].num = x->num == y->num;
        else if (x->of && y->of && x->of == y->of && x->dim == y->dim)
            out->e[k].num = 1;
        else if ((x->of && !y->of && y->num < 0) || (y->of && !x->of && x->num < 0))
            out->e[k].num = 0;
        else
            return false;
    }
    return len > 0;
}

static bool sym_where(const Folder *F, const Node *n, SymVec *out)
{
    SymVec c, x, y;
    if (!sym_view(F, n->inputs[0], &c) || !sym_view(F, n->inputs[1], &x) || !sym_view(F, n->inputs[2], &y) ||
        c.rank > 1 || x.rank > 1 || y.rank > 1 || x.dtype != y.dtype)
        return false;
    int len = sym_len(&c, &x, &y);
    *out = (SymVec){.dtype = x.dtype, .rank = 1, .n = len};
    for (int k = 0; k < len; k++) {
        if (sym_at(&c, k)->of)
            return false;
        out->e[k] = *(sym_at(&c, k)->num ? sym_at(&x, k) : sym_at(&y, k));
    }
    return len > 0;
}

/* A 1-D vector reshaped to 1-D ([-1] or [n]) is itself. */
static bool sym_reshape(const Folder *F, const Node *n, SymVec *out)
{
    const Tensor *t = const_of(n->inputs[1]);
    if (!t || tensor_numel(t) != 1 || !sym_view(F, n->inputs[0], out) || out->rank != 1)
        return false;
    int64_t len = tensor_get_int(t, 0);
    return len == -1 || len == out->n;
}

/* ConstantOfShape of a known small shape: its value repeated. */
static bool sym_constant_of_shape(const Folder *F, const Node *n, SymVec *out)
{
    SymVec shape;
    const Attr *a = node_attr(n, "value");
    if (!sym_view(F, n->inputs[0], &shape) || shape.n != 1 || shape.e[0].of || shape.e[0].num > SYM_MAX ||
        shape.e[0].num < 0 || !a || a->kind != ATTR_TENSOR || !is_int_dtype(a->t->dtype) || tensor_numel(a->t) != 1)
        return false;
    *out = (SymVec){.dtype = a->t->dtype, .rank = 1, .n = (int)shape.e[0].num};
    for (int k = 0; k < out->n; k++)
        out->e[k].num = tensor_get_int(a->t, 0);
    return true;
}

static bool sym_eval(const Folder *F, const Node *n, SymVec *out)
{
    switch (n->op) {
    case OP_Shape: return sym_shape(n, out);
    case OP_Gather: return sym_gather(F, n, out);
    case OP_Unsqueeze:
    case OP_Squeeze: return sym_unsqueeze_or_squeeze(F, n, out);
    case OP_Concat: return sym_concat(F, n, out);
    case OP_Slice: return sym_slice(F, n, out);
    case OP_Identity: return sym_view(F, n->inputs[0], out);
    case OP_Equal: return sym_equal(F, n, out);
    case OP_Where: return sym_where(F, n, out);
    case OP_Reshape: return sym_reshape(F, n, out);
    case OP_ConstantOfShape: return sym_constant_of_shape(F, n, out);
    case OP_Cast: {
        DType to = (DType)node_attr_int(n, "to", 0);
        if (!is_int_dtype(to) || !sym_view(F, n->inputs[0], out))
            return false;
        out->dtype = to;
        return true;
    }
    default: return false;
    }
}

/* A fully known result becomes an initializer; a partly known one is kept
 * for the nodes that read it. */
Status fold_symbolic(Folder *F, Node *n, Diag *d)
{
    SymVec s;
    Value *out = n->outputs[0];
    if (!sym_eval(F, n, &s) || out->graph != F->g || out->id >= F->n_sym)
        return KDC_OK;
    bool known = true;
    for (int i = 0; i < s.n; i++)
        known &= !s.e[i].of;
    if (known) {
        int64_t len = s.n;
        Tensor *t = tensor_new(F->g->arena, s.dtype, s.rank, &len);
        for (int i = 0; i < s.n; i++)
            store_int(t, i, s.e[i].num);
        return fold_output(F, out, t, d);
    }
    int64_t len = s.n; /* what it is partly known to be states its shape */
    out->shape = shape_from_dims(s.rank, &len);
    out->kind = TYPE_TENSOR;
    SymVec *keep = malloc(sizeof *keep);
    if (!keep)
        return diag_error(d, "out of memory while folding '%s'", out->name);
    *keep = s;
    free(F->sym[out->id]);
    F->sym[out->id] = keep;
    return KDC_OK;
}

/* Whether e stands for dim i of x: the same value, or the same named symbol. */
static bool sym_is_dim_of(const SymElem *e, const Value *x, int i)
{
    if (e->of == x && e->dim == i)
        return true;
    if (i >= x->shape.rank || x->shape.dims[i].value >= 0)
        return false;
    const char *p = e->of->shape.dims[e->dim].param, *q = x->shape.dims[i].param;
    return p && q && !strcmp(p, q);
}

Status fold_reshape_target(Folder *F, Node *n, Diag *d)
{
    SymVec s;
    Value *x = n->inputs[0], *target = n->inputs[1];
    if (const_of(target) || !sym_view(F, target, &s) || s.rank != 1 || node_attr_int(n, "allowzero", 0))
        return KDC_OK;
    for (int i = 0; i < s.n; i++)
        if (s.e[i].of && !sym_is_dim_of(&s.e[i], x, i))
            return KDC_OK;
    int64_t len = s.n;
    Tensor *t = tensor_new(F->g->arena, DT_INT64, 1, &len);
    for (int i = 0; i < s.n; i++)
        store_int(t, i, s.e[i].of ? 0 : s.e[i].num);
    Value *nv = new_init(F, target->name, t);
    if (!nv)
        return diag_error(d, "out of memory while folding '%s'", target->name);
    n->inputs[1] = nv;
    return KDC_OK;
}


/* Expand by a partly known shape: the output's dims are what it states
 * (a symbolic element is that value's dim), broadcast with the input. */
Status fold_expand_shape(Folder *F, Node *n, Diag *d)
{
    (void)d;
    SymVec s;
    Value *x = n->inputs[0], *y = n->outputs[0];
    if (const_of(n->inputs[1]) || !sym_view(F, n->inputs[1], &s) || s.rank != 1 || x->shape.rank < 0)
        return KDC_OK;
    int r = s.n > x->shape.rank ? s.n : x->shape.rank;
    Shape out = {.rank = r};
    for (int i = 0; i < r; i++) {
        int k = i - (r - s.n), a = i - (r - x->shape.rank);
        Dim e = k < 0 ? (Dim){1, NULL} : s.e[k].of ? s.e[k].of->shape.dims[s.e[k].dim] : (Dim){s.e[k].num, NULL};
        Dim xd = a < 0 ? (Dim){1, NULL} : x->shape.dims[a];
        out.dims[i] = e.value == 1 ? xd : e;
        if (e.value == 1 && xd.value < 0 && !xd.param)
            return KDC_OK; /* not decided */
    }
    y->shape = out;
    y->kind = TYPE_TENSOR;
    return KDC_OK;
}
