/* k_reduce.c - reduction kernels (see kernels_data.h): the Reduce family
 * forward (float, and typed) and backward, ArgMax/ArgMin and TopK.
 *
 * A reduction walks the input once in memory order, one run of the
 * innermost merged axis at a time: when that axis is reduced the run folds
 * into one output, when it is kept the run updates a run of outputs. That
 * covers any set of reduced axes without transposing. Sums accumulate in
 * double (int64 for integer types). */
#include "runtime/kernels_data.h"

#include <stdlib.h>

void k_reduce_init(KReduceDims *rd, int rank, const int64_t *dims, const bool *reduce)
{
    rd->rank = 0;
    rd->n_in = rd->n_out = rd->count = 1;
    for (int i = 0; i < rank; i++) {
        rd->n_in *= dims[i];
        if (reduce[i])
            rd->count *= dims[i];
        else
            rd->n_out *= dims[i];
        if (dims[i] == 1)
            continue;
        int last = rd->rank - 1;
        if (last >= 0 && rd->reduced[last] == reduce[i]) {
            rd->dims[last] *= dims[i];
            continue;
        }
        rd->dims[rd->rank] = dims[i];
        rd->reduced[rd->rank++] = reduce[i];
    }
    if (rd->rank == 0) {
        rd->rank = 1;
        rd->dims[0] = 1;
        rd->reduced[0] = false;
    }
}

size_t k_reduce_workspace_floats(const KReduceDims *rd)
{
    return 4 * (size_t)rd->n_out + 16; /* two double or int64 arrays of n_out */
}

/* ---- the walk ---- */

typedef struct Walk Walk;
/* A run of len inputs from x offset xo: folds into output yo (inner axis
 * reduced) or updates outputs yo..yo+len-1 (kept). */
typedef void (*RunFn)(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds);

struct Walk {
    KReduceOp op;
    KElem t;
    const void *x;   /* typed input */
    const float *xf; /* the same when it is float */
    const float *y, *dy;
    float *dx;
    double *acc, *aux; /* n_out each */
    int64_t *acc_i;
    unsigned char *claimed;
    int64_t count;
};

static void walk_runs(const KReduceDims *rd, RunFn fn, Walk *w)
{
    int last = rd->rank - 1;
    int64_t len = rd->dims[last], ys[K_MAX_RANK], stride = 1, coord[K_MAX_RANK] = {0}, yo = 0;
    if (rd->n_in == 0)
        return;
    for (int i = last; i >= 0; i--) {
        ys[i] = rd->reduced[i] ? 0 : stride;
        stride *= rd->reduced[i] ? 1 : rd->dims[i];
    }
    for (int64_t r = 0; r < rd->n_in / len; r++) {
        fn(w, r * len, yo, len, rd->reduced[last]);
        for (int i = last - 1; i >= 0; i--) {
            yo += ys[i];
            if (++coord[i] < rd->dims[i])
                break;
            yo -= ys[i] * rd->dims[i];
            coord[i] = 0;
        }
    }
}

static double load(const Walk *w, int64_t i)
{
    return w->xf ? w->xf[i] : kd_load_f64(w->t, w->x, i);
}

/* ---- real forward: f(x) folded by sum, product, max or min ---- */

static double identity(KReduceOp op)
{
    switch (op) {
    case KR_PROD: return 1;
    case KR_MAX: return -INFINITY;
    case KR_MIN: return INFINITY;
    default: return 0;
    }
}

/* The term an input contributes; aux holds the max of LogSumExp. */
static double term(const Walk *w, double v, int64_t yo)
{
    switch (w->op) {
    case KR_L1: return fabs(v);
    case KR_L2:
    case KR_SUM_SQUARE: return v * v;
    case KR_LOG_SUM_EXP: return isinf(w->aux[yo]) ? exp(v) : exp(v - w->aux[yo]);
    default: return v;
    }
}

static double fold(KReduceOp op, double a, double b)
{
    switch (op) {
    case KR_PROD: return a * b;
    case KR_MAX: return b > a || isnan(b) ? b : a;
    case KR_MIN: return b < a || isnan(b) ? b : a;
    default: return a + b;
    }
}

static void real_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    if (folds) {
        double a = identity(w->op);
        for (int64_t j = 0; j < len; j++)
            a = fold(w->op, a, term(w, load(w, xo + j), yo));
        w->acc[yo] = fold(w->op, w->acc[yo], a);
        return;
    }
    for (int64_t j = 0; j < len; j++)
        w->acc[yo + j] = fold(w->op, w->acc[yo + j], term(w, load(w, xo + j), yo + j));
}

static double finish(const Walk *w, double a, int64_t o)
{
    switch (w->op) {
    case KR_MEAN: return a / (double)w->count;
    case KR_L2: return sqrt(a);
    case KR_LOG_SUM: return log(a);
    case KR_LOG_SUM_EXP: return isinf(w->aux[o]) ? log(a) : w->aux[o] + log(a);
    default: return a;
    }
}

/* The common case (ReduceSum, ReduceMean on float) without the per-element dispatch. */
static void sum_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    const float *x = w->xf + xo;
    if (folds) {
        double a = 0;
        for (int64_t j = 0; j < len; j++)
            a += x[j];
        w->acc[yo] += a;
        return;
    }
    for (int64_t j = 0; j < len; j++)
        w->acc[yo + j] += x[j];
}

/* Accumulates every output into w->acc (w->aux too for LogSumExp). */
static void reduce_real(const KReduceDims *rd, Walk *w)
{
    KReduceOp op = w->op;
    if (op == KR_LOG_SUM_EXP) { /* shift by the max so exp cannot overflow */
        w->op = KR_MAX;
        double *acc = w->acc;
        w->acc = w->aux;
        for (int64_t o = 0; o < rd->n_out; o++)
            w->acc[o] = -INFINITY;
        walk_runs(rd, real_run, w);
        w->acc = acc;
        w->op = op;
    }
    for (int64_t o = 0; o < rd->n_out; o++)
        w->acc[o] = identity(op);
    walk_runs(rd, w->xf && (op == KR_SUM || op == KR_MEAN) ? sum_run : real_run, w);
}

void k_reduce_forward(KReduceOp op, const KReduceDims *rd, const float *x, float *y, float *ws)
{
    Walk w = {.op = op, .t = KE_FLOAT, .x = x, .xf = x, .count = rd->count};
    w.acc = (double *)ws;
    w.aux = w.acc + rd->n_out;
    reduce_real(rd, &w);
    for (int64_t o = 0; o < rd->n_out; o++)
        y[o] = (float)finish(&w, w.acc[o], o);
}

/* ---- integer forward: exact in int64 ---- */

static int64_t term_i(KReduceOp op, int64_t v)
{
    return op == KR_L1 ? (v < 0 ? -v : v) : op == KR_SUM_SQUARE ? v * v : v;
}

static int64_t fold_i(KReduceOp op, int64_t a, int64_t b)
{
    switch (op) {
    case KR_PROD: return a * b;
    case KR_MAX: return b > a ? b : a;
    case KR_MIN: return b < a ? b : a;
    default: return a + b;
    }
}

static void int_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    for (int64_t j = 0; j < len; j++) {
        int64_t *a = &w->acc_i[folds ? yo : yo + j];
        *a = fold_i(w->op, *a, term_i(w->op, kd_load_i64(w->t, w->x, xo + j)));
    }
}

static bool exact_in_int(KReduceOp op)
{
    return op == KR_SUM || op == KR_MEAN || op == KR_PROD || op == KR_MAX || op == KR_MIN || op == KR_L1 ||
           op == KR_SUM_SQUARE;
}

void k_reduce_typed(KReduceOp op, const KReduceDims *rd, KElem t, const void *x, void *y, float *ws)
{
    Walk w = {.op = op, .t = t, .x = x, .xf = t == KE_FLOAT ? x : NULL, .count = rd->count};
    if (kd_is_int(t) && exact_in_int(op)) {
        w.acc_i = (int64_t *)ws;
        int64_t init = op == KR_PROD ? 1 : op == KR_MAX ? INT64_MIN : op == KR_MIN ? INT64_MAX : 0;
        for (int64_t o = 0; o < rd->n_out; o++)
            w.acc_i[o] = init;
        walk_runs(rd, int_run, &w);
        for (int64_t o = 0; o < rd->n_out; o++)
            if (op == KR_MEAN)
                kd_store_f64(t, y, o, rd->count ? (double)w.acc_i[o] / (double)rd->count : 0);
            else
                kd_store_i64(t, y, o, w.acc_i[o]);
        return;
    }
    w.acc = (double *)ws;
    w.aux = w.acc + rd->n_out;
    reduce_real(rd, &w);
    for (int64_t o = 0; o < rd->n_out; o++)
        kd_store_f64(t, y, o, finish(&w, w.acc[o], o));
}

/* ---- backward ---- */

/* d output / d input for one element, given the output's value y. */
static double slope(const Walk *w, double x, double y, int64_t o)
{
    switch (w->op) {
    case KR_SUM: return 1;
    case KR_MEAN: return 1.0 / (double)w->count;
    case KR_SUM_SQUARE: return 2 * x;
    case KR_L1: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case KR_L2: return y > 0 ? x / y : 0;
    case KR_LOG_SUM: return 1.0 / exp(y);
    case KR_LOG_SUM_EXP: return exp(x - y);
    case KR_PROD: { /* the product of the others, exact with zeros */
        int64_t zeros = w->acc_i[o];
        if (zeros == 0)
            return w->aux[o] / x;
        return zeros == 1 && x == 0 ? w->aux[o] : 0;
    }
    default: { /* Max, Min: the first input equal to the result takes it all */
        if (w->claimed[o] || x != y)
            return 0;
        w->claimed[o] = 1;
        return 1;
    }
    }
}

static void backward_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    for (int64_t j = 0; j < len; j++) {
        int64_t o = folds ? yo : yo + j;
        w->dx[xo + j] += (float)(w->dy[o] * slope(w, w->xf[xo + j], w->y[o], o));
    }
}

static void mean_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    float scale = w->op == KR_MEAN ? 1.0f / (float)w->count : 1.0f;
    for (int64_t j = 0; j < len; j++)
        w->dx[xo + j] += w->dy[folds ? yo : yo + j] * scale;
}

/* Per output: the product of the non-zero inputs (aux) and the count of zeros (acc_i). */
static void zeros_run(Walk *w, int64_t xo, int64_t yo, int64_t len, bool folds)
{
    for (int64_t j = 0; j < len; j++) {
        int64_t o = folds ? yo : yo + j;
        double v = w->xf[xo + j];
        if (v == 0)
            w->acc_i[o]++;
        else
            w->aux[o] *= v;
    }
}

void k_reduce_backward(KReduceOp op, const KReduceDims *rd, const float *x, const float *y, const float *dy, float *dx,
                       float *ws)
{
    Walk w = {.op = op, .t = KE_FLOAT, .x = x, .xf = x, .y = y, .dy = dy, .dx = dx, .count = rd->count};
    if (op == KR_SUM || op == KR_MEAN) {
        walk_runs(rd, mean_run, &w);
        return;
    }
    w.aux = (double *)ws;
    w.acc_i = (int64_t *)(w.aux + rd->n_out);
    w.claimed = (unsigned char *)w.acc_i;
    for (int64_t o = 0; o < rd->n_out; o++) {
        w.aux[o] = 1;
        w.acc_i[o] = 0;
    }
    if (op == KR_PROD)
        walk_runs(rd, zeros_run, &w);
    walk_runs(rd, backward_run, &w);
}

/* ---- ArgMax, ArgMin ---- */

static bool better(bool is_max, bool select_last, double v, double best)
{
    if (isnan(best))
        return select_last && isnan(v);
    if (isnan(v))
        return true;
    return is_max ? (v > best || (select_last && v == best)) : (v < best || (select_last && v == best));
}

void k_arg_reduce(bool is_max, bool select_last, int64_t outer, int64_t n, int64_t inner, KElem t, const void *x,
                  int64_t *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t at = o * n * inner + i, best_j = 0;
            double best = kd_load_f64(t, x, at);
            for (int64_t j = 1; j < n; j++) {
                double v = kd_load_f64(t, x, at + j * inner);
                if (better(is_max, select_last, v, best)) {
                    best = v;
                    best_j = j;
                }
            }
            y[o * inner + i] = best_j;
        }
}

/* ---- TopK ---- */

typedef struct Ranked {
    double v;
    int64_t j;
} Ranked;

/* NaN ranks above every number, as in a descending numpy sort. */
static int rank_desc(const void *a, const void *b)
{
    const Ranked *p = a, *q = b;
    bool pn = isnan(p->v), qn = isnan(q->v);
    if (pn != qn)
        return pn ? -1 : 1;
    if (!pn && p->v != q->v)
        return p->v > q->v ? -1 : 1;
    return p->j < q->j ? -1 : p->j > q->j;
}

static int rank_asc(const void *a, const void *b)
{
    const Ranked *p = a, *q = b;
    bool pn = isnan(p->v), qn = isnan(q->v);
    if (pn != qn)
        return pn ? 1 : -1;
    if (!pn && p->v != q->v)
        return p->v < q->v ? -1 : 1;
    return p->j < q->j ? -1 : p->j > q->j;
}

size_t k_topk_workspace_floats(int64_t n)
{
    return (size_t)n * (sizeof(Ranked) / sizeof(float)) + 16;
}

void k_topk_forward(int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest, KElem t, const void *x,
                    void *values, int64_t *indices, float *ws)
{
    Ranked *row = (Ranked *)ws;
    size_t elem = kd_elem_size(t);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < n; j++)
                row[j] = (Ranked){kd_load_f64(t, x, (o * n + j) * inner + i), j};
            qsort(row, (size_t)n, sizeof *row, largest ? rank_desc : rank_asc);
            for (int64_t r = 0; r < k; r++) {
                int64_t dst = (o * k + r) * inner + i, src = (o * n + row[r].j) * inner + i;
                memcpy((unsigned char *)values + (size_t)dst * elem, (const unsigned char *)x + (size_t)src * elem,
                       elem);
                if (indices)
                    indices[dst] = row[r].j;
            }
        }
}

void k_topk_backward(int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t *indices, const float *dy,
                     float *dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < k; r++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (o * k + r) * inner + i;
                dx[(o * n + indices[at]) * inner + i] += dy[at];
            }
}
