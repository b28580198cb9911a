/* k_einsum.c - Einsum as diagonal-and-sum, strided copies and batched GEMM
 * (see kernels_misc.h). Planning reads only labels and dims; the forward
 * runs in float (through BLAS) or double (plain loops, for the other types,
 * converted by the caller); the backward (float) recomputes the forward's
 * intermediates in its workspace and walks the stages in reverse.
 */
#include "runtime/kernels_misc.h"

#include <limits.h>
#include <string.h>

#include "runtime/blas.h"

/* Labels and dims of an intermediate whose labels are all distinct. */
typedef struct Labeled {
    int rank;
    int label[EINSUM_MAX_LABELS];
    int64_t dim[EINSUM_MAX_LABELS];
} Labeled;

static int find_label(const Labeled *t, int l)
{
    for (int a = 0; a < t->rank; a++)
        if (t->label[a] == l)
            return a;
    return -1;
}

static bool operand_has(const EinsumEq *eq, int i, int l)
{
    for (int a = 0; a < eq->rank[i]; a++)
        if (eq->label[i][a] == l)
            return true;
    return false;
}

/* Whether label l is needed after operand `from`: in the output or in an
 * operand j > from other than `skip`. */
static bool needed_later(const EinsumEq *eq, int l, int from, int skip)
{
    for (int a = 0; a < eq->out_rank; a++)
        if (eq->out_label[a] == l)
            return true;
    for (int j = from + 1; j < eq->n_in; j++)
        if (j != skip && operand_has(eq, j, l))
            return true;
    return false;
}

/* Full size of each label: sizes must agree unless one of them is 1. */
static Status label_sizes(const EinsumEq *eq, const int64_t *const *dims, int64_t *size, Diag *d)
{
    for (int l = 0; l < EINSUM_MAX_LABELS; l++)
        size[l] = -1;
    for (int i = 0; i < eq->n_in; i++)
        for (int a = 0; a < eq->rank[i]; a++) {
            int l = eq->label[i][a];
            int64_t v = dims[i][a];
            if (size[l] < 0 || size[l] == 1)
                size[l] = v;
            else if (v != 1 && v != size[l])
                return diag_error(d, "a label is %lld long in one place and %lld in another", (long long)size[l],
                                  (long long)v);
        }
    return KDC_OK;
}

/* Operand i's diagonal-and-sum: repeated labels walk the sum of their
 * strides; labels nothing later needs are summed away. */
static Status plan_sum(const EinsumEq *eq, int i, const int64_t *dims, KEinsumSum *es, Labeled *term, Diag *d)
{
    int64_t strides[EINSUM_MAX_RANK];
    k_contiguous_strides(eq->rank[i], dims, strides);
    memset(es, 0, sizeof *es);
    term->rank = 0;
    es->n_out = 1;
    for (int a = 0; a < eq->rank[i]; a++) {
        int l = eq->label[i][a], first = 0;
        while (eq->label[i][first] != l)
            first++;
        if (first < a) {
            if (dims[a] != dims[first])
                return diag_error(d, "repeated label of input %d has sizes %lld and %lld", i,
                                  (long long)dims[first], (long long)dims[a]);
            continue;
        }
        int64_t stride = 0;
        for (int b = a; b < eq->rank[i]; b++)
            stride += eq->label[i][b] == l ? strides[b] : 0;
        if (needed_later(eq, l, -1, i)) {
            es->keep_dims[es->n_keep] = dims[a];
            es->keep_strides[es->n_keep++] = stride;
            es->n_out *= dims[a];
            term->label[term->rank] = l;
            term->dim[term->rank++] = dims[a];
        } else {
            es->sum_dims[es->n_sum] = dims[a];
            es->sum_strides[es->n_sum++] = stride;
        }
    }
    return KDC_OK;
}

/* Axes of one side of a fold, in the order of `order`, reading `src`
 * (stride 0 where src has the label at size 1 or not at all). */
static void fold_axes(const Labeled *src, const int *order, int n, const int64_t *size, int64_t *dims,
                      int64_t *strides)
{
    int64_t src_strides[EINSUM_MAX_LABELS];
    k_contiguous_strides(src->rank, src->dim, src_strides);
    for (int k = 0; k < n; k++) {
        int a = find_label(src, order[k]);
        dims[k] = size[order[k]];
        strides[k] = a < 0 || src->dim[a] == 1 ? 0 : src_strides[a];
    }
}

static int64_t product(const int *labels, int n, const int64_t *size)
{
    int64_t p = 1;
    for (int k = 0; k < n; k++)
        p *= size[labels[k]];
    return p;
}

static void concat_labels(int *out, const int *a, int na, const int *b, int nb, const int *c, int nc)
{
    memcpy(out, a, (size_t)na * sizeof *out);
    memcpy(out + na, b, (size_t)nb * sizeof *out);
    memcpy(out + na + nb, c, (size_t)nc * sizeof *out);
}

/* Folds operand i (t) into the running result r: labels of both that stay
 * needed are batch axes, the other shared ones are contracted (K). */
static Status plan_pair(const EinsumEq *eq, int i, const int64_t *size, Labeled *r, const Labeled *t,
                        KEinsumPair *kp, Diag *d)
{
    int batch[EINSUM_MAX_LABELS], m[EINSUM_MAX_LABELS], k[EINSUM_MAX_LABELS], n[EINSUM_MAX_LABELS];
    int nb = 0, nm = 0, nk = 0, nn = 0;
    for (int a = 0; a < r->rank; a++) {
        int l = r->label[a];
        if (find_label(t, l) < 0)
            m[nm++] = l;
        else if (needed_later(eq, l, i, -1))
            batch[nb++] = l;
        else
            k[nk++] = l;
    }
    for (int a = 0; a < t->rank; a++)
        if (find_label(r, t->label[a]) < 0)
            n[nn++] = t->label[a];
    if (nb + nm + nk > KD_MAX_RANK || nb + nk + nn > KD_MAX_RANK || nb + nm + nn > EINSUM_MAX_LABELS)
        return diag_error(d, "too many distinct labels meet at input %d", i);
    int rl[2 * KD_MAX_RANK], tl[2 * KD_MAX_RANK];
    int64_t dims[KD_MAX_RANK], strides[KD_MAX_RANK];
    concat_labels(rl, batch, nb, m, nm, k, nk);
    concat_labels(tl, batch, nb, k, nk, n, nn);
    fold_axes(r, rl, nb + nm + nk, size, dims, strides);
    k_strided_init(&kp->r_copy, nb + nm + nk, dims, strides, 0);
    fold_axes(t, tl, nb + nk + nn, size, dims, strides);
    k_strided_init(&kp->t_copy, nb + nk + nn, dims, strides, 0);
    int64_t pm = product(m, nm, size), pn = product(n, nn, size), pk = product(k, nk, size);
    if (pm > INT_MAX || pn > INT_MAX || pk > INT_MAX)
        return diag_error(d, "a product of input %d is too large for one GEMM", i);
    kp->batch = product(batch, nb, size);
    kp->M = (int)pm, kp->N = (int)pn, kp->K = (int)pk;
    r->rank = 0;
    for (int a = 0; a < nb + nm; a++)
        r->label[r->rank] = rl[a], r->dim[r->rank++] = size[rl[a]];
    for (int a = 0; a < nn; a++)
        r->label[r->rank] = n[a], r->dim[r->rank++] = size[n[a]];
    return KDC_OK;
}

static void plan_output(const EinsumEq *eq, const Labeled *r, const int64_t *size, KEinsum *ke, int64_t *y_dims)
{
    int64_t strides[EINSUM_MAX_RANK];
    fold_axes(r, eq->out_label, eq->out_rank, size, y_dims, strides);
    k_strided_init(&ke->out_copy, eq->out_rank, y_dims, strides, 0);
}

Status k_einsum_init(KEinsum *ke, const EinsumEq *eq, const int64_t *const *dims, int64_t *y_dims, Diag *d)
{
    int64_t size[EINSUM_MAX_LABELS];
    Labeled terms[EINSUM_MAX_OPERANDS], r;
    memset(ke, 0, sizeof *ke);
    ke->n_in = eq->n_in;
    if (label_sizes(eq, dims, size, d))
        return KDC_ERR;
    for (int i = 0; i < eq->n_in; i++) {
        if (plan_sum(eq, i, dims[i], &ke->sum[i], &terms[i], d))
            return KDC_ERR;
        ke->term_off[i] = ke->total;
        ke->total += ke->sum[i].n_out;
    }
    r = terms[0];
    for (int i = 1; i < eq->n_in; i++) {
        KEinsumPair *kp = &ke->pair[i];
        if (plan_pair(eq, i, size, &r, &terms[i], kp, d))
            return KDC_ERR;
        kp->rp_off = ke->total;
        kp->tp_off = kp->rp_off + kp->batch * kp->M * kp->K;
        kp->res_off = kp->tp_off + kp->batch * kp->K * kp->N;
        ke->total = kp->res_off + kp->batch * kp->M * kp->N;
    }
    plan_output(eq, &r, size, ke, y_dims);
    return KDC_OK;
}

/* ---- compute ---- */

/* Runs BODY for every input element the sum reads, with o the output
 * index and off the input offset: keep axes outer, sum axes inner. */
#define SUM_WALK(es, BODY)                                                                                             \
    do {                                                                                                               \
        int64_t kc[EINSUM_MAX_RANK] = {0}, koff = 0;                                                                   \
        for (int64_t o = 0; o < (es)->n_out; o++) {                                                                    \
            int64_t sc[EINSUM_MAX_RANK] = {0}, off = koff;                                                             \
            bool more = true;                                                                                          \
            for (int z = 0; z < (es)->n_sum; z++)                                                                      \
                more = more && (es)->sum_dims[z] > 0;                                                                  \
            while (more) {                                                                                             \
                BODY;                                                                                                  \
                more = false;                                                                                          \
                for (int z = (es)->n_sum - 1; z >= 0 && !more; z--) {                                                  \
                    off += (es)->sum_strides[z];                                                                       \
                    if (++sc[z] < (es)->sum_dims[z])                                                                   \
                        more = true;                                                                                   \
                    else                                                                                               \
                        off -= sc[z] * (es)->sum_strides[z], sc[z] = 0;                                                \
                }                                                                                                      \
            }                                                                                                          \
            for (int z = (es)->n_keep - 1; z >= 0; z--) {                                                              \
                koff += (es)->keep_strides[z];                                                                         \
                if (++kc[z] < (es)->keep_dims[z])                                                                      \
                    break;                                                                                             \
                koff -= kc[z] * (es)->keep_strides[z], kc[z] = 0;                                                      \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

static void sum_forward_f(const KEinsumSum *es, const float *x, float *y)
{
    memset(y, 0, (size_t)es->n_out * sizeof *y);
    SUM_WALK(es, y[o] += x[off]);
}

static void sum_forward_d(const KEinsumSum *es, const double *x, double *y)
{
    memset(y, 0, (size_t)es->n_out * sizeof *y);
    SUM_WALK(es, y[o] += x[off]);
}

static void sum_backward(const KEinsumSum *es, const float *dy, float *dx)
{
    SUM_WALK(es, dx[off] += dy[o]);
}

static void bmm_f(const KEinsumPair *kp, const float *a, const float *b, float *c)
{
    int64_t sa = (int64_t)kp->M * kp->K, sb = (int64_t)kp->K * kp->N, sc = (int64_t)kp->M * kp->N;
    if (sa == 0 || sb == 0) { /* BLAS refuses zero leading dims; an empty K gives zeros */
        memset(c, 0, (size_t)(kp->batch * sc) * sizeof *c);
        return;
    }
    for (int64_t g = 0; g < kp->batch; g++)
        blas_sgemm(false, false, kp->M, kp->N, kp->K, 1.0f, a + g * sa, kp->K, b + g * sb, kp->N, 0.0f, c + g * sc,
                   kp->N);
}

static void bmm_d(const KEinsumPair *kp, const double *a, const double *b, double *c)
{
    const int M = kp->M, N = kp->N, K = kp->K;
    for (int64_t g = 0; g < kp->batch; g++, a += (int64_t)M * K, b += (int64_t)K * N, c += (int64_t)M * N)
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++)
                c[(int64_t)i * N + j] = 0;
            for (int p = 0; p < K; p++)
                for (int j = 0; j < N; j++)
                    c[(int64_t)i * N + j] += a[(int64_t)i * K + p] * b[(int64_t)p * N + j];
        }
}

/* The running result after folding in operand i. */
static int64_t result_off(const KEinsum *ke, int i)
{
    return i == 0 ? ke->term_off[0] : ke->pair[i].res_off;
}

void k_einsum_forward(const KEinsum *ke, bool dbl, const void *const *x, void *y, void *ws)
{
    size_t elem = dbl ? sizeof(double) : sizeof(float);
    unsigned char *w = ws;
    for (int i = 0; i < ke->n_in; i++) {
        if (dbl)
            sum_forward_d(&ke->sum[i], x[i], (double *)ws + ke->term_off[i]);
        else
            sum_forward_f(&ke->sum[i], x[i], (float *)ws + ke->term_off[i]);
    }
    for (int i = 1; i < ke->n_in; i++) {
        const KEinsumPair *kp = &ke->pair[i];
        void *rp = w + kp->rp_off * elem, *tp = w + kp->tp_off * elem, *res = w + kp->res_off * elem;
        k_strided_copy(&kp->r_copy, elem, w + result_off(ke, i - 1) * elem, rp);
        k_strided_copy(&kp->t_copy, elem, w + ke->term_off[i] * elem, tp);
        if (dbl)
            bmm_d(kp, rp, tp, res);
        else
            bmm_f(kp, rp, tp, res);
    }
    k_strided_copy(&ke->out_copy, elem, w + result_off(ke, ke->n_in - 1) * elem, y);
}

/* dC [M,N] -> dA [M,K] += dC B^T, dB [K,N] += A^T dC, per batch. */
static void bmm_backward(const KEinsumPair *kp, const float *a, const float *b, const float *dc, float *da, float *db)
{
    int64_t sa = (int64_t)kp->M * kp->K, sb = (int64_t)kp->K * kp->N, sc = (int64_t)kp->M * kp->N;
    if (sa == 0 || sb == 0)
        return;
    for (int64_t g = 0; g < kp->batch; g++) {
        blas_sgemm(false, true, kp->M, kp->K, kp->N, 1.0f, dc + g * sc, kp->N, b + g * sb, kp->N, 1.0f, da + g * sa,
                   kp->K);
        blas_sgemm(true, false, kp->K, kp->N, kp->M, 1.0f, a + g * sa, kp->K, dc + g * sc, kp->N, 1.0f, db + g * sb,
                   kp->N);
    }
}

void k_einsum_backward(const KEinsum *ke, const float *const *x, const float *dy, float *const *dx, float *ws)
{
    float *fwd = ws, *grad = ws + ke->total;
    for (int i = 0; i < ke->n_in; i++)
        sum_forward_f(&ke->sum[i], x[i], fwd + ke->term_off[i]);
    for (int i = 1; i < ke->n_in; i++) {
        const KEinsumPair *kp = &ke->pair[i];
        k_strided_copy(&kp->r_copy, sizeof(float), fwd + result_off(ke, i - 1), fwd + kp->rp_off);
        k_strided_copy(&kp->t_copy, sizeof(float), fwd + ke->term_off[i], fwd + kp->tp_off);
        bmm_f(kp, fwd + kp->rp_off, fwd + kp->tp_off, fwd + kp->res_off);
    }
    memset(grad, 0, (size_t)ke->total * sizeof *grad);
    k_strided_backward(&ke->out_copy, dy, grad + result_off(ke, ke->n_in - 1));
    for (int i = ke->n_in - 1; i >= 1; i--) {
        const KEinsumPair *kp = &ke->pair[i];
        bmm_backward(kp, fwd + kp->rp_off, fwd + kp->tp_off, grad + kp->res_off, grad + kp->rp_off,
                     grad + kp->tp_off);
        k_strided_backward(&kp->r_copy, grad + kp->rp_off, grad + result_off(ke, i - 1));
        k_strided_backward(&kp->t_copy, grad + kp->tp_off, grad + ke->term_off[i]);
    }
    for (int i = 0; i < ke->n_in; i++)
        if (dx[i])
            sum_backward(&ke->sum[i], grad + ke->term_off[i], dx[i]);
}
