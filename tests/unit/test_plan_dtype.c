/* test_plan_dtype.c - the plan's dtype adapter (runtime/plan_dtype.c):
 * float-only ops on float16, bfloat16 and double tensors compute in float
 * with conversions at the step's edges.
 *
 * An fp16 CNN (Conv, BatchNormalization, Relu, GlobalAveragePool, Gemm; fp16
 * input and initializers) must give the float model's result (same
 * fp16-representable weights and input) within fp16 rounding, with its
 * weights converted once at build time; a double MatMul + Softmax graph must
 * match a double reference to ~1e-6 relative; a bfloat16 Gemm must match a
 * reference within bfloat16 rounding; and a training plan with float16
 * parameters is refused with one exact message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "runtime/kernels.h"
#include "runtime/kernels_misc.h"
#include "tests/unit/plan_check.h"

static KElem kelem(DType dt)
{
    return dt == DT_FLOAT16 ? KE_FLOAT16 : dt == DT_BFLOAT16 ? KE_BFLOAT16 : dt == DT_DOUBLE ? KE_DOUBLE : KE_FLOAT;
}

/* Rounds x in place to the nearest value of type dt. */
static void round_to(DType dt, float *x, int64_t n)
{
    void *tmp = malloc((size_t)n * 8);
    assert_non_null(tmp);
    k_convert(KE_FLOAT, x, kelem(dt), tmp, n);
    k_convert(kelem(dt), tmp, KE_FLOAT, x, n);
    free(tmp);
}

/* An initializer of type dt holding vals (which dt represents exactly). */
static Value *typed_init(Graph *g, const char *name, DType dt, int rank, const int64_t *dims, const float *vals)
{
    Value *v = gb_init(g, name, dt, rank, dims);
    k_convert(KE_FLOAT, vals, kelem(dt), v->init->data, tensor_numel(v->init));
    return v;
}

/* ---- an fp16 CNN against the same CNN in float ---- */

enum { CNN_N = 2, CNN_C = 3, CNN_HW = 6, CNN_F = 4, CNN_OUT = 5 };

typedef struct CnnWeights {
    float w[CNN_F * CNN_C * 9], b[CNN_F];
    float scale[CNN_F], bias[CNN_F], mean[CNN_F], var[CNN_F];
    float w2[CNN_F * CNN_OUT], c2[CNN_OUT];
} CnnWeights;

static void cnn_weights_draw(CnnWeights *w)
{
    gb_fill_random(w->w, CNN_F * CNN_C * 9, -0.5f, 0.5f);
    gb_fill_random(w->b, CNN_F, -0.2f, 0.2f);
    gb_fill_random(w->scale, CNN_F, 0.5f, 1.5f);
    gb_fill_random(w->bias, CNN_F, -0.2f, 0.2f);
    gb_fill_random(w->mean, CNN_F, -0.2f, 0.2f);
    gb_fill_random(w->var, CNN_F, 0.5f, 1.5f);
    gb_fill_random(w->w2, CNN_F * CNN_OUT, -1.0f, 1.0f);
    gb_fill_random(w->c2, CNN_OUT, -0.5f, 0.5f);
    round_to(DT_FLOAT16, (float *)w, (int64_t)(sizeof *w / sizeof(float)));
}

/* x -> Conv -> BatchNormalization -> Relu -> GlobalAveragePool -> Flatten -> Gemm, all of type dt. */
static Model *cnn_model(DType dt, const CnnWeights *w)
{
    Model *m = model_new();
    Graph *g = m->graph;
    const int64_t f[] = {CNN_F};
    Value *x = gb_input(g, "x", dt, 4, (int64_t[]){CNN_N, CNN_C, CNN_HW, CNN_HW});
    Node *conv = gb_node(g, "Conv", 11, "conv", 3,
                         (Value *[]){x, typed_init(g, "w", dt, 4, (int64_t[]){CNN_F, CNN_C, 3, 3}, w->w),
                                     typed_init(g, "b", dt, 1, f, w->b)},
                         1);
    gb_set_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *bn = gb_node(g, "BatchNormalization", 15, "bn", 5,
                        (Value *[]){conv->outputs[0], typed_init(g, "scale", dt, 1, f, w->scale),
                                    typed_init(g, "bias", dt, 1, f, w->bias), typed_init(g, "mean", dt, 1, f, w->mean),
                                    typed_init(g, "var", dt, 1, f, w->var)},
                        1)
                    ->outputs[0];
    Value *pooled = gb_op1(g, "GlobalAveragePool", 1, "gap", gb_op1(g, "Relu", 14, "relu", bn));
    Value *flat = gb_op1(g, "Flatten", 13, "flat", pooled);
    Value *y = gb_node(g, "Gemm", 13, "gemm", 3,
                       (Value *[]){flat, typed_init(g, "w2", dt, 2, (int64_t[]){CNN_F, CNN_OUT}, w->w2),
                                   typed_init(g, "c2", dt, 1, (int64_t[]){CNN_OUT}, w->c2)},
                       1)
                   ->outputs[0];
    gb_append_output(g, y);
    return m;
}

static void test_fp16_cnn_matches_float(void **state)
{
    (void)state;
    CnnWeights w;
    cnn_weights_draw(&w);
    Model *m16 = cnn_model(DT_FLOAT16, &w), *m32 = cnn_model(DT_FLOAT, &w);
    Plan *p16 = pc_build(m16->graph, PLAN_INFERENCE, CNN_N, 1), *p32 = pc_build(m32->graph, PLAN_INFERENCE, CNN_N, 1);
    pc_expect_output(p16, 0, DT_FLOAT16, 2, (int64_t[]){CNN_N, CNN_OUT});
    /* the fp16 weights became float constants at build time */
    const Step *conv = &p16->steps[0];
    assert_non_null(conv->edge_in);
    assert_int_equal(conv->in[1]->dtype, DT_FLOAT);
    assert_true(conv->in[1]->is_const);
    assert_int_equal(conv->edge_in[1]->dtype, DT_FLOAT16);
    pc_check_no_live_overlap(p16);

    const int64_t n_in = CNN_N * CNN_C * CNN_HW * CNN_HW;
    float *x = pc_fill_input(p32, 0, -1, 1);
    round_to(DT_FLOAT16, x, n_in);
    k_convert(KE_FLOAT, x, KE_FLOAT16, plan_input(p16, 0), n_in);
    for (int run = 0; run < 2; run++) { /* a second run sees the same numbers */
        pc_forward(p16);
        pc_forward(p32);
        float got[CNN_N * CNN_OUT];
        k_convert(KE_FLOAT16, plan_output(p16, 0), KE_FLOAT, got, CNN_N * CNN_OUT);
        double *want = pc_to_double(plan_output(p32, 0), CNN_N * CNN_OUT);
        pc_expect_close(got, want, CNN_N * CNN_OUT, 4e-3); /* a few fp16 roundings of the activations */
        free(want);
    }
    plan_free(p16);
    plan_free(p32);
    model_free(m16);
    model_free(m32);
}

/* ---- double MatMul + Softmax against a double reference ---- */

enum { MM_B = 2, MM_M = 3, MM_K = 4, MM_N = 5 };

static void matmul_softmax_reference(const double *x, const double *w, double *y)
{
    for (int r = 0; r < MM_B * MM_M; r++) {
        double row[MM_N], max = -INFINITY, sum = 0;
        for (int j = 0; j < MM_N; j++) {
            row[j] = 0;
            for (int k = 0; k < MM_K; k++)
                row[j] += x[r * MM_K + k] * w[k * MM_N + j];
            max = fmax(max, row[j]);
        }
        for (int j = 0; j < MM_N; j++)
            sum += exp(row[j] - max);
        for (int j = 0; j < MM_N; j++)
            y[r * MM_N + j] = exp(row[j] - max) / sum;
    }
}

static void test_double_matmul_softmax(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    double w[MM_K * MM_N];
    for (int i = 0; i < MM_K * MM_N; i++)
        w[i] = 2.0 * gb_frand() + 1e-3 / 3.0; /* not float-representable */
    Value *x = gb_input(g, "x", DT_DOUBLE, 3, (int64_t[]){MM_B, MM_M, MM_K});
    Value *mm = gb_op2(g, "MatMul", 13, "mm", x, gb_init_copy(g, "w", DT_DOUBLE, 2, (int64_t[]){MM_K, MM_N}, w));
    Node *sm = gb_node(g, "Softmax", 13, "sm", 1, &mm, 1);
    gb_set_int(sm, "axis", -1);
    gb_append_output(g, sm->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, MM_B, 1);
    pc_expect_output(p, 0, DT_DOUBLE, 3, (int64_t[]){MM_B, MM_M, MM_N});
    double *xin = plan_input(p, 0), want[MM_B * MM_M * MM_N];
    for (int i = 0; i < MM_B * MM_M * MM_K; i++)
        xin[i] = gb_frand() + 1e-4 / 7.0;
    matmul_softmax_reference(xin, w, want);
    pc_forward(p);
    const double *got = plan_output(p, 0);
    for (int i = 0; i < MM_B * MM_M * MM_N; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-6 * fabs(want[i])))
            fail_msg("element %d: got %.12g, expected %.12g", i, got[i], want[i]);
    plan_free(p);
    model_free(m);
}

/* ---- bfloat16 Gemm ---- */

static void test_bfloat16_gemm(void **state)
{
    (void)state;
    enum { N = 3, K = 6, M = 4 };
    float a[N * K], b[M * K], c[M];
    gb_fill_random(a, N * K, -1, 1);
    gb_fill_random(b, M * K, -1, 1);
    gb_fill_random(c, M, -1, 1);
    round_to(DT_BFLOAT16, a, N * K);
    round_to(DT_BFLOAT16, b, M * K);
    round_to(DT_BFLOAT16, c, M);
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "a", DT_BFLOAT16, 2, (int64_t[]){N, K});
    Node *gemm = gb_node(g, "Gemm", 13, "gemm", 3,
                         (Value *[]){x, typed_init(g, "b", DT_BFLOAT16, 2, (int64_t[]){M, K}, b),
                                     typed_init(g, "c", DT_BFLOAT16, 1, (int64_t[]){M}, c)},
                         1);
    gb_set_int(gemm, "transB", 1);
    gb_set_float(gemm, "alpha", 0.5f);
    gb_append_output(g, gemm->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 1);
    pc_expect_output(p, 0, DT_BFLOAT16, 2, (int64_t[]){N, M});
    k_convert(KE_FLOAT, a, KE_BFLOAT16, plan_input(p, 0), N * K);
    pc_forward(p);
    float got[N * M];
    double want[N * M];
    k_convert(KE_BFLOAT16, plan_output(p, 0), KE_FLOAT, got, N * M);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)a[i * K + k] * b[j * K + k];
            want[i * M + j] = 0.5 * acc + c[j];
        }
    pc_expect_close(got, want, N * M, 1e-2); /* bfloat16 keeps 8 significant bits */
    plan_free(p);
    model_free(m);
}

/* ---- a float-only op on constants is evaluated at build time ---- */

static void test_fp16_constant_step_folds(void **state)
{
    (void)state;
    const float v[4] = {-1.5f, 0.25f, 2.0f, -0.125f};
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT16, 1, (int64_t[]){4});
    Value *r = gb_op1(g, "Relu", 14, "relu", typed_init(g, "k", DT_FLOAT16, 1, (int64_t[]){4}, v));
    gb_append_output(g, gb_op2(g, "Add", 14, "add", x, r));
    gb_append_output(g, r);
    Plan *p = pc_build(g, PLAN_INFERENCE, 4, 1);
    assert_true(p->steps[0].edge_out[0]->is_const);
    k_convert(KE_FLOAT, (const float[]){1, 2, 3, 4}, KE_FLOAT16, plan_input(p, 0), 4);
    pc_forward(p);
    float got[4], sum[4];
    k_convert(KE_FLOAT16, plan_output(p, 1), KE_FLOAT, got, 4);
    k_convert(KE_FLOAT16, plan_output(p, 0), KE_FLOAT, sum, 4);
    const float want[4] = {0, 0.25f, 2.0f, 0}, want_sum[4] = {1, 2.25f, 5, 4};
    assert_memory_equal(got, want, sizeof want);
    assert_memory_equal(sum, want_sum, sizeof want_sum);
    plan_free(p);
    model_free(m);
}

/* ---- training refuses float16 parameters ---- */

static void test_training_refuses_fp16_params(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Value *y = gb_op2(g, "MatMul", 13, "mm", x, gb_init(g, "w", DT_FLOAT16, 2, (int64_t[]){3, 2}));
    gb_append_output(g, y);
    pc_expect_batch_build_error(g, PLAN_TRAINING, 2,
                                "node 'mm' (MatMul): parameter 'w' has type float16; training computes float "
                                "parameters only (convert the model to float first)");
    model_free(m);
}

int main(void)
{
    gb_rng_seed(42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_cnn_matches_float),
        cmocka_unit_test(test_double_matmul_softmax),
        cmocka_unit_test(test_bfloat16_gemm),
        cmocka_unit_test(test_fp16_constant_step_folds),
        cmocka_unit_test(test_training_refuses_fp16_params),
    };
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
