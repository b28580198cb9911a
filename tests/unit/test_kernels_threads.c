/* test_kernels_threads.c - the worker pool behind the kernels.
 *
 * Every item runs exactly once on the thread the static split promises,
 * nested loops run inline, KDC_THREADS is honoured and validated, and the
 * pool survives many small loops and being restarted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/threads.h"

enum { ITEMS = 1001 };

typedef struct Visits {
    int count[ITEMS];
    int thread[ITEMS];
    int nested_thread[ITEMS];
} Visits;

static void visit(void *ctx, int item, int thread)
{
    Visits *v = ctx;
    v->count[item]++;
    v->thread[item] = thread;
}

static void test_every_item_once_static_split(void **state)
{
    (void)state;
    Diag d;
    Visits *v = calloc(1, sizeof *v);
    assert_int_equal(threads_count(), 1);
    assert_int_equal(threads_init(3, &d), KDC_OK);
    assert_int_equal(threads_count(), 3);
    threads_parallel_for(ITEMS, visit, v);
    for (int i = 0; i < ITEMS; i++) {
        assert_int_equal(v->count[i], 1);
        int expect = 0;
        while ((int64_t)ITEMS * (expect + 1) / 3 <= i)
            expect++;
        assert_int_equal(v->thread[i], expect);
    }
    threads_parallel_for(0, visit, v);
    threads_shutdown();
    assert_int_equal(threads_count(), 1);
    threads_parallel_for(ITEMS, visit, v);
    for (int i = 0; i < ITEMS; i++) {
        assert_int_equal(v->count[i], 2);
        assert_int_equal(v->thread[i], 0);
    }
    free(v);
}

static void nested_inner(void *ctx, int item, int thread)
{
    Visits *v = ctx;
    v->nested_thread[item] = thread;
}

typedef struct NestedCtx {
    Visits v[4];
    int outer_thread[4];
} NestedCtx;

static void nested_outer(void *ctx, int item, int thread)
{
    NestedCtx *n = ctx;
    n->outer_thread[item] = thread;
    threads_parallel_for(ITEMS, nested_inner, &n->v[item]);
}

static void test_nested_loops_run_inline(void **state)
{
    (void)state;
    Diag d;
    NestedCtx *n = calloc(1, sizeof *n);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    threads_parallel_for(4, nested_outer, n);
    threads_shutdown();
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < ITEMS; i++)
            assert_int_equal(n->v[o].nested_thread[i], n->outer_thread[o]);
    free(n);
}

static void count_item(void *ctx, int item, int thread)
{
    (void)thread;
    ((int *)ctx)[item]++;
}

static void test_many_small_loops_and_restarts(void **state)
{
    (void)state;
    Diag d;
    int counts[5] = {0};
    for (int round = 0; round < 3; round++) {
        assert_int_equal(threads_init(round + 2, &d), KDC_OK);
        for (int i = 0; i < 3000; i++)
            threads_parallel_for(5, count_item, counts);
    }
    threads_shutdown();
    for (int i = 0; i < 5; i++)
        assert_int_equal(counts[i], 9000);
}

static void test_kdc_threads_environment(void **state)
{
    (void)state;
    Diag d;
    setenv("KDC_THREADS", "3", 1);
    assert_int_equal(threads_init(0, &d), KDC_OK);
    assert_int_equal(threads_count(), 3);
    setenv("KDC_THREADS", "many", 1);
    assert_int_equal(threads_init(0, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "KDC_THREADS"));
    assert_int_equal(threads_count(), 3); /* a failed init leaves the pool alone */
    setenv("KDC_THREADS", "0", 1);
    assert_int_equal(threads_init(-1, &d), KDC_ERR);
    unsetenv("KDC_THREADS");
    assert_int_equal(threads_init(0, &d), KDC_OK);
    assert_int_equal(threads_count(), 2);
    assert_int_equal(threads_init(THREADS_MAX + 1, &d), KDC_ERR);
    threads_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once_static_split),
        cmocka_unit_test(test_nested_loops_run_inline),
        cmocka_unit_test(test_many_small_loops_and_restarts),
        cmocka_unit_test(test_kdc_threads_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
