/* infer_check.h - what the shape-inference tests share: compact shape specs
 * ("N,3,32,32": a name is a symbol, ? an unknown dim, "" a scalar, * an
 * unknown rank), graph building around one node, and checks of inferred
 * dtypes, shapes and error messages. Include once per test program. */
#ifndef KDC_TEST_INFER_CHECK_H
#define KDC_TEST_INFER_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ops.h"
#include "passes/passes.h"
#include "tests/unit/graph_build.h"

/* ---- shape specs ---- */

static Shape parse_shape(Arena *a, const char *spec)
{
    Shape s = {.rank = 0};
    if (!strcmp(spec, "*"))
        return (Shape){.rank = -1};
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        Dim *d = &s.dims[s.rank++];
        if (*p == '?')
            *d = (Dim){-1, NULL};
        else if ((*p >= '0' && *p <= '9') || *p == '-')
            *d = (Dim){strtoll(p, NULL, 10), NULL};
        else
            *d = (Dim){-1, arena_strndup(a, p, len)};
        p += len + (p[len] == ',');
    }
    return s;
}

static const char *shape_spec(const Shape *s)
{
    static char buf[256];
    size_t k = 0;
    buf[0] = '\0';
    if (s->rank < 0)
        return "*";
    for (int i = 0; i < s->rank; i++) {
        const Dim *d = &s->dims[i];
        const char *sep = i ? "," : "";
        if (d->value >= 0)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%lld", sep, (long long)d->value);
        else
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", sep, d->param ? d->param : "?");
    }
    return buf;
}

/* ---- graph building ---- */

static Value *input(Graph *g, const char *name, DType dt, const char *spec)
{
    return gb_input_shaped(g, name, dt, parse_shape(g->arena, spec));
}

static Value *weight(Graph *g, const char *name, const char *spec)
{
    Shape s = parse_shape(g->arena, spec);
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < s.rank; i++)
        dims[i] = s.dims[i].value;
    return gb_init(g, name, DT_FLOAT, s.rank, dims);
}

/* ---- checks ---- */

static void run_infer(Graph *g)
{
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d))
        fail_msg("infer: %s", d.msg);
}

static void expect_typed(const Value *v, DType dt, const char *spec)
{
    if (v->kind != TYPE_TENSOR)
        fail_msg("%s: no type", v->name);
    if (v->dtype != dt)
        fail_msg("%s: dtype %s, expected %s", v->name, dtype_name(v->dtype), dtype_name(dt));
    if (strcmp(shape_spec(&v->shape), spec))
        fail_msg("%s: shape [%s], expected [%s]", v->name, shape_spec(&v->shape), spec);
}

static void expect_f(const Value *v, const char *spec)
{
    expect_typed(v, DT_FLOAT, spec);
}

static void expect_infer_error(Model *m, const char *want)
{
    Diag d = {{0}};
    assert_int_equal(pass_infer_shapes(m->graph, &d), KDC_ERR);
    if (strcmp(d.msg, want))
        fail_msg("message '%s', expected '%s'", d.msg, want);
    model_free(m);
}

#endif
