/* k_math_binary.c - float32 broadcasting math: Pow, Max, Min, PRelu and C
 * fmod forward and backward, the pieces of the variadic ops (broadcast copy,
 * gradient reduction, Max/Min's winner selection) and Where.
 *
 * Owns two walkers over broadcast outputs: k_broadcast_rows walks a
 * BroadcastDims (from k_broadcast_init) one row at a time, handing each row
 * to a callback with its offsets in both operands; the N-ary walker does the
 * same for NaryBroadcast (Where's three operands). Work on the output, and
 * gradients of operands that are not broadcast, is split over threads;
 * gradients that reduce over broadcast axes run on one thread, because
 * several rows add into the same gradient element.
 */
#include "runtime/kernels.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------- the binary walker */

void k_broadcast_rows(const BroadcastDims *bd, int64_t begin, int64_t end, KRowFn fn, const void *args)
{
    if (begin >= end)
        return;
    int r = bd->rank - 1;
    int64_t D = bd->dims[r], col = begin % D;
    KRow row = {.a_step = bd->a_strides[r], .b_step = bd->b_strides[r]};
    KBcastRow it;
    k_bcast_row_seek(bd, &it, begin / D);
    for (int64_t pos = begin; pos < end; col = 0) {
        row.len = D - col < end - pos ? D - col : end - pos;
        row.a = it.a + col * row.a_step;
        row.b = it.b + col * row.b_step;
        row.y = pos;
        fn(args, &row);
        pos += row.len;
        k_bcast_row_next(bd, &it);
    }
}

typedef struct RowsJob {
    const BroadcastDims *bd;
    KRowFn fn;
    const void *args;
} RowsJob;

static void rows_range(const void *args, int64_t begin, int64_t end)
{
    const RowsJob *j = args;
    k_broadcast_rows(j->bd, begin, end, j->fn, j->args);
}

void k_broadcast_rows_parallel(const BroadcastDims *bd, KRowFn fn, const void *args)
{
    RowsJob j = {bd, fn, args};
    k_run_ranges(bd->n, rows_range, &j);
}

/* An operand with one element per output element: its gradient rows never
 * overlap, so they may run in parallel. */
static void grad_rows(const BroadcastDims *bd, int64_t operand_n, KRowFn fn, const void *args)
{
    if (operand_n == bd->n)
        k_broadcast_rows_parallel(bd, fn, args);
    else
        k_broadcast_rows(bd, 0, bd->n, fn, args);
}

/* -------------------------------------------------------------- math ops */

typedef struct MathArgs {
    KMathBinaryOp op;
    const float *a, *b, *y, *dy;
    float *out;
    uint8_t *claimed;
    float scale;
    int which; /* backward: 0 for dA, 1 for dB */
} MathArgs;

static void math_row(const void *args, const KRow *r)
{
    const MathArgs *m = args;
    const float *a = m->a + r->a, *b = m->b + r->b;
    float *y = m->out + r->y;
    int64_t sa = r->a_step, sb = r->b_step;
    switch (m->op) {
    case KM_POW:
        for (int64_t j = 0; j < r->len; j++)
            y[j] = powf(a[j * sa], b[j * sb]);
        break;
    case KM_MAX:
        for (int64_t j = 0; j < r->len; j++)
            y[j] = a[j * sa] > b[j * sb] || a[j * sa] != a[j * sa] ? a[j * sa] : b[j * sb];
        break;
    case KM_MIN:
        for (int64_t j = 0; j < r->len; j++)
            y[j] = a[j * sa] < b[j * sb] || a[j * sa] != a[j * sa] ? a[j * sa] : b[j * sb];
        break;
    case KM_PRELU:
        for (int64_t j = 0; j < r->len; j++)
            y[j] = a[j * sa] < 0.0f ? a[j * sa] * b[j * sb] : a[j * sa];
        break;
    case KM_FMOD:
        for (int64_t j = 0; j < r->len; j++)
            y[j] = fmodf(a[j * sa], b[j * sb]);
        break;
    }
}

void k_math_binary_forward(KMathBinaryOp op, const BroadcastDims *bd, const float *a, const float *b, float *y)
{
    MathArgs m = {.op = op, .a = a, .b = b, .out = y};
    k_broadcast_rows_parallel(bd, math_row, &m);
}

/* d(op)/d(operand `which`) at one element with output y. */
static inline float math_partial(KMathBinaryOp op, int which, float a, float b, float y)
{
    if (op == KM_POW) {
        if (which == 0)
            return b * powf(a, b - 1.0f);
        return a > 0.0f ? y * logf(a) : 0.0f;
    }
    if (which == 0) /* PRelu */
        return a > 0.0f ? 1.0f : b;
    return a > 0.0f ? 0.0f : a;
}

/* A zero step means the whole row lands on one element: sum it in double first. */
static void math_grad_row(const void *args, const KRow *r)
{
    const MathArgs *m = args;
    const float *a = m->a + r->a, *b = m->b + r->b, *y = m->y + r->y, *dy = m->dy + r->y;
    int64_t sa = r->a_step, sb = r->b_step, sd = m->which == 0 ? sa : sb;
    float *dg = m->out + (m->which == 0 ? r->a : r->b);
    double sum = 0.0;
    for (int64_t j = 0; j < r->len; j++) {
        float g = dy[j] * math_partial(m->op, m->which, a[j * sa], b[j * sb], y[j]);
        if (sd == 0)
            sum += g;
        else
            dg[j * sd] += g;
    }
    if (sd == 0)
        dg[0] += (float)sum;
}

void k_math_binary_backward(KMathBinaryOp op, const BroadcastDims *bd, const float *a, const float *b, const float *y,
                            const float *dy, float *da, float *db)
{
    MathArgs m = {.op = op, .a = a, .b = b, .y = y, .dy = dy};
    assert(op == KM_POW || op == KM_PRELU); /* Max/Min: k_select_backward; fmod: no gradient */
    for (int which = 0; which < 2; which++) {
        m.which = which;
        m.out = which == 0 ? da : db;
        if (m.out)
            grad_rows(bd, which == 0 ? bd->a_n : bd->b_n, math_grad_row, &m);
    }
}

/* ---------------------------------------------------- variadic op pieces */

typedef struct CopyArgs {
    size_t elem;
    const unsigned char *x;
    unsigned char *y;
} CopyArgs;

#define FILL_ROW(T, y, x, len)                                                                                         \
    do {                                                                                                               \
        T v_;                                                                                                          \
        memcpy(&v_, (x), sizeof v_);                                                                                   \
        for (int64_t j_ = 0; j_ < (len); j_++)                                                                         \
            ((T *)(void *)(y))[j_] = v_;                                                                               \
    } while (0)

static void copy_row(const void *args, const KRow *r)
{
    const CopyArgs *c = args;
    unsigned char *y = c->y + r->y * c->elem;
    const unsigned char *x = c->x + r->b * c->elem;
    if (r->b_step) {
        memcpy(y, x, (size_t)r->len * c->elem);
        return;
    }
    switch (c->elem) {
    case 1: memset(y, *x, (size_t)r->len); break;
    case 2: FILL_ROW(uint16_t, y, x, r->len); break;
    case 4: FILL_ROW(uint32_t, y, x, r->len); break;
    default: FILL_ROW(uint64_t, y, x, r->len); break;
    }
}

void k_broadcast_copy(const BroadcastDims *bd, size_t elem, const void *x, void *y)
{
    CopyArgs c = {elem, x, y};
    k_broadcast_rows_parallel(bd, copy_row, &c);
}

static void reduce_row(const void *args, const KRow *r)
{
    const MathArgs *m = args;
    const float *dy = m->dy + r->y;
    float *dx = m->out + r->b;
    if (r->b_step) {
        for (int64_t j = 0; j < r->len; j++)
            dx[j * r->b_step] += m->scale * dy[j];
        return;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < r->len; j++)
        sum += dy[j];
    dx[0] += (float)(m->scale * sum);
}

void k_broadcast_reduce(const BroadcastDims *bd, float scale, const float *dy, float *dx)
{
    MathArgs m = {.dy = dy, .out = dx, .scale = scale};
    if (dx)
        grad_rows(bd, bd->b_n, reduce_row, &m);
}

static void select_row(const void *args, const KRow *r)
{
    const MathArgs *m = args;
    const float *x = m->b + r->b, *y = m->y + r->y, *dy = m->dy + r->y;
    uint8_t *claimed = m->claimed + r->y;
    float *dx = m->out ? m->out + r->b : NULL;
    for (int64_t j = 0; j < r->len; j++) {
        if (claimed[j] || x[j * r->b_step] != y[j])
            continue;
        claimed[j] = 1;
        if (dx)
            dx[j * r->b_step] += dy[j];
    }
}

void k_select_backward(const BroadcastDims *bd, const float *x, const float *y, const float *dy, uint8_t *claimed,
                       float *dx)
{
    MathArgs m = {.b = x, .y = y, .dy = dy, .out = dx, .claimed = claimed};
    grad_rows(bd, bd->b_n, select_row, &m);
}

/* ------------------------------------------------------------------ N-ary */

static Status nary_check(int n_in, const int64_t *const *dims, const int *ranks, Diag *d)
{
    if (n_in < 1 || n_in > K_NARY_MAX)
        return diag_error(d, "broadcast: %d operands, supported 1 to %d", n_in, K_NARY_MAX);
    for (int k = 0; k < n_in; k++) {
        if (ranks[k] < 0 || ranks[k] > K_MAX_RANK)
            return diag_error(d, "broadcast: operand %d has rank %d, supported 0 to %d", k, ranks[k], K_MAX_RANK);
        for (int i = 0; i < ranks[k]; i++)
            if (dims[k][i] < 0)
                return diag_error(d, "broadcast: operand %d dim %d is %lld", k, i, (long long)dims[k][i]);
    }
    return KDC_OK;
}

/* Appends one output axis, merging it into the previous one when every
 * operand steps through the pair as through one longer axis. */
static void nary_push_axis(NaryBroadcast *nb, int64_t dim, const int64_t *strides)
{
    int r = nb->rank;
    bool merge = r > 0;
    if (dim == 1)
        return;
    for (int k = 0; k < nb->n_in && merge; k++)
        merge = nb->strides[k][r - 1] == strides[k] * dim;
    if (merge)
        nb->dims[r - 1] *= dim;
    else
        nb->dims[nb->rank++] = dim;
    for (int k = 0; k < nb->n_in; k++)
        nb->strides[k][nb->rank - 1] = strides[k];
}

/* Output dim i of the operands' broadcast, or -1 when they disagree. */
static int64_t nary_dim(int n_in, const int64_t *const *dims, const int *ranks, int r, int i)
{
    int64_t out = 1;
    for (int k = 0; k < n_in; k++) {
        int ki = i - (r - ranks[k]);
        int64_t dk = ki >= 0 ? dims[k][ki] : 1;
        if (dk != 1 && out != 1 && dk != out)
            return -1;
        if (dk != 1)
            out = dk;
    }
    return out;
}

Status k_nary_broadcast_init(NaryBroadcast *nb, int n_in, const int64_t *const *dims, const int *ranks, int64_t *y_dims,
                             Diag *d)
{
    if (nary_check(n_in, dims, ranks, d) != KDC_OK)
        return KDC_ERR;
    int r = 0;
    for (int k = 0; k < n_in; k++)
        r = ranks[k] > r ? ranks[k] : r;
    int64_t od[K_MAX_RANK], st[K_MAX_RANK][K_NARY_MAX], in_n[K_NARY_MAX];
    for (int k = 0; k < K_NARY_MAX; k++)
        in_n[k] = 1;
    for (int i = r - 1; i >= 0; i--) {
        if ((od[i] = nary_dim(n_in, dims, ranks, r, i)) < 0)
            return diag_error(d, "broadcast: the operands disagree at dim %d", i);
        for (int k = 0; k < n_in; k++) {
            int ki = i - (r - ranks[k]);
            int64_t dk = ki >= 0 ? dims[k][ki] : 1;
            st[i][k] = dk == 1 ? 0 : in_n[k];
            in_n[k] *= dk;
        }
    }
    *nb = (NaryBroadcast){.n_in = n_in, .n = 1};
    for (int k = 0; k < n_in; k++)
        nb->in_n[k] = in_n[k];
    for (int i = 0; i < r; i++) {
        if (y_dims)
            y_dims[i] = od[i];
        nb->n *= od[i];
        nary_push_axis(nb, od[i], st[i]);
    }
    if (nb->rank == 0 || nb->n == 0) { /* one element, or none: a single flat axis */
        nb->rank = 1;
        nb->dims[0] = nb->n;
        for (int k = 0; k < n_in; k++)
            nb->strides[k][0] = in_n[k] == nb->n && nb->n > 1 ? 1 : 0;
    }
    return KDC_OK;
}

/* One row of an N-ary walk: operand k at off[k], stepping step[k]. */
typedef struct NaryRow {
    int64_t off[K_NARY_MAX], step[K_NARY_MAX], y, len;
} NaryRow;

typedef void (*NaryRowFn)(const void *args, const NaryRow *row);

typedef struct NaryIter {
    int64_t idx[K_MAX_RANK];
    int64_t base[K_NARY_MAX];
} NaryIter;

static void nary_seek(const NaryBroadcast *nb, NaryIter *it, int64_t row)
{
    for (int k = 0; k < K_NARY_MAX; k++)
        it->base[k] = 0;
    for (int i = nb->rank - 2; i >= 0; i--) {
        it->idx[i] = row % nb->dims[i];
        row /= nb->dims[i];
        for (int k = 0; k < nb->n_in; k++)
            it->base[k] += it->idx[i] * nb->strides[k][i];
    }
}

static void nary_next_row(const NaryBroadcast *nb, NaryIter *it)
{
    for (int i = nb->rank - 2; i >= 0; i--) {
        for (int k = 0; k < nb->n_in; k++)
            it->base[k] += nb->strides[k][i];
        if (++it->idx[i] < nb->dims[i])
            return;
        for (int k = 0; k < nb->n_in; k++)
            it->base[k] -= nb->strides[k][i] * nb->dims[i];
        it->idx[i] = 0;
    }
}

/* Calls fn for the rows covering output elements [begin, end), in order. */
static void nary_rows(const NaryBroadcast *nb, int64_t begin, int64_t end, NaryRowFn fn, const void *args)
{
    if (begin >= end)
        return;
    int r = nb->rank - 1;
    int64_t D = nb->dims[r], col = begin % D;
    NaryRow row = {.len = 0};
    NaryIter it;
    nary_seek(nb, &it, begin / D);
    for (int k = 0; k < nb->n_in; k++)
        row.step[k] = nb->strides[k][r];
    for (int64_t pos = begin; pos < end; col = 0) {
        row.len = D - col < end - pos ? D - col : end - pos;
        for (int k = 0; k < nb->n_in; k++)
            row.off[k] = it.base[k] + col * row.step[k];
        row.y = pos;
        fn(args, &row);
        pos += row.len;
        nary_next_row(nb, &it);
    }
}

typedef struct WhereArgs {
    const NaryBroadcast *nb;
    size_t elem;
    const uint8_t *cond;
    const unsigned char *x, *y;
    unsigned char *out;
    const float *dout;
    float *dgrad;
    int which; /* backward: 1 for dX, 2 for dY */
} WhereArgs;

#define WHERE_ROW(T, w, r)                                                                                             \
    do {                                                                                                               \
        const T *x_ = (const T *)(const void *)(w)->x + (r)->off[1];                                                   \
        const T *y_ = (const T *)(const void *)(w)->y + (r)->off[2];                                                   \
        T *o_ = (T *)(void *)(w)->out + (r)->y;                                                                        \
        const uint8_t *c_ = (w)->cond + (r)->off[0];                                                                   \
        for (int64_t j_ = 0; j_ < (r)->len; j_++)                                                                      \
            o_[j_] = c_[j_ * (r)->step[0]] ? x_[j_ * (r)->step[1]] : y_[j_ * (r)->step[2]];                            \
    } while (0)

static void where_row(const void *args, const NaryRow *r)
{
    const WhereArgs *w = args;
    switch (w->elem) {
    case 1: WHERE_ROW(uint8_t, w, r); break;
    case 2: WHERE_ROW(uint16_t, w, r); break;
    case 4: WHERE_ROW(uint32_t, w, r); break;
    default: WHERE_ROW(uint64_t, w, r); break;
    }
}

static void where_range(const void *args, int64_t begin, int64_t end)
{
    const WhereArgs *w = args;
    nary_rows(w->nb, begin, end, where_row, w);
}

void k_where_forward(const NaryBroadcast *nb, size_t elem, const uint8_t *cond, const void *x, const void *y, void *out)
{
    WhereArgs w = {.nb = nb, .elem = elem, .cond = cond, .x = x, .y = y, .out = out};
    k_run_ranges(nb->n, where_range, &w);
}

static void where_grad_row(const void *args, const NaryRow *r)
{
    const WhereArgs *w = args;
    const uint8_t *c = w->cond + r->off[0];
    const float *dout = w->dout + r->y;
    float *dg = w->dgrad + r->off[w->which];
    int64_t sd = r->step[w->which];
    bool want = w->which == 1;
    double sum = 0.0;
    for (int64_t j = 0; j < r->len; j++) {
        float g = (c[j * r->step[0]] != 0) == want ? dout[j] : 0.0f;
        if (sd == 0)
            sum += g;
        else
            dg[j * sd] += g;
    }
    if (sd == 0)
        dg[0] += (float)sum;
}

static void where_grad_range(const void *args, int64_t begin, int64_t end)
{
    const WhereArgs *w = args;
    nary_rows(w->nb, begin, end, where_grad_row, w);
}

void k_where_backward(const NaryBroadcast *nb, const uint8_t *cond, const float *dout, float *dx, float *dy)
{
    WhereArgs w = {.nb = nb, .cond = cond, .dout = dout};
    for (int which = 1; which <= 2; which++) {
        w.which = which;
        w.dgrad = which == 1 ? dx : dy;
        if (!w.dgrad)
            continue;
        if (nb->in_n[which] == nb->n)
            k_run_ranges(nb->n, where_grad_range, &w);
        else
            where_grad_range(&w, 0, nb->n);
    }
}
