/* compare.c - how the conformance runner (runner.c) compares what a plan
 * computed with an output_K.pb: floats within |got - want| <= ATOL + RTOL *
 * |want| (NaN equals NaN), integers, bools and strings exact, sequences
 * element by element and optionals by presence, each mismatch one line
 * naming the output (and the element).
 */
#include "tests/conformance/compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/container.h"

#define RTOL 1e-3
#define ATOL 1e-5

/* ---- element access for the comparison ---- */

static float half_to_float(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float sign = (h & 0x8000) ? -1.0f : 1.0f;
    if (exp == 0)
        return sign * ldexpf((float)mant, -24);
    if (exp == 31)
        return mant ? NAN : sign * INFINITY;
    return sign * ldexpf((float)(mant | 0x400), exp - 25);
}

static bool dtype_is_floating(DType t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16 || t == DT_COMPLEX64 ||
           t == DT_COMPLEX128;
}

/* Scalar i of a floating tensor; complex tensors count two scalars per element. */
static double scalar_at(DType t, const void *data, int64_t i)
{
    switch (t) {
    case DT_FLOAT:
    case DT_COMPLEX64:
        return ((const float *)data)[i];
    case DT_DOUBLE:
    case DT_COMPLEX128:
        return ((const double *)data)[i];
    case DT_FLOAT16:
        return half_to_float(((const uint16_t *)data)[i]);
    case DT_BFLOAT16: {
        uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    default:
        return NAN;
    }
}

static void format_int_at(DType t, const void *data, int64_t i, char *buf, size_t n)
{
    Tensor view = {.dtype = t, .rank = 1, .dims = {i + 1}, .data = (void *)data};
    if (t == DT_UINT64)
        snprintf(buf, n, "%llu", (unsigned long long)((const uint64_t *)data)[i]);
    else
        snprintf(buf, n, "%lld", (long long)tensor_get_int(&view, i));
}

/* The ONNX 1.12 test data stores bfloat16 tensors as their uint16 bits
 * (data_type UINT16); kdc's bfloat16 is the same bits. */
bool same_bits(DType file, DType model)
{
    return file == model || (file == DT_UINT16 && model == DT_BFLOAT16);
}

static void format_dims(int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

/* ---- comparing one output ---- */

static Status compare_floats(const char *label, DType t, const void *got, const void *want, int64_t n, Diag *d)
{
    int64_t bad = 0, worst = -1;
    double worst_diff = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = scalar_at(t, got, i), b = scalar_at(t, want, i);
        /* an infinity matches only itself: inf <= atol + rtol * inf would pass anything */
        if (a == b || (isnan(a) && isnan(b)) || (isfinite(b) && fabs(a - b) <= ATOL + RTOL * fabs(b)))
            continue;
        double diff = isnan(a - b) ? INFINITY : fabs(a - b);
        bad++;
        if (diff > worst_diff)
            worst_diff = diff, worst = i;
    }
    if (!bad)
        return KDC_OK;
    return diag_error(d, "%s: %lld of %lld values differ, max abs diff %.6g at index %lld (got %.9g, want %.9g)",
                      label, (long long)bad, (long long)n, worst_diff, (long long)worst,
                      scalar_at(t, got, worst), scalar_at(t, want, worst));
}

static Status compare_exact(const char *label, DType t, const uint8_t *got, const uint8_t *want, int64_t n, Diag *d)
{
    size_t es = dtype_size(t);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        bool same = t == DT_BOOL ? (got[i] != 0) == (want[i] != 0) : !memcmp(got + i * es, want + i * es, es);
        if (!same && !bad++)
            first = i;
    }
    if (!bad)
        return KDC_OK;
    char g[32], w[32];
    format_int_at(t, got, first, g, sizeof g);
    format_int_at(t, want, first, w, sizeof w);
    return diag_error(d, "%s: %lld of %lld values differ, first at index %lld (got %s, want %s)", label,
                      (long long)bad, (long long)n, (long long)first, g, w);
}

/* At most `max` characters of s for a message, other bytes than printable
 * ASCII shown as '?' (a Diag is one line). */
static void format_text(Bytes s, char *buf, size_t max)
{
    size_t n = s.len < max - 4 ? s.len : max - 4;
    for (size_t i = 0; i < n; i++)
        buf[i] = s.data[i] >= 0x20 && s.data[i] < 0x7f ? (char)s.data[i] : '?';
    snprintf(buf + n, max - n, "%s", s.len > n ? "..." : "");
}

static bool same_text(Bytes a, Bytes b)
{
    return a.len == b.len && (!a.len || !memcmp(a.data, b.data, a.len));
}

static Status compare_strings(const char *label, const Bytes *got, const Bytes *want, int64_t n, Diag *d)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!same_text(got[i], want[i]) && !bad++)
            first = i;
    if (!bad)
        return KDC_OK;
    char g[64], w[64];
    format_text(got[first], g, sizeof g);
    format_text(want[first], w, sizeof w);
    return diag_error(d, "%s: %lld of %lld strings differ, first at index %lld (got \"%s\", want \"%s\")", label,
                      (long long)bad, (long long)n, (long long)first, g, w);
}

/* Compares got (the data, or Bytes entries for strings) of a dtype dt, dims
 * tensor with want; label names it in messages: "output 0 'y'",
 * "output 0 'seq' element 2". */
static Status compare_tensor(const char *label, DType dt, int rank, const int64_t *dims, const void *got,
                             const Tensor *want, Diag *d)
{
    if (!same_bits(want->dtype, dt))
        return diag_error(d, "%s: got dtype %s, want %s", label, dtype_name(dt), dtype_name(want->dtype));
    bool same_shape = rank == want->rank;
    for (int i = 0; i < rank && i < IR_MAX_RANK; i++)
        same_shape = same_shape && dims[i] == want->dims[i];
    if (!same_shape) {
        char g[160], w[160];
        format_dims(rank, dims, g, sizeof g);
        format_dims(want->rank, want->dims, w, sizeof w);
        return diag_error(d, "%s: got shape %s, want %s", label, g, w);
    }
    int64_t n = tensor_numel(want);
    if (dt == DT_STRING)
        return n && !got ? diag_error(d, "%s: no data to compare", label)
                         : compare_strings(label, got, want->strings, n, d);
    if (!dtype_size(dt))
        return diag_error(d, "%s: %s tensors are not compared (kdc computes numbers)", label, dtype_name(dt));
    if (n == 0)
        return KDC_OK;
    if (!got || want->nbytes != (size_t)n * dtype_size(dt))
        return diag_error(d, "%s: no data to compare", label);
    if (dtype_is_floating(dt))
        return compare_floats(label, dt, got, want->data, dt == DT_COMPLEX64 || dt == DT_COMPLEX128 ? 2 * n : n, d);
    return compare_exact(label, dt, got, want->data, n, d);
}

static Status compare_value(const char *label, const Tensor *got, const Tensor *want, Diag *d);

static Status compare_sequence(const char *label, const Tensor *got, const Tensor *want, Diag *d)
{
    if (got->n_items != want->n_items)
        return diag_error(d, "%s: got a sequence of %d tensors, want %d", label, got->n_items, want->n_items);
    for (int i = 0; i < got->n_items; i++) {
        char element[600];
        snprintf(element, sizeof element, "%s element %d", label, i);
        if (compare_value(element, &got->items[i], &want->items[i], d))
            return KDC_ERR;
    }
    return KDC_OK;
}

/* A value computed as a sequence, optional or sequence element against the
 * one read from the data set. */
static Status compare_value(const char *label, const Tensor *got, const Tensor *want, Diag *d)
{
    if (!got)
        return diag_error(d, "%s: no value to compare", label);
    if (got->holds != want->holds)
        return diag_error(d, "%s: got %s, want %s", label, holds_name(got->holds), holds_name(want->holds));
    if (got->holds == HOLDS_SEQUENCE)
        return compare_sequence(label, got, want, d);
    if (got->holds == HOLDS_TENSOR)
        return compare_tensor(label, got->dtype, got->rank, got->dims,
                              got->dtype == DT_STRING ? (const void *)got->strings : got->data, want, d);
    if (got->n_items != want->n_items) {
        char what[128];
        container_describe(got->n_items ? &got->items[0] : &want->items[0], what, sizeof what);
        return diag_error(d, got->n_items ? "%s: got an optional holding %s, want an empty one"
                                          : "%s: got an empty optional, want one holding %s",
                          label, what);
    }
    return got->n_items ? compare_value(label, &got->items[0], &want->items[0], d) : KDC_OK;
}

Status compare_output(const Plan *p, int k, const Value *gv, const Tensor *want, Diag *d)
{
    char label[512];
    snprintf(label, sizeof label, "output %d '%s'", k, gv->name);
    if (want->name && *want->name && strcmp(want->name, gv->name))
        return diag_error(d, "output %d: output_%d.pb is named '%s' but the graph's output %d is '%s'", k, k,
                          want->name, k, gv->name);
    Holds holds = plan_output_holds(p, k);
    if (holds != want->holds)
        return diag_error(d, "%s: got %s, want %s", label, holds_name(holds), holds_name(want->holds));
    if (holds != HOLDS_TENSOR)
        return compare_value(label, plan_output(p, k), want, d);
    DType dt;
    Shape s;
    plan_output_info(p, k, &dt, &s);
    int64_t dims[IR_MAX_RANK] = {0};
    for (int i = 0; i < s.rank && i < IR_MAX_RANK; i++)
        dims[i] = s.dims[i].value;
    return compare_tensor(label, dt, s.rank, dims, plan_output(p, k), want, d);
}
