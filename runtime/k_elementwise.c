/* k_elementwise.c - broadcasting Add/Sub/Mul/Div and the Relu, Sigmoid,
 * Tanh activations, forward and backward.
 *
 * Owns the broadcast bookkeeping: k_broadcast_init turns two numpy shapes
 * into merged output dims with per-input strides, and a small iterator walks
 * them a row (innermost merged axis) at a time. Forward work and gradients
 * of non-broadcast inputs are split over threads by flat element ranges;
 * gradients that reduce over broadcast axes run on one thread, because
 * several output rows add into the same gradient element. Sigmoid uses its
 * own vectorizable expf (exp_vec, within 5e-7 relative of libm's sigmoid).
 */
#include "runtime/kernels.h"

#include <math.h>
#include <string.h>

#include "runtime/threads.h"

/* Below this many elements a parallel loop costs more than it saves. */
#define K_ELEMENTWISE_PARALLEL_MIN (1L << 15)

/* -------------------------------------------------------- parallel ranges */

typedef void (*RangeFn)(const void *args, int64_t begin, int64_t end);

typedef struct RangeJob {
    RangeFn fn;
    const void *args;
    int64_t n;
    int parts;
} RangeJob;

static void range_part(void *ctx, int part, int thread)
{
    const RangeJob *j = ctx;
    (void)thread;
    j->fn(j->args, j->n * part / j->parts, j->n * (part + 1) / j->parts);
}

/* Calls fn over [0, n) split in one contiguous range per thread. */
static void run_ranges(int64_t n, RangeFn fn, const void *args)
{
    int T = threads_count();
    if (T == 1 || n < K_ELEMENTWISE_PARALLEL_MIN) {
        fn(args, 0, n);
        return;
    }
    RangeJob j = {fn, args, n, T};
    threads_parallel_for(T, range_part, &j);
}

/* ------------------------------------------------------------ broadcasting */

static Status broadcast_check(const int64_t *a_dims, int a_rank, const int64_t *b_dims,
                              int b_rank, Diag *d)
{
    if (a_rank < 0 || b_rank < 0 || a_rank > K_MAX_RANK || b_rank > K_MAX_RANK)
        return diag_error(d, "broadcast: ranks %d and %d, supported 0 to %d", a_rank, b_rank,
                          K_MAX_RANK);
    for (int i = 0; i < a_rank; i++)
        if (a_dims[i] < 0)
            return diag_error(d, "broadcast: first input dim %d is %lld", i, (long long)a_dims[i]);
    for (int i = 0; i < b_rank; i++)
        if (b_dims[i] < 0)
            return diag_error(d, "broadcast: second input dim %d is %lld", i, (long long)b_dims[i]);
    return KDC_OK;
}

/* Appends one output axis, merging it into the previous one when both
 * inputs step through the pair as through one longer axis. */
static void broadcast_push_axis(BroadcastDims *bd, int64_t dim, int64_t sa, int64_t sb)
{
    int r = bd->rank;
    if (dim == 1)
        return;
    if (r > 0 && bd->a_strides[r - 1] == sa * dim && bd->b_strides[r - 1] == sb * dim) {
        bd->dims[r - 1] *= dim;
        bd->a_strides[r - 1] = sa;
        bd->b_strides[r - 1] = sb;
        return;
    }
    bd->dims[r] = dim;
    bd->a_strides[r] = sa;
    bd->b_strides[r] = sb;
    bd->rank++;
}

Status k_broadcast_init(BroadcastDims *bd, const int64_t *a_dims, int a_rank,
                        const int64_t *b_dims, int b_rank, int64_t *y_dims, Diag *d)
{
    if (broadcast_check(a_dims, a_rank, b_dims, b_rank, d) != KDC_OK)
        return KDC_ERR;
    int r = a_rank > b_rank ? a_rank : b_rank;
    int64_t od[K_MAX_RANK], as[K_MAX_RANK], bs[K_MAX_RANK], a_n = 1, b_n = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ai = i - (r - a_rank), bi = i - (r - b_rank);
        int64_t da = ai >= 0 ? a_dims[ai] : 1, db = bi >= 0 ? b_dims[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return diag_error(d, "broadcast: dim %d is %lld in one input and %lld in the other",
                              i, (long long)da, (long long)db);
        od[i] = da == 1 ? db : da;
        as[i] = da == 1 ? 0 : a_n;
        bs[i] = db == 1 ? 0 : b_n;
        a_n *= da;
        b_n *= db;
    }
    *bd = (BroadcastDims){.n = 1, .a_n = a_n, .b_n = b_n};
    for (int i = 0; i < r; i++) {
        if (y_dims)
            y_dims[i] = od[i];
        bd->n *= od[i];
        broadcast_push_axis(bd, od[i], as[i], bs[i]);
    }
    if (bd->rank == 0 || bd->n == 0) { /* one element, or none: a single flat axis */
        bd->rank = 1;
        bd->dims[0] = bd->n;
        bd->a_strides[0] = a_n == bd->n && bd->n > 1 ? 1 : 0;
        bd->b_strides[0] = b_n == bd->n && bd->n > 1 ? 1 : 0;
    }
    return KDC_OK;
}

/* ------------------------------------------------------------------ binary */

typedef struct BinaryArgs {
    KBinaryOp op;
    const BroadcastDims *bd;
    const float *a, *b, *dy;
    float *y, *dgrad;
    int which; /* backward: 0 for dA, 1 for dB */
} BinaryArgs;

/* The switch sits outside the loops so each loop vectorizes on its own. */
static void binary_row(KBinaryOp op, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *y, int64_t len)
{
    switch (op) {
    case K_ADD:
        for (int64_t j = 0; j < len; j++)
            y[j] = a[j * sa] + b[j * sb];
        break;
    case K_SUB:
        for (int64_t j = 0; j < len; j++)
            y[j] = a[j * sa] - b[j * sb];
        break;
    case K_MUL:
        for (int64_t j = 0; j < len; j++)
            y[j] = a[j * sa] * b[j * sb];
        break;
    case K_DIV:
        for (int64_t j = 0; j < len; j++)
            y[j] = a[j * sa] / b[j * sb];
        break;
    }
}

/* Forward over output elements [begin, end), which may start mid-row. */
static void binary_forward_range(const void *args, int64_t begin, int64_t end)
{
    const BinaryArgs *p = args;
    const BroadcastDims *bd = p->bd;
    int64_t D = bd->dims[bd->rank - 1], sa = bd->a_strides[bd->rank - 1];
    int64_t sb = bd->b_strides[bd->rank - 1], col = begin % D;
    KBcastRow it;
    k_bcast_row_seek(bd, &it, begin / D);
    for (int64_t pos = begin; pos < end; col = 0) {
        int64_t len = D - col < end - pos ? D - col : end - pos;
        binary_row(p->op, p->a + it.a + col * sa, sa, p->b + it.b + col * sb, sb, p->y + pos,
                   len);
        pos += len;
        k_bcast_row_next(bd, &it);
    }
}

void k_binary_forward(KBinaryOp op, const BroadcastDims *bd, const float *a, const float *b,
                      float *y)
{
    BinaryArgs p = {.op = op, .bd = bd, .a = a, .b = b, .y = y};
    if (bd->n > 0)
        run_ranges(bd->n, binary_forward_range, &p);
}

/* d(op)/d(input) at one element; input 0 is a, 1 is b. */
static inline float binary_partial(KBinaryOp op, int which, float av, float bv)
{
    switch (op) {
    case K_ADD:
        return 1.0f;
    case K_SUB:
        return which == 0 ? 1.0f : -1.0f;
    case K_MUL:
        return which == 0 ? bv : av;
    case K_DIV:
        return which == 0 ? 1.0f / bv : -av / (bv * bv);
    }
    return 0.0f;
}

/* Gradient of one input over output elements [begin, end). A zero stride
 * means the whole row lands on one element: sum it in double first. */
static void binary_grad_range(const void *args, int64_t begin, int64_t end)
{
    const BinaryArgs *p = args;
    const BroadcastDims *bd = p->bd;
    int r = bd->rank - 1;
    bool reads = p->op == K_MUL || p->op == K_DIV;
    int64_t D = bd->dims[r], sa = bd->a_strides[r], sb = bd->b_strides[r], col = begin % D;
    int64_t sd = p->which == 0 ? sa : sb;
    KBcastRow it;
    k_bcast_row_seek(bd, &it, begin / D);
    for (int64_t pos = begin; pos < end; col = 0) {
        int64_t len = D - col < end - pos ? D - col : end - pos;
        const float *a = reads ? p->a + it.a + col * sa : NULL;
        const float *b = reads ? p->b + it.b + col * sb : NULL;
        float *dg = p->dgrad + (p->which == 0 ? it.a : it.b) + col * sd;
        const float *dy = p->dy + pos;
        double sum = 0.0;
        for (int64_t j = 0; j < len; j++) {
            float g = dy[j] * binary_partial(p->op, p->which, reads ? a[j * sa] : 0.0f,
                                             reads ? b[j * sb] : 0.0f);
            if (sd == 0)
                sum += g;
            else
                dg[j * sd] += g;
        }
        if (sd == 0)
            dg[0] += (float)sum;
        pos += len;
        k_bcast_row_next(bd, &it);
    }
}

void k_binary_backward(KBinaryOp op, const BroadcastDims *bd, const float *a, const float *b,
                       const float *dy, float *da, float *db)
{
    BinaryArgs p = {.op = op, .bd = bd, .a = a, .b = b, .dy = dy};
    if (bd->n == 0)
        return;
    for (int which = 0; which < 2; which++) {
        p.which = which;
        p.dgrad = which == 0 ? da : db;
        if (!p.dgrad)
            continue;
        /* Only an input that is not broadcast has one output per element. */
        if ((which == 0 ? bd->a_n : bd->b_n) == bd->n)
            run_ranges(bd->n, binary_grad_range, &p);
        else
            binary_grad_range(&p, 0, bd->n);
    }
}

/* ------------------------------------------------------------------- unary */

typedef struct UnaryArgs {
    const float *x, *y, *dy;
    float *out;
} UnaryArgs;

static void relu_forward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    for (int64_t i = begin; i < end; i++)
        p->out[i] = p->x[i] > 0.0f ? p->x[i] : 0.0f;
}

static void relu_backward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    for (int64_t i = begin; i < end; i++)
        p->out[i] += p->y[i] > 0.0f ? p->dy[i] : 0.0f;
}

/* The range exp_vec clamps its argument to. Read through volatile so GCC
 * cannot fold the bounds into the selects: with constants it splits the
 * loop body into branches (the arithmetic after the clamp becomes constant
 * on one arm) and then refuses to vectorize it. */
static volatile const float exp_vec_lo = -86.0f, exp_vec_hi = 88.8f;

/* expf(t) without a libm call, so loops around it vectorize: t = n*ln2 + r
 * with |r| <= ln2/2 (n rounded by the 1.5*2^23 trick, ln2 split in two so
 * n*ln2_hi is exact), exp(r) by its degree-7 Taylor polynomial (truncation
 * under 1e-8 relative), times 2^n built from the exponent bits, applied as
 * 2^(n-1) * 2 so n = 128 needs no exponent field of 255. t is clamped to
 * [lo, hi] = [-86, 88.8]: below, exp(-86) comes back (callers add it to 1,
 * where it is lost anyway); above the float range the product overflows to
 * +inf as expf does. NaN stays NaN. */
static inline float exp_vec(float t, float lo, float hi)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float tc = t < lo ? lo : t;
    tc = tc > hi ? hi : tc;
    float k = tc * 1.44269504f + magic, n = k - magic;
    float r = tc - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    float poly = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f +
                 r * (8.3333338e-3f + r * (1.3888889e-3f + r * 1.9841270e-4f))))));
    uint32_t kb, sb;
    float scale;
    memcpy(&kb, &k, sizeof kb);
    sb = (kb - 0x4B400000u + 126u) << 23; /* low bits of k hold n: 2^(n-1) */
    memcpy(&scale, &sb, sizeof scale);
    return poly * scale * 2.0f;
}

static void sigmoid_forward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    const float *restrict x = p->x;
    float *restrict y = p->out;
    float lo = exp_vec_lo, hi = exp_vec_hi;
    for (int64_t i = begin; i < end; i++)
        y[i] = 1.0f / (1.0f + exp_vec(-x[i], lo, hi));
}

static void sigmoid_backward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    for (int64_t i = begin; i < end; i++)
        p->out[i] += p->dy[i] * p->y[i] * (1.0f - p->y[i]);
}

static void tanh_forward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    for (int64_t i = begin; i < end; i++)
        p->out[i] = tanhf(p->x[i]);
}

static void tanh_backward_range(const void *args, int64_t begin, int64_t end)
{
    const UnaryArgs *p = args;
    for (int64_t i = begin; i < end; i++)
        p->out[i] += p->dy[i] * (1.0f - p->y[i] * p->y[i]);
}

void k_relu_forward(const float *x, float *y, int64_t n)
{
    run_ranges(n, relu_forward_range, &(UnaryArgs){.x = x, .out = y});
}

void k_relu_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    if (dx)
        run_ranges(n, relu_backward_range, &(UnaryArgs){.y = y, .dy = dy, .out = dx});
}

void k_sigmoid_forward(const float *x, float *y, int64_t n)
{
    run_ranges(n, sigmoid_forward_range, &(UnaryArgs){.x = x, .out = y});
}

void k_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    if (dx)
        run_ranges(n, sigmoid_backward_range, &(UnaryArgs){.y = y, .dy = dy, .out = dx});
}

void k_tanh_forward(const float *x, float *y, int64_t n)
{
    run_ranges(n, tanh_forward_range, &(UnaryArgs){.x = x, .out = y});
}

void k_tanh_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    if (dx)
        run_ranges(n, tanh_backward_range, &(UnaryArgs){.y = y, .dy = dy, .out = dx});
}
