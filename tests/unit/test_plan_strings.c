/* test_plan_strings.c - string tensors through execution plans
 * (runtime/op_cast.c, op_string.c, plan_layout.c, ir/infer_misc.c).
 *
 * Graph inputs of strings are bound as Bytes entries pointing at text the
 * test owns; outputs are compared as text. Covered: Cast from float, double,
 * float16, integers and bools to strings in NumPy's spelling (shortest
 * round-trip digits, positional or scientific, inf/nan, -0.0); Cast from
 * strings to float, double, float16, int64, uint64 and int8 (INF/NaN in any
 * case, spaces, "100.5" truncated) and the one-line error on text that is
 * not a number; CastLike both ways; a string-to-string Cast and a Reshape
 * of strings as views; StringNormalizer without stop words and with stop
 * words planned at run time (refused), its case changes, a second run on
 * longer text (the pool grows) and non-ASCII text, and with stop words on
 * a bound input; string initializers and text of build-time constants; the
 * buffers of string values (room for the entries, reuse without overlap),
 * and ops that are handed strings they cannot move failing with one line at
 * build time.
 * Under ASan every run also checks that nothing leaks or dangles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "tests/unit/plan_check.h"

/* ---- helpers ---- */

static Plan *build(Graph *g, const Shape *shapes)
{
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

static Value *text_input(Graph *g, const char *name, int64_t n)
{
    return gb_input(g, name, DT_STRING, 1, (int64_t[]){n});
}

static Value *cast_to(Graph *g, const char *name, Value *x, DType to)
{
    Node *c = gb_node(g, "Cast", 13, name, 1, &x, 1);
    gb_set_int(c, "to", to);
    return c->outputs[0];
}

/* Input k's entries point at the test's text (alive until the plan is freed). */
static void set_texts(Plan *p, int k, const char *const *texts, int n)
{
    Bytes *in = plan_input(p, k);
    for (int i = 0; i < n; i++)
        in[i] = (Bytes){(const uint8_t *)texts[i], strlen(texts[i])};
}

static void expect_texts(const Plan *p, int k, const char *const *want, int n)
{
    pc_expect_output(p, k, DT_STRING, 1, (int64_t[]){n});
    const Bytes *y = plan_output(p, k);
    for (int i = 0; i < n; i++)
        if (y[i].len != strlen(want[i]) || (y[i].len && memcmp(y[i].data, want[i], y[i].len)))
            fail_msg("output %d[%d]: got \"%.*s\", want \"%s\"", k, i, (int)y[i].len, (const char *)y[i].data, want[i]);
}

static void expect_forward_error(Plan *p, const char *want)
{
    Diag d = {{0}};
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    if (strcmp(d.msg, want))
        fail_msg("message '%s', expected '%s'", d.msg, want);
}

static Shape vec(int64_t n)
{
    return shape_from_dims(1, (int64_t[]){n});
}

/* ---- numbers to text ---- */

static void test_cast_float_to_text(void **state)
{
    (void)state;
    static const float x[] = {0.9767611f, 0.039187793f, 1e-5f, 1e-4f, 0.0001234f, 100.0f,   123456789.0f, 1e16f,
                              1.5e20f,    0.0f,         -0.0f, -2.5f, 1e-45f,     INFINITY, -INFINITY,    NAN};
    static const char *const want[] = {"0.9767611",   "0.039187793", "1e-05",   "1e-04", "0.0001234", "100.0",
                                       "123456790.0", "1e+16",       "1.5e+20", "0.0",   "-0.0",      "-2.5",
                                       "1e-45",       "inf",         "-inf",    "nan"};
    enum { N = sizeof x / sizeof x[0] };
    Model *m = model_new();
    Graph *g = m->graph;
    gb_append_output(g, cast_to(g, "c", gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){N}), DT_STRING));
    Shape s = vec(N);
    Plan *p = build(g, &s);
    memcpy(plan_input(p, 0), x, sizeof x);
    pc_forward(p);
    expect_texts(p, 0, want, N);
    pc_forward(p); /* a second run rewrites the same pool */
    expect_texts(p, 0, want, N);
    plan_free(p);
    model_free(m);
}

/* double, float16 (1.0, 65504, 0.1), int64, uint64, int8, bool. */
static void test_cast_other_types_to_text(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const DType types[] = {DT_DOUBLE, DT_FLOAT16, DT_INT64, DT_UINT64, DT_INT8, DT_BOOL};
    for (int k = 0; k < 6; k++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", k);
        Value *x = gb_input(g, name, types[k], 1, (int64_t[]){3});
        snprintf(name, sizeof name, "c%d", k);
        gb_append_output(g, cast_to(g, name, x, DT_STRING));
    }
    Shape s[6];
    for (int k = 0; k < 6; k++)
        s[k] = vec(3);
    Plan *p = build(g, s);
    memcpy(plan_input(p, 0), (double[]){0.1 + 0.2, 1e100, -5e-324}, 3 * sizeof(double));
    memcpy(plan_input(p, 1), (uint16_t[]){0x3c00, 0x7bff, 0x2e66}, 3 * sizeof(uint16_t));
    memcpy(plan_input(p, 2), (int64_t[]){INT64_MIN, 0, 42}, 3 * sizeof(int64_t));
    memcpy(plan_input(p, 3), (uint64_t[]){UINT64_MAX, 7, 0}, 3 * sizeof(uint64_t));
    memcpy(plan_input(p, 4), (int8_t[]){-128, 127, -1}, 3);
    memcpy(plan_input(p, 5), (uint8_t[]){1, 0, 1}, 3);
    pc_forward(p);
    expect_texts(p, 0, (const char *[]){"0.30000000000000004", "1e+100", "-5e-324"}, 3);
    expect_texts(p, 1, (const char *[]){"1.0", "65500.0", "0.1"}, 3);
    expect_texts(p, 2, (const char *[]){"-9223372036854775808", "0", "42"}, 3);
    expect_texts(p, 3, (const char *[]){"18446744073709551615", "7", "0"}, 3);
    expect_texts(p, 4, (const char *[]){"-128", "127", "-1"}, 3);
    expect_texts(p, 5, (const char *[]){"True", "False", "True"}, 3);
    plan_free(p);
    model_free(m);
}

/* ---- text to numbers ---- */

static void test_cast_text_to_numbers(void **state)
{
    (void)state;
    static const char *const reals[] = {"0.47892547", "NaN", "INF", "+INF", "-INF", "-inf", " 2.5 ", "1E8"};
    static const char *const ints[] = {"100", "-7", "100.5", "1e3", "-2.9", "0"};
    enum { NR = 8, NI = 6 };
    Model *m = model_new();
    Graph *g = m->graph;
    Value *r = text_input(g, "r", NR), *i = text_input(g, "i", NI);
    gb_append_output(g, cast_to(g, "f", r, DT_FLOAT));
    gb_append_output(g, cast_to(g, "dbl", r, DT_DOUBLE));
    gb_append_output(g, cast_to(g, "h", r, DT_FLOAT16));
    gb_append_output(g, cast_to(g, "l", i, DT_INT64));
    gb_append_output(g, cast_to(g, "b", i, DT_INT8));
    gb_append_output(g, cast_to(g, "u", text_input(g, "u", 1), DT_UINT64));
    Shape s[3] = {vec(NR), vec(NI), vec(1)};
    Plan *p = build(g, s);
    set_texts(p, 0, reals, NR);
    set_texts(p, 1, ints, NI);
    set_texts(p, 2, (const char *[]){"18446744073709551615"}, 1);
    pc_forward(p);
    const float *f = plan_output(p, 0);
    const double *dv = plan_output(p, 1);
    const uint16_t *h = plan_output(p, 2);
    assert_true(f[0] == 0.47892547f && isnan(f[1]) && f[2] == INFINITY && f[3] == INFINITY);
    assert_true(f[4] == -INFINITY && f[5] == -INFINITY && f[6] == 2.5f && f[7] == 1e8f);
    assert_true(dv[0] == 0.47892547 && isnan(dv[1]) && dv[3] == INFINITY && dv[7] == 1e8);
    assert_true(h[6] == 0x4100 && h[2] == 0x7c00 && h[4] == 0xfc00); /* 2.5, inf, -inf */
    const int64_t *l = plan_output(p, 3);
    const int8_t *b = plan_output(p, 4);
    assert_true(l[0] == 100 && l[1] == -7 && l[2] == 100 && l[3] == 1000 && l[4] == -2 && l[5] == 0);
    assert_true(b[0] == 100 && b[1] == -7 && b[4] == -2);
    assert_true(*(const uint64_t *)plan_output(p, 5) == UINT64_MAX);
    set_texts(p, 0, (const char *[]){"0.5", "hello", "1", "1", "1", "1", "1", "1"}, NR);
    expect_forward_error(p, "node 'f' (Cast): element 1 (\"hello\") is not a number");
    set_texts(p, 0, (const char *[]){"0.5", "", "1", "1", "1", "1", "1", "1"}, NR);
    expect_forward_error(p, "node 'f' (Cast): element 1 (\"\") is not a number");
    plan_free(p);
    model_free(m);
}

/* CastLike both ways, Cast string -> string and Reshape of strings as views. */
static void test_castlike_and_views(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4}), *t = gb_input(g, "t", DT_STRING, 2, (int64_t[]){2, 2});
    gb_append_output(g, gb_op2(g, "CastLike", 15, "to_text", x, t));
    Value *flat = gb_op2(g, "Reshape", 13, "flat", t, gb_ints(g, "shape", 1, (int64_t[]){4}));
    gb_append_output(g, gb_op2(g, "CastLike", 15, "to_float", flat, x));
    Value *same = cast_to(g, "same", flat, DT_STRING);
    gb_append_output(g, same);
    Shape s[2] = {vec(4), shape_from_dims(2, (int64_t[]){2, 2})};
    Plan *p = build(g, s);
    memcpy(plan_input(p, 0), (float[]){0.5f, -1.0f, 3e-7f, 65504.0f}, 4 * sizeof(float));
    set_texts(p, 1, (const char *[]){"1.25", "-3", "nan", "7e-3"}, 4);
    pc_forward(p);
    expect_texts(p, 0, (const char *[]){"0.5", "-1.0", "3e-07", "65504.0"}, 4);
    const float *y = plan_output(p, 1);
    assert_true(y[0] == 1.25f && y[1] == -3.0f && isnan(y[2]) && y[3] == 7e-3f);
    assert_ptr_equal(plan_output(p, 2), plan_input(p, 1));
    expect_texts(p, 2, (const char *[]){"1.25", "-3", "nan", "7e-3"}, 4);
    plan_free(p);
    model_free(m);
}

/* ---- StringNormalizer ---- */

static Node *normalizer(Graph *g, const char *name, Value *x, const char *change, int n_stops, const char *const *stops)
{
    Node *n = gb_node(g, "StringNormalizer", 10, name, 1, &x, 1);
    gb_set_str(n, "case_change_action", change);
    if (n_stops) {
        Attr *a = node_add_attr(n, "stopwords", ATTR_STRINGS);
        a->n = n_stops;
        a->strings = arena_alloc(g->arena, (size_t)n_stops * sizeof *a->strings);
        for (int k = 0; k < n_stops; k++)
            a->strings[k] = (Bytes){(const uint8_t *)stops[k], strlen(stops[k])};
    }
    return n;
}

static void test_string_normalizer(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = text_input(g, "x", 3);
    gb_append_output(g, normalizer(g, "up", x, "UPPER", 0, NULL)->outputs[0]);
    gb_append_output(g, normalizer(g, "low", x, "LOWER", 0, NULL)->outputs[0]);
    Shape s = vec(3);
    Plan *p = build(g, &s);
    set_texts(p, 0, (const char *[]){"Monday", "", "tuesday 2"}, 3);
    pc_forward(p);
    expect_texts(p, 0, (const char *[]){"MONDAY", "", "TUESDAY 2"}, 3);
    expect_texts(p, 1, (const char *[]){"monday", "", "tuesday 2"}, 3);
    /* longer text than the first run: the pool grows, the entries follow it */
    set_texts(p, 0, (const char *[]){"a much longer piece of text", "Wednesday, Thursday and Friday", "x"}, 3);
    pc_forward(p);
    expect_texts(p, 0, (const char *[]){"A MUCH LONGER PIECE OF TEXT", "WEDNESDAY, THURSDAY AND FRIDAY", "X"}, 3);
    set_texts(p, 0, (const char *[]){"caf\xc3\xa9", "a", "b"}, 3);
    expect_forward_error(p, "node 'up' (StringNormalizer): element 0 is not ASCII; kdc changes and matches the case "
                            "of ASCII letters only");
    plan_free(p);
    model_free(m);

    m = model_new(); /* with stop words, the size of the output needs the input's value */
    g = m->graph;
    x = text_input(g, "x", 4);
    gb_append_output(g, normalizer(g, "stop", x, "NONE", 1, (const char *[]){"monday"})->outputs[0]);
    s = vec(4);
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'stop' (StringNormalizer): output 'stop_out' has no concrete shape (an input that "
                          "decides it is computed at run time, which kdc does not support yet)");
    model_free(m);
}

/* ---- buffers and refusals ---- */

/* A chain of string and float values: string buffers hold their entries and
 * are reused without overlapping live ones. */
static void test_string_buffers(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){64});
    Value *a = cast_to(g, "a", cast_to(g, "a_text", x, DT_STRING), DT_FLOAT);
    Value *b = cast_to(g, "b", cast_to(g, "b_text", gb_op2(g, "Add", 14, "sum", a, x), DT_STRING), DT_DOUBLE);
    gb_append_output(g, b);
    Shape s = vec(64);
    Plan *p = build(g, &s);
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].dtype == DT_STRING)
            assert_true(p->tensors[i].bytes >= 64 * sizeof(Bytes));
    pc_check_no_live_overlap(p);
    const float *xv = pc_fill_input(p, 0, -100, 100);
    pc_forward(p);
    const double *y = plan_output(p, 0);
    for (int i = 0; i < 64; i++)
        assert_true((float)y[i] == xv[i] + xv[i]); /* float text reads back as the same float */
    plan_free(p);
    model_free(m);
}

static void expect_text_refused(const char *op, int opset, DType second, const char *want)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *t = text_input(g, "t", 4);
    Value *k = second == DT_INT64 ? gb_ints(g, "k", 1, (int64_t[]){0}) : text_input(g, "u", 4);
    gb_append_output(g, gb_op2(g, op, opset, "op", t, k));
    Shape s[2] = {vec(4), vec(4)};
    pc_expect_build_error(g, PLAN_INFERENCE, s, want);
    model_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_text_refused("Gather", 13, DT_INT64, "node 'op' (Gather): string data is not computed");
    expect_text_refused("Concat", 13, DT_STRING, "node 'op' (Concat): inputs must share one computable type");
    expect_text_refused("Add", 14, DT_STRING, "node 'op' (Add): input 0 has type string, which kdc does not compute");

    Model *m = model_new();
    Graph *g = m->graph;
    gb_append_output(g, cast_to(g, "c", text_input(g, "t", 2), DT_BOOL));
    Shape s = vec(2);
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'c' (Cast): cast from string to bool is not computed (the spec leaves it undefined)");
    model_free(m);
}

/* ---- values known at build time ---- */

/* A string initializer read through a view, and the text of an int64
 * initializer: both computed at build time into plan-owned storage. */
static void test_build_time_strings(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *w = gb_init(g, "w", DT_STRING, 2, (int64_t[]){1, 2});
    w->init->strings[0] = (Bytes){(const uint8_t *)"1.5", 3};
    w->init->strings[1] = (Bytes){(const uint8_t *)"-INF", 4};
    Value *flat = gb_op2(g, "Reshape", 13, "flat", w, gb_ints(g, "shape", 1, (int64_t[]){2}));
    gb_append_output(g, cast_to(g, "c", flat, DT_FLOAT));
    Value *text = cast_to(g, "t", gb_ints(g, "k", 2, (int64_t[]){-12, 345}), DT_STRING);
    gb_append_output(g, gb_op1(g, "Identity", 13, "same", text));
    Plan *p = build(g, NULL);
    pc_forward(p);
    const float *y = plan_output(p, 0);
    assert_true(y[0] == 1.5f && y[1] == -INFINITY);
    expect_texts(p, 1, (const char *[]){"-12", "345"}, 2);
    plan_free(p);
    model_free(m);
}

/* With stop words the output size comes from the input's value: the plan is
 * built for the bound value, which it copies. */
static void test_string_normalizer_bound(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_STRING, 2, (int64_t[]){1, 6});
    gb_append_output(g, normalizer(g, "n", x, "UPPER", 1, (const char *[]){"monday"})->outputs[0]);
    static const char *const days[] = {"Monday", "tuesday", "wednesday", "MONDAY", "tuesday", "wednesday"};
    Tensor *value = tensor_new(g->arena, DT_STRING, 2, (int64_t[]){1, 6});
    for (int i = 0; i < 6; i++)
        value->strings[i] = (Bytes){(const uint8_t *)days[i], strlen(days[i])};
    Shape s = shape_from_dims(2, (int64_t[]){1, 6});
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_build_with_values(g, PLAN_INFERENCE, &s, (const Tensor *const[]){value}, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    assert_true(plan_inputs_bound(p));
    value->strings[0] = (Bytes){(const uint8_t *)"changed", 7}; /* the plan keeps its own copy */
    pc_forward(p);
    pc_expect_output(p, 0, DT_STRING, 2, (int64_t[]){1, 4});
    const Bytes *y = plan_output(p, 0);
    static const char *const want[] = {"TUESDAY", "WEDNESDAY", "TUESDAY", "WEDNESDAY"};
    for (int i = 0; i < 4; i++)
        assert_true(y[i].len == strlen(want[i]) && !memcmp(y[i].data, want[i], y[i].len));
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cast_float_to_text),
        cmocka_unit_test(test_cast_other_types_to_text),
        cmocka_unit_test(test_cast_text_to_numbers),
        cmocka_unit_test(test_castlike_and_views),
        cmocka_unit_test(test_string_normalizer),
        cmocka_unit_test(test_string_buffers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_build_time_strings),
        cmocka_unit_test(test_string_normalizer_bound),
    };
    gb_rng_seed(41);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
