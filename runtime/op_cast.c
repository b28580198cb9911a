/* op_cast.c - runtime entries of Cast and CastLike (15, 19), between every
 * numeric type kdc stores (float16/bfloat16 too) and to and from strings.
 *
 * A string value at run time is a buffer of numel Bytes entries {data, len}.
 * This file owns the characters its casts to string write: one pool per
 * step, TEXT_STRIDE bytes per element, allocated with the step's state at
 * prepare and freed with the plan, so the text of an output stays valid
 * until the step runs again. Casts from strings only read the entries; a
 * cast from strings to strings is a view.
 *
 * Numbers become text as the ONNX reference (NumPy's str) writes them: the
 * shortest digits that read back as the same value of the source type,
 * positional for 1e-4 <= |x| < 1e16 ("0.047892547", "100.0"), scientific
 * otherwise ("1e-05", "1.5e+20"), and "inf", "-inf", "nan"; integers in
 * decimal, bools as "True" / "False". Text becomes numbers with strtof /
 * strtod (so "INF", "+INF", "-inf", "NaN" in any case, "1E8"), integers with
 * strtoll / strtoull, falling back to a real truncated toward zero
 * ("100.5" -> 100); surrounding spaces are allowed, anything else is an
 * error naming the element. Strings do not become bools: the spec leaves
 * that undefined.
 *
 * Gradients: float to float only (exporters insert such casts).
 */
#include "runtime/kernels_misc.h"
#include "runtime/rt.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest text written: "-1.2345678901234567e-308" (24 chars). */
enum { TEXT_STRIDE = 32, PARSE_MAX = 128, QUOTE_MAX = 40 };

typedef enum { CAST_NUMBERS, CAST_TO_TEXT, CAST_FROM_TEXT } CastKind;

typedef struct CastState {
    CastKind kind;
    KElem from, to;
    char pool[]; /* CAST_TO_TEXT: TEXT_STRIDE chars per element */
} CastState;

/* ---- numbers to text ---- */

/* A positive value as decimal digits d[0].d[1]...d[n-1] x 10^exp. */
typedef struct Digits {
    char d[24];
    int n, exp;
} Digits;

/* |x| stored in its own type, to compare what the text reads back as. */
typedef struct Magnitude {
    KElem t;
    unsigned char bits[8];
} Magnitude;

static bool reads_back(const char *text, const Magnitude *m)
{
    if (m->t == KE_FLOAT) {
        float got = strtof(text, NULL), want;
        memcpy(&want, m->bits, sizeof want);
        return got == want;
    }
    double got = strtod(text, NULL);
    if (m->t == KE_DOUBLE) {
        double want;
        memcpy(&want, m->bits, sizeof want);
        return got == want;
    }
    uint16_t got_bits, want_bits; /* float16, bfloat16 */
    k_convert(KE_DOUBLE, &got, m->t, &got_bits, 1);
    memcpy(&want_bits, m->bits, sizeof want_bits);
    return got_bits == want_bits;
}

static void digits_text(const Digits *g, char *buf, size_t size)
{
    snprintf(buf, size, "%c.%.*se%d", g->d[0], g->n - 1, g->d + 1, g->exp);
}

static bool digits_read_back(const Digits *g, const Magnitude *m)
{
    char buf[48];
    digits_text(g, buf, sizeof buf);
    return reads_back(buf, m);
}

/* The p-digit decimal nearest to a (> 0), from printf's correct rounding. */
static void nearest_digits(double a, int p, Digits *g)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", p - 1, a);
    const char *c = buf;
    g->n = 0;
    for (; *c != 'e'; c++)
        if (*c != '.')
            g->d[g->n++] = *c;
    g->exp = atoi(c + 1);
}

/* The decimal one unit above g in its last digit (99 -> 100 raises exp). */
static void digits_next_up(Digits *g)
{
    int i = g->n - 1;
    while (i >= 0 && g->d[i] == '9')
        g->d[i--] = '0';
    if (i >= 0) {
        g->d[i]++;
        return;
    }
    g->d[0] = '1';
    g->exp++;
}

/* The fewest digits of a = |x| that read back as x, below 17. The nearest
 * p-digit decimal is tried first; at the bottom of a binade the values that
 * read back reach less far below than above, so there the next decimal up
 * may read back when the nearest (below) does not. */
static bool fewest_digits(double a, const Magnitude *m, Digits *g)
{
    for (int p = 1; p < 17; p++) {
        nearest_digits(a, p, g);
        if (digits_read_back(g, m))
            return true;
        Digits up = *g;
        digits_next_up(&up);
        if (digits_read_back(&up, m)) {
            *g = up;
            return true;
        }
    }
    return false;
}

/* Shortest digits of a = |x| that read back as x (17 always do). */
static void shortest_digits(double a, const Magnitude *m, Digits *g)
{
    if (!fewest_digits(a, m, g))
        nearest_digits(a, 17, g);
    while (g->n > 1 && g->d[g->n - 1] == '0')
        g->n--;
}

/* NumPy's layout of the digits: positional or d.ddde[+-]XX. */
static int digits_layout(const Digits *g, bool negative, bool positional, char *out)
{
    int k = 0;
    if (negative)
        out[k++] = '-';
    if (!positional) {
        out[k++] = g->d[0];
        if (g->n > 1)
            out[k++] = '.';
        for (int i = 1; i < g->n; i++)
            out[k++] = g->d[i];
        return k + snprintf(out + k, TEXT_STRIDE - (size_t)k, "e%c%02d", g->exp < 0 ? '-' : '+', abs(g->exp));
    }
    if (g->exp < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -g->exp - 1; i++)
            out[k++] = '0';
        for (int i = 0; i < g->n; i++)
            out[k++] = g->d[i];
        return k;
    }
    for (int i = 0; i <= g->exp; i++)
        out[k++] = i < g->n ? g->d[i] : '0';
    out[k++] = '.';
    if (g->n <= g->exp + 1)
        out[k++] = '0';
    for (int i = g->exp + 1; i < g->n; i++)
        out[k++] = g->d[i];
    return k;
}

/* Element i of x, a real of type t, as text in out; returns its length. */
static int real_text(KElem t, const void *x, int64_t i, char *out)
{
    double v = k_elem_get_double(t, x, i);
    if (isnan(v))
        return snprintf(out, TEXT_STRIDE, "nan");
    if (isinf(v))
        return snprintf(out, TEXT_STRIDE, v < 0 ? "-inf" : "inf");
    if (v == 0)
        return snprintf(out, TEXT_STRIDE, signbit(v) ? "-0.0" : "0.0");
    Magnitude m = {.t = t};
    double a = fabs(v);
    if (t == KE_FLOAT) {
        float f = (float)a;
        memcpy(m.bits, &f, sizeof f);
    } else if (t == KE_DOUBLE) {
        memcpy(m.bits, &a, sizeof a);
    } else {
        uint16_t bits = ((const uint16_t *)x)[i] & 0x7fffu;
        memcpy(m.bits, &bits, sizeof bits);
    }
    Digits g;
    shortest_digits(a, &m, &g);
    return digits_layout(&g, v < 0, a >= 1e-4 && a < 1e16, out);
}

static int number_text(KElem t, const void *x, int64_t i, char *out)
{
    if (t == KE_BOOL)
        return snprintf(out, TEXT_STRIDE, "%s", ((const uint8_t *)x)[i] ? "True" : "False");
    if (t == KE_UINT64)
        return snprintf(out, TEXT_STRIDE, "%llu", (unsigned long long)((const uint64_t *)x)[i]);
    if (k_elem_is_int(t))
        return snprintf(out, TEXT_STRIDE, "%lld", (long long)k_elem_get_int(t, x, i));
    return real_text(t, x, i, out);
}

static void cast_to_text(CastState *st, const void *x, Bytes *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        char *text = st->pool + (size_t)i * TEXT_STRIDE;
        int len = number_text(st->from, x, i, text);
        y[i] = (Bytes){(const uint8_t *)text, (size_t)len};
    }
}

/* ---- text to numbers ---- */

/* The text with surrounding spaces dropped, NUL-terminated in buf
 * (PARSE_MAX bytes); false when it is too long to be a number. */
static bool text_for_parse(Bytes s, char *buf)
{
    const uint8_t *c = s.data;
    size_t n = s.len;
    while (n && isspace(c[0]))
        c++, n--;
    while (n && isspace(c[n - 1]))
        n--;
    if (n >= PARSE_MAX)
        return false;
    if (n)
        memcpy(buf, c, n);
    buf[n] = 0;
    return true;
}

static Status not_a_number(const Step *s, int64_t i, Bytes text, Diag *d)
{
    char shown[QUOTE_MAX + 1];
    size_t n = text.len < QUOTE_MAX ? text.len : QUOTE_MAX;
    for (size_t k = 0; k < n; k++)
        shown[k] = isprint(text.data[k]) ? (char)text.data[k] : '?';
    shown[n] = 0;
    return rt_op_error(s, d, "element %lld (\"%s%s\") is not a number", (long long)i, shown,
                       text.len > QUOTE_MAX ? "..." : "");
}

static bool parse_real(const char *buf, double *v)
{
    char *end;
    *v = strtod(buf, &end);
    return end != buf && !*end;
}

/* An integer, or a real truncated toward zero and saturated ("100.5"). */
static bool parse_int(const char *buf, bool is_unsigned, uint64_t *bits)
{
    char *end;
    double v;
    if (is_unsigned)
        *bits = strtoull(buf, &end, 10);
    else
        *bits = (uint64_t)strtoll(buf, &end, 10);
    if (end != buf && !*end)
        return true;
    if (!parse_real(buf, &v))
        return false;
    KElem t = is_unsigned ? KE_UINT64 : KE_INT64;
    k_convert(KE_DOUBLE, &v, t, bits, 1);
    return true;
}

/* Types parsed into ws first: 16-bit reals (as double) and the integers
 * other than uint64 (as int64), then converted. */
static bool parses_via_ws(KElem to)
{
    return to != KE_FLOAT && to != KE_DOUBLE && to != KE_UINT64;
}

/* Parses element i into y (float, double, uint64) or the 8-byte slot i of ws. */
static bool parse_element(KElem to, const char *buf, int64_t i, void *y, void *ws)
{
    char *end;
    switch (to) {
    case KE_FLOAT: ((float *)y)[i] = strtof(buf, &end); return end != buf && !*end;
    case KE_DOUBLE: return parse_real(buf, &((double *)y)[i]);
    case KE_FLOAT16:
    case KE_BFLOAT16: return parse_real(buf, &((double *)ws)[i]);
    case KE_UINT64: return parse_int(buf, true, &((uint64_t *)y)[i]);
    default: return parse_int(buf, false, &((uint64_t *)ws)[i]);
    }
}

static Status cast_from_text(const Step *s, KElem to, const Bytes *x, void *y, int64_t n, void *ws, Diag *d)
{
    for (int64_t i = 0; i < n; i++) {
        char buf[PARSE_MAX];
        if (!text_for_parse(x[i], buf) || !parse_element(to, buf, i, y, ws))
            return not_a_number(s, i, x[i], d);
    }
    if (parses_via_ws(to))
        k_convert(to == KE_FLOAT16 || to == KE_BFLOAT16 ? KE_DOUBLE : KE_INT64, ws, to, y, n);
    return KDC_OK;
}

/* ---- the entries ---- */

/* Shared by Cast and CastLike: the output's dtype says what to cast to. */
static Status cast_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    DType from = s->in[0]->dtype, to = s->out[0]->dtype;
    if (from == DT_STRING && to == DT_STRING) {
        s->out[0]->alias_of = s->in[0];
        return KDC_OK;
    }
    CastKind kind = from == DT_STRING ? CAST_FROM_TEXT : to == DT_STRING ? CAST_TO_TEXT : CAST_NUMBERS;
    size_t pool = kind == CAST_TO_TEXT ? (size_t)s->out[0]->numel * TEXT_STRIDE : 0;
    CastState *st = rt_state_alloc(s, sizeof *st + pool, d);
    if (!st)
        return KDC_ERR;
    st->kind = kind;
    bool known = (from == DT_STRING || rt_kelem(from, &st->from)) && (to == DT_STRING || rt_kelem(to, &st->to));
    if (!known)
        return rt_op_error(s, d, "cast from %s to %s is not computed yet", dtype_name(from), dtype_name(to));
    if (kind == CAST_FROM_TEXT && st->to == KE_BOOL)
        return rt_op_error(s, d, "cast from string to bool is not computed (the spec leaves it undefined)");
    if (kind == CAST_FROM_TEXT && parses_via_ws(st->to))
        s->ws_floats = 2 * (size_t)s->out[0]->numel; /* 8 bytes per element */
    return KDC_OK;
}

static Status cast_forward(Step *s, Plan *p, Diag *d)
{
    CastState *st = s->state;
    int64_t n = s->out[0]->numel;
    if (!st) /* strings to strings: a view */
        return KDC_OK;
    switch (st->kind) {
    case CAST_TO_TEXT: cast_to_text(st, s->in[0]->data, s->out[0]->data, n); return KDC_OK;
    case CAST_FROM_TEXT: return cast_from_text(s, st->to, s->in[0]->data, s->out[0]->data, n, p->ws, d);
    default: k_convert(st->from, s->in[0]->data, st->to, s->out[0]->data, n); return KDC_OK;
    }
}

/* Only float -> float carries a gradient, unchanged. */
static void cast_backward(Step *s, Plan *p)
{
    (void)p;
    float *dx = s->in[0]->grad;
    const float *dy = s->out[0]->grad;
    if (!dx || !dy || s->in[0]->dtype != DT_FLOAT || s->out[0]->dtype != DT_FLOAT)
        return;
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        dx[i] += dy[i];
}

const RtOp rt_op_Cast = {cast_prepare, cast_forward, cast_backward, 0, 0};
/* CastLike's second input gives only its type. */
const RtOp rt_op_CastLike = {cast_prepare, cast_forward, cast_backward, 0x2u, 0};
