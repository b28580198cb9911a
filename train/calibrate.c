/* calibrate.c - running a teacher on calibration batches and measuring
 * activation, Taylor and block-similarity scores (see calibrate.h).
 *
 * Owns the batch loop shared by the three measurements (a plan for full
 * batches, a second one for the remainder, inputs copied sample-major from
 * the data tensors), the checks of calibration data against the model's
 * inputs, the save/restore of initializers around training-plan runs, and
 * loading calibration files through a caller-given tensor reader. Sums are
 * kept in double: a mean over many batches of float activations would
 * otherwise lose the small channels' digits.
 */
#include "train/calibrate.h"

#include "runtime/plan.h"
#include "runtime/plan_probe.h"
#include "train/loss_logit.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fixed so that Taylor scores (Dropout masks of the training plan) repeat run to run. */
#define CALIB_SEED 0x6b6463ull

/* ---- calibration data ---- */

static int count_data_inputs(const Graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n_inputs; i++)
        n += !g->inputs[i]->init;
    return n;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && k + 1 < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)dims[i]);
}

static void format_declared(const Shape *s, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->rank && k + 1 < cap; i++) {
        const Dim *dim = &s->dims[i];
        const char *sep = i ? "," : "";
        if (dim->value >= 0)
            k += (size_t)snprintf(buf + k, cap - k, "%s%lld", sep, (long long)dim->value);
        else
            k += (size_t)snprintf(buf + k, cap - k, "%s%s", sep, dim->param ? dim->param : "?");
    }
}

static bool per_sample_dims_match(const Value *in, const Tensor *t)
{
    if (t->rank != in->shape.rank)
        return false;
    for (int i = 1; i < t->rank; i++)
        if (in->shape.dims[i].value < 0 || t->dims[i] != in->shape.dims[i].value)
            return false;
    return true;
}

/* One input's data; `source` (a file, or "calibration data") starts every message. */
static Status check_input_data(const Value *in, const Tensor *t, int64_t n_samples, const char *source, Diag *d)
{
    if (in->kind != TYPE_TENSOR || in->shape.rank < 1)
        return diag_error(d, "input '%s' has no declared shape with a batch dim; calibration needs one", in->name);
    if (!t || !t->data)
        return diag_error(d, "%s: no data for input '%s'", source, in->name);
    if (t->dtype != in->dtype || dtype_size(t->dtype) == 0)
        return diag_error(d, "%s: data is %s but input '%s' takes %s", source, dtype_name(t->dtype), in->name,
                          dtype_name(in->dtype));
    if (!per_sample_dims_match(in, t)) {
        char got[160], want[160];
        format_dims(t->dims, t->rank, got, sizeof got);
        format_declared(&in->shape, want, sizeof want);
        return diag_error(d,
                          "%s: data of shape [%s] does not fit input '%s' of shape [%s] (first axis = samples, "
                          "the rest must equal the input's dims after the batch)",
                          source, got, in->name, want);
    }
    if (t->dims[0] != n_samples)
        return diag_error(d, "%s: %lld samples for input '%s' but the calibration set has %lld", source,
                          (long long)t->dims[0], in->name, (long long)n_samples);
    if (t->nbytes < (size_t)tensor_numel(t) * dtype_size(t->dtype))
        return diag_error(d, "%s: holds fewer bytes than its shape needs", source);
    return KDC_OK;
}

/* sources[k] names input k's data in messages (NULL: "calibration data"). */
static Status check_data(const Graph *g, const CalibData *data, const char *const *sources, Diag *d)
{
    int n_in = count_data_inputs(g);
    if (n_in == 0)
        return diag_error(d, "calibration: the model has no inputs to feed");
    if (data->n_inputs != n_in)
        return diag_error(d, "calibration data: %d tensors for a model with %d inputs (one per input, in input order)",
                          data->n_inputs, n_in);
    for (int i = 0, k = 0; i < g->n_inputs; i++) {
        if (g->inputs[i]->init)
            continue;
        const char *source = sources ? sources[k] : "calibration data";
        if (check_input_data(g->inputs[i], data->inputs[k], data->n_samples, source, d))
            return KDC_ERR;
        k++;
    }
    if (data->n_samples < 1)
        return diag_error(d, "%s: holds no samples", sources ? sources[0] : "calibration data");
    if (data->batch < 1)
        return diag_error(d, "calibration: batch size %lld, it must be at least 1", (long long)data->batch);
    return KDC_OK;
}

Status calib_data_check(const Graph *g, const CalibData *data, Diag *d)
{
    return check_data(g, data, NULL, d);
}

/* ---- the batch loop ---- */

typedef Status (*BatchFn)(Plan *p, int64_t count, void *ctx, Diag *d);

typedef struct CalibRun {
    PlanMode mode;
    const Value *const *keep; /* values read after each forward */
    int n_keep;
    BatchFn on_batch; /* after each forward */
    void *ctx;
} CalibRun;

/* The requested batch, capped at the sample count, unless an input fixes dim 0. */
static Status run_batch_size(const Graph *g, const CalibData *data, int64_t *batch, Diag *d)
{
    const Value *fixed = NULL;
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (v->init || v->shape.dims[0].value < 0)
            continue;
        if (v->shape.dims[0].value == 0)
            return diag_error(d, "input '%s' declares a batch dim of 0", v->name);
        if (fixed && fixed->shape.dims[0].value != v->shape.dims[0].value)
            return diag_error(d, "inputs '%s' and '%s' declare different fixed batch sizes", fixed->name, v->name);
        fixed = v;
    }
    *batch = data->batch < data->n_samples ? data->batch : data->n_samples;
    if (!fixed)
        return KDC_OK;
    *batch = fixed->shape.dims[0].value;
    if (data->n_samples % *batch)
        return diag_error(d,
                          "input '%s' has a fixed batch of %lld: give a multiple of it as calibration samples, "
                          "not %lld",
                          fixed->name, (long long)*batch, (long long)data->n_samples);
    return KDC_OK;
}

static Status build_run_plan(Graph *g, const CalibRun *r, int64_t batch, Plan **p, Diag *d)
{
    Status st = KDC_ERR;
    int n = 0;
    Shape *shapes = calloc((size_t)g->n_inputs + 1, sizeof *shapes);
    if (!shapes) {
        diag_error(d, "out of memory");
        goto fail;
    }
    if (plan_input_shapes_for_batch(g, batch, shapes, g->n_inputs, &n, d) ||
        plan_probe_build(g, r->mode, shapes, r->keep, r->n_keep, CALIB_SEED, p, d))
        goto fail;
    st = KDC_OK;
fail:
    free(shapes);
    return st;
}

/* Copies samples [first, first + count) of every data tensor into the plan's inputs. */
static void fill_inputs(Plan *p, const CalibData *data, int64_t first, int64_t count)
{
    for (int k = 0; k < data->n_inputs; k++) {
        const Tensor *t = data->inputs[k];
        size_t sample_bytes = (size_t)(tensor_numel(t) / t->dims[0]) * dtype_size(t->dtype);
        memcpy(plan_input(p, k), (const char *)t->data + (size_t)first * sample_bytes, (size_t)count * sample_bytes);
    }
}

static Status run_batches(Graph *g, const CalibData *data, const CalibRun *r, Diag *d)
{
    Status st = KDC_ERR;
    Plan *full = NULL, *rest = NULL;
    int64_t batch = 0;
    if (check_data(g, data, NULL, d) || run_batch_size(g, data, &batch, d))
        return KDC_ERR;
    int64_t remainder = data->n_samples % batch;
    if (build_run_plan(g, r, batch, &full, d) || (remainder && build_run_plan(g, r, remainder, &rest, d)))
        goto fail;
    for (int64_t first = 0; first < data->n_samples; first += batch) {
        int64_t count = data->n_samples - first < batch ? remainder : batch;
        Plan *p = count == batch ? full : rest;
        fill_inputs(p, data, first, count);
        if (plan_forward(p, d) || r->on_batch(p, count, r->ctx, d))
            goto fail;
    }
    st = KDC_OK;
fail:
    plan_free(full);
    plan_free(rest);
    return st;
}

static Status check_own_value(const Graph *g, const Value *v, const char *what, int index, Diag *d)
{
    if (!v)
        return diag_error(d, "%s calibration: entry %d names no value", what, index);
    if (v->graph != g || v->id < 0 || v->id >= g->n_values || g->values[v->id] != v)
        return diag_error(d, "%s calibration: value '%s' is not defined in the calibrated graph", what,
                          v->name ? v->name : "?");
    return KDC_OK;
}

/* ---- activation importance ---- */

typedef struct ActAccum {
    CalibRequest *req;
    int n_req;
    int *axis;      /* [n_req], non-negative */
    double *counts; /* [n_req]: elements summed into each index */
    double **sums;  /* [n_req]: per index, sum of x and sum of x^2 (requests with mean/var) */
} ActAccum;

/* Before running: the caller sized mean_abs from the declared dim, so it must be fixed. */
static Status check_request(const Graph *g, const CalibRequest *r, int index, int *axis, Diag *d)
{
    const Value *v = r->value;
    if (check_own_value(g, v, "activation", index, d))
        return KDC_ERR;
    if (!r->mean_abs || !r->mean != !r->var)
        return diag_error(d, "activation calibration: value '%s' has no output array", v->name);
    if (v->kind != TYPE_TENSOR || v->shape.rank < 0)
        return diag_error(d, "activation calibration: value '%s' has no known shape; run shape inference first",
                          v->name);
    if (v->dtype != DT_FLOAT)
        return diag_error(d, "activation calibration: value '%s' is %s, not float", v->name, dtype_name(v->dtype));
    int rank = v->shape.rank, a = r->axis < 0 ? r->axis + rank : r->axis;
    if (a < 0 || a >= rank)
        return diag_error(d, "activation calibration: value '%s': axis %d is out of range for rank %d", v->name,
                          r->axis, rank);
    if (v->shape.dims[a].value < 1)
        return diag_error(
            d, "activation calibration: value '%s': dim %d has no fixed size (the batch?); ask for a channel axis",
            v->name, a);
    *axis = a;
    return KDC_OK;
}

static Status check_view_axis(const CalibRequest *r, int axis, const ProbeView *view, Diag *d)
{
    const Value *v = r->value;
    if (view->dtype != DT_FLOAT)
        return diag_error(d, "activation calibration: value '%s' runs as %s, not float", v->name,
                          dtype_name(view->dtype));
    if (view->shape.rank != v->shape.rank || view->shape.dims[axis].value != v->shape.dims[axis].value)
        return diag_error(d,
                          "activation calibration: value '%s': the run gives it rank %d with dim %d of %lld, the graph "
                          "declares rank %d "
                          "and %lld",
                          v->name, view->shape.rank, axis, (long long)view->shape.dims[axis].value, v->shape.rank,
                          (long long)v->shape.dims[axis].value);
    if (view->numel == 0)
        return diag_error(d, "activation calibration: value '%s' has no elements to measure", v->name);
    return KDC_OK;
}

/* Over every element whose index along `axis` is c: abs[c] += |x| and, when moments is
 * not NULL, moments[c] += x and moments[dim + c] += x^2. */
static void sum_along(const float *x, const Shape *s, int axis, double *abs, double *moments)
{
    int64_t outer = 1, inner = 1, dim = s->dims[axis].value;
    for (int i = 0; i < axis; i++)
        outer *= s->dims[i].value;
    for (int i = axis + 1; i < s->rank; i++)
        inner *= s->dims[i].value;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < dim; c++) {
            const float *row = x + (o * dim + c) * inner;
            double acc = 0, sum = 0, sq = 0;
            for (int64_t i = 0; i < inner; i++)
                acc += fabsf(row[i]);
            abs[c] += acc;
            if (!moments)
                continue;
            for (int64_t i = 0; i < inner; i++) {
                sum += row[i];
                sq += (double)row[i] * row[i];
            }
            moments[c] += sum;
            moments[dim + c] += sq;
        }
}

static Status activation_batch(Plan *p, int64_t count, void *ctx, Diag *d)
{
    (void)count;
    ActAccum *acc = ctx;
    for (int i = 0; i < acc->n_req; i++) {
        ProbeView view;
        if (plan_probe_value(p, acc->req[i].value, &view, d) || check_view_axis(&acc->req[i], acc->axis[i], &view, d))
            return KDC_ERR;
        sum_along(view.data, &view.shape, acc->axis[i], acc->req[i].mean_abs, acc->sums[i]);
        acc->counts[i] += (double)(view.numel / view.shape.dims[acc->axis[i]].value);
    }
    return KDC_OK;
}

/* mean = sum / n, var = sum of squares / n - mean^2 (clamped at 0 against rounding). */
static void finish_moments(const CalibRequest *r, const double *sums, int64_t dim, double n)
{
    for (int64_t c = 0; c < dim; c++) {
        double mean = sums[c] / n, var = sums[dim + c] / n - mean * mean;
        r->mean[c] = mean;
        r->var[c] = var > 0 ? var : 0;
    }
}

static void free_sums(ActAccum *acc)
{
    for (int i = 0; acc->sums && i < acc->n_req; i++)
        free(acc->sums[i]);
    free(acc->sums);
}

/* Checks each request and zeroes what it accumulates into. */
static Status start_requests(Graph *g, ActAccum *acc, const Value **keep, Diag *d)
{
    for (int i = 0; i < acc->n_req; i++) {
        CalibRequest *r = &acc->req[i];
        if (check_request(g, r, i, &acc->axis[i], d))
            return KDC_ERR;
        keep[i] = r->value;
        int64_t dim = r->value->shape.dims[acc->axis[i]].value;
        memset(r->mean_abs, 0, (size_t)dim * sizeof(double));
        if (r->mean && !(acc->sums[i] = calloc((size_t)dim * 2, sizeof(double))))
            return diag_error(d, "out of memory");
    }
    return KDC_OK;
}

Status calib_activation(Graph *g, const CalibData *data, CalibRequest *req, int n_req, Diag *d)
{
    Status st = KDC_ERR;
    ActAccum acc = {req, n_req, calloc((size_t)n_req + 1, sizeof(int)), calloc((size_t)n_req + 1, sizeof(double)),
                    calloc((size_t)n_req + 1, sizeof(double *))};
    const Value **keep = calloc((size_t)n_req + 1, sizeof *keep);
    if (!acc.axis || !acc.counts || !acc.sums || !keep) {
        diag_error(d, "out of memory");
        goto fail;
    }
    if (start_requests(g, &acc, keep, d))
        goto fail;
    CalibRun run = {PLAN_INFERENCE, keep, n_req, activation_batch, &acc};
    if (run_batches(g, data, &run, d))
        goto fail;
    for (int i = 0; i < n_req; i++) {
        int64_t dim = req[i].value->shape.dims[acc.axis[i]].value;
        for (int64_t c = 0; c < dim; c++)
            req[i].mean_abs[c] /= acc.counts[i];
        if (acc.sums[i])
            finish_moments(&req[i], acc.sums[i], dim, acc.counts[i]);
    }
    st = KDC_OK;
fail:
    free(acc.axis);
    free(acc.counts);
    free_sums(&acc);
    free(keep);
    return st;
}

bool calib_moments_request(CalibRequest *req, const Value *value, int64_t dim)
{
    size_t n = dim > 0 ? (size_t)dim : 1;
    *req = (CalibRequest){value, 1, calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(double))};
    return req->mean_abs && req->mean && req->var;
}

void calib_requests_free(CalibRequest *req, int n)
{
    for (int i = 0; req && i < n; i++) {
        free(req[i].mean_abs);
        free(req[i].mean);
        free(req[i].var);
    }
    free(req);
}

/* ---- block similarity ---- */

typedef struct CosAccum {
    CalibPair *pairs;
    int n;
    double *sums; /* [n]: sum over samples of 1 - cos */
} CosAccum;

static Status check_pair_views(const ProbeView *a, const ProbeView *b, int64_t count, Diag *d)
{
    const char *an = a->value->name, *bn = b->value->name;
    if (a->dtype != DT_FLOAT || b->dtype != DT_FLOAT)
        return diag_error(d, "cosine calibration: values '%s' and '%s' must be float, they are %s and %s", an, bn,
                          dtype_name(a->dtype), dtype_name(b->dtype));
    bool same = a->shape.rank == b->shape.rank;
    for (int i = 0; same && i < a->shape.rank; i++)
        same = a->shape.dims[i].value == b->shape.dims[i].value;
    if (!same)
        return diag_error(d, "cosine calibration: values '%s' and '%s' have different shapes", an, bn);
    if (a->shape.rank < 1 || a->shape.dims[0].value != count)
        return diag_error(d, "cosine calibration: value '%s' does not carry the batch's %lld samples on dim 0", an,
                          (long long)count);
    return KDC_OK;
}

/* 1 - cos of two flattened samples; all-zero pairs are identical, one zero is orthogonal. */
static double cosine_distance(const float *a, const float *b, int64_t n)
{
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (na == 0 || nb == 0)
        return na == nb ? 0.0 : 1.0;
    double cos = dot / (sqrt(na) * sqrt(nb));
    return 1.0 - (cos > 1 ? 1 : cos < -1 ? -1 : cos);
}

static Status cosine_batch(Plan *p, int64_t count, void *ctx, Diag *d)
{
    CosAccum *acc = ctx;
    for (int i = 0; i < acc->n; i++) {
        ProbeView a, b;
        if (plan_probe_value(p, acc->pairs[i].a, &a, d) || plan_probe_value(p, acc->pairs[i].b, &b, d) ||
            check_pair_views(&a, &b, count, d))
            return KDC_ERR;
        int64_t per_sample = a.numel / count;
        for (int64_t s = 0; s < count; s++)
            acc->sums[i] += cosine_distance((const float *)a.data + s * per_sample,
                                            (const float *)b.data + s * per_sample, per_sample);
    }
    return KDC_OK;
}

Status calib_cosine(Graph *g, const CalibData *data, CalibPair *pairs, int n, Diag *d)
{
    Status st = KDC_ERR;
    CosAccum acc = {pairs, n, calloc((size_t)n + 1, sizeof(double))};
    const Value **keep = calloc(2 * (size_t)n + 1, sizeof *keep);
    if (!acc.sums || !keep) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (check_own_value(g, pairs[i].a, "cosine", i, d) || check_own_value(g, pairs[i].b, "cosine", i, d))
            goto fail;
        keep[2 * i] = pairs[i].a;
        keep[2 * i + 1] = pairs[i].b;
    }
    CalibRun run = {PLAN_INFERENCE, keep, 2 * n, cosine_batch, &acc};
    if (run_batches(g, data, &run, d))
        goto fail;
    for (int i = 0; i < n; i++)
        pairs[i].score = acc.sums[i] / (double)data->n_samples;
    st = KDC_OK;
fail:
    free(acc.sums);
    free(keep);
    return st;
}

/* ---- Taylor importance ---- */

typedef struct TaylorAccum {
    const Graph *g;
    CalibTaylor *out;
    int *slot_of;    /* by Value id: index into out->params, or -1 */
    int32_t *labels; /* pseudo-labels of the current batch */
    int64_t labels_cap;
} TaylorAccum;

/* The training plan writes BatchNormalization running statistics into the
 * IR; a copy of every initializer's bytes puts the graph back as it was. */
static void drop_saved_inits(int n, void **saved)
{
    for (int i = 0; i < n; i++)
        free(saved[i]);
    free(saved);
}

static Status save_inits(const Graph *g, void ***out, Diag *d)
{
    void **saved = calloc((size_t)g->n_inits + 1, sizeof *saved);
    if (!saved)
        return diag_error(d, "out of memory");
    for (int i = 0; i < g->n_inits; i++) {
        const Tensor *t = g->inits[i]->init;
        if (!t || !t->data || !t->nbytes)
            continue;
        if (!(saved[i] = malloc(t->nbytes))) {
            drop_saved_inits(i, saved);
            return diag_error(d, "out of memory saving initializer '%s'", g->inits[i]->name);
        }
        memcpy(saved[i], t->data, t->nbytes);
    }
    *out = saved;
    return KDC_OK;
}

static void restore_inits(Graph *g, void **saved)
{
    for (int i = 0; i < g->n_inits; i++)
        if (saved[i])
            memcpy(g->inits[i]->init->data, saved[i], g->inits[i]->init->nbytes);
    drop_saved_inits(g->n_inits, saved);
}

/* The first batch names the parameters; later plans of the same graph have the same ones. */
static Status taylor_claim_params(Plan *p, TaylorAccum *acc, Diag *d)
{
    PlanParam *params;
    int n = plan_params(p, &params);
    if (n == 0)
        return diag_error(d, "taylor calibration: the model has no trainable float initializers to score");
    acc->out->params = calloc((size_t)n, sizeof *acc->out->params);
    if (!acc->out->params)
        return diag_error(d, "out of memory");
    for (int i = 0; i < n; i++) {
        CalibTaylorParam *cp = &acc->out->params[acc->out->n_params++];
        *cp = (CalibTaylorParam){params[i].value, params[i].numel, calloc((size_t)params[i].numel + 1, sizeof(double))};
        if (!cp->score)
            return diag_error(d, "out of memory for the scores of '%s'", params[i].value->name);
        acc->slot_of[params[i].value->id] = i;
    }
    return KDC_OK;
}

static Status pseudo_label_grad(TaylorAccum *acc, const float *y, const Shape *s, float *dy, Diag *d)
{
    int64_t rows = s->dims[0].value, classes = s->dims[1].value;
    double loss;
    if (rows > acc->labels_cap) {
        int32_t *grown = realloc(acc->labels, (size_t)rows * sizeof *grown);
        if (!grown)
            return diag_error(d, "out of memory");
        acc->labels = grown;
        acc->labels_cap = rows;
    }
    for (int64_t r = 0; r < rows; r++)
        acc->labels[r] = (int32_t)loss_argmax(y + r * classes, classes);
    memset(dy, 0, (size_t)(rows * classes) * sizeof *dy); /* loss_ce adds into it */
    return loss_ce(y, acc->labels, NULL, 1.0, rows, classes, 0.0, 1.0, &loss, dy, d);
}

/* Writes dL/d(output 0) (see calib_taylor); false in *reaches when no parameter reaches it. */
static Status write_loss_grad(Plan *p, TaylorAccum *acc, bool *reaches, Diag *d)
{
    float *dy = plan_output_grad(p, 0);
    *reaches = dy != NULL;
    if (!dy)
        return KDC_OK;
    DType dt;
    Shape s;
    plan_output_info(p, 0, &dt, &s);
    const float *y = plan_output(p, 0);
    int64_t numel = shape_numel(&s);
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(y[i]))
            return diag_error(d, "taylor calibration: output '%s' has a non-finite value at element %lld",
                              acc->g->outputs[0]->name, (long long)i);
    if (s.rank == 2 && numel > 0)
        return pseudo_label_grad(acc, y, &s, dy, d);
    for (int64_t i = 0; i < numel; i++)
        dy[i] = (float)(y[i] / (double)numel);
    return KDC_OK;
}

static Status taylor_batch(Plan *p, int64_t count, void *ctx, Diag *d)
{
    (void)count;
    TaylorAccum *acc = ctx;
    bool reaches;
    if (!acc->out->params && taylor_claim_params(p, acc, d))
        return KDC_ERR;
    plan_zero_grads(p);
    if (write_loss_grad(p, acc, &reaches, d))
        return KDC_ERR;
    if (!reaches)
        return KDC_OK;
    plan_backward(p);
    PlanParam *params;
    int n = plan_params(p, &params);
    for (int i = 0; i < n; i++) {
        int slot = acc->slot_of[params[i].value->id];
        assert(slot >= 0 && acc->out->params[slot].numel == params[i].numel);
        double *score = acc->out->params[slot].score;
        for (int64_t k = 0; k < params[i].numel; k++)
            score[k] += fabs((double)params[i].data[k] * params[i].grad[k]);
    }
    return KDC_OK;
}

Status calib_taylor(Graph *g, const CalibData *data, CalibTaylor *out, Diag *d)
{
    Status st = KDC_ERR;
    void **saved = NULL;
    memset(out, 0, sizeof *out);
    TaylorAccum acc = {g, out, malloc(((size_t)g->n_values + 1) * sizeof(int)), NULL, 0};
    if (!acc.slot_of) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_values; i++)
        acc.slot_of[i] = -1;
    if (save_inits(g, &saved, d))
        goto fail;
    CalibRun run = {PLAN_TRAINING, NULL, 0, taylor_batch, &acc};
    if (run_batches(g, data, &run, d))
        goto fail;
    st = KDC_OK;
fail:
    if (saved)
        restore_inits(g, saved);
    free(acc.slot_of);
    free(acc.labels);
    if (st)
        calib_taylor_free(out);
    return st;
}

const CalibTaylorParam *calib_taylor_find(const CalibTaylor *t, const Value *v)
{
    for (int i = 0; i < t->n_params; i++)
        if (t->params[i].value == v)
            return &t->params[i];
    return NULL;
}

void calib_taylor_free(CalibTaylor *t)
{
    for (int i = 0; i < t->n_params; i++)
        free(t->params[i].score);
    free(t->params);
    memset(t, 0, sizeof *t);
}

/* ---- calibration files ---- */

Status calib_files_load(const Graph *g, const char *const *paths, int n_paths, int64_t batch, CalibTensorReader read,
                        CalibFiles *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    int n_in = count_data_inputs(g);
    if (n_paths != n_in)
        return diag_error(d, "calibration data: %d files for a model with %d inputs (one per input, in input order)",
                          n_paths, n_in);
    out->store = model_new();
    out->tensors = calloc((size_t)n_in + 1, sizeof *out->tensors);
    if (!out->store || !out->tensors) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int k = 0; k < n_in; k++) {
        Tensor *t = NULL;
        if (read(paths[k], out->store, &t, d))
            goto fail;
        out->tensors[k] = t;
    }
    const Tensor *first = out->tensors[0];
    out->data = (CalibData){out->tensors, n_in, first && first->rank >= 1 ? first->dims[0] : 0, batch};
    if (check_data(g, &out->data, paths, d))
        goto fail;
    return KDC_OK;
fail:
    calib_files_free(out);
    return KDC_ERR;
}

void calib_files_free(CalibFiles *f)
{
    if (f->store)
        model_free(f->store);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}
