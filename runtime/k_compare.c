/* k_compare.c - typed elementwise kernels: comparisons, logic, and the
 * arithmetic of every non-float32 element type (integers, bool, double,
 * float16, bfloat16) with numpy broadcasting.
 *
 * Owns the element conversions (float16 and bfloat16 included) and a chunk
 * engine: each broadcast row (k_broadcast_rows) is processed CHUNK elements
 * at a time, loaded into an int64 or double buffer, computed there with the
 * op switch outside the element loop, and stored back in the output type.
 * Integers and bool compute in int64 with wrapping arithmetic; every other
 * type computes in double. Division by zero is checked before any work
 * starts, so the row workers never fail.
 */
#include "runtime/kernels.h"

#include <math.h>
#include <string.h>

#define CHUNK 256

/* ------------------------------------------------------------ conversions */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, straight from double (no double rounding). */
static uint16_t double_to_half(double v)
{
    uint16_t sign = signbit(v) ? 0x8000u : 0;
    double a = fabs(v);
    if (isnan(v))
        return sign | 0x7e00u;
    if (a >= 65520.0) /* halfway between the largest half and 2^16 rounds up to inf */
        return sign | 0x7c00u;
    if (a < 0x1p-14) /* subnormal: 1024 becomes the smallest normal, as it should */
        return sign | (uint16_t)nearbyint(a * 0x1p24);
    int e;
    frexp(a, &e);                                       /* a = m * 2^e, m in [0.5, 1) */
    uint32_t m = (uint32_t)nearbyint(ldexp(a, 11 - e)); /* 1024 .. 2048 */
    int biased = e - 1 + 15;
    if (m == 2048) {
        m = 1024;
        biased++;
    }
    if (biased >= 31)
        return sign | 0x7c00u;
    return sign | (uint16_t)(biased << 10) | (uint16_t)(m - 1024);
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t float_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (isnan(f))
        return (uint16_t)((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

/* Truncates toward zero, saturating; NaN gives 0. */
static int64_t double_to_int(double v)
{
    if (v != v)
        return 0;
    if (v >= 0x1p63)
        return INT64_MAX;
    if (v <= -0x1p63)
        return INT64_MIN;
    return (int64_t)v;
}

static uint64_t double_to_uint64(double v)
{
    if (v >= 0x1p64)
        return UINT64_MAX;
    return v >= 0x1p63 ? (uint64_t)v : v <= 0 ? 0 : (uint64_t)v;
}

/* Truncated, then saturated to [lo, hi]: narrow integer types. */
static inline int64_t double_to_range(double v, int64_t lo, int64_t hi)
{
    int64_t i = double_to_int(v);
    return i < lo ? lo : i > hi ? hi : i;
}

#define TO_I8(v) double_to_range(v, INT8_MIN, INT8_MAX)
#define TO_I16(v) double_to_range(v, INT16_MIN, INT16_MAX)
#define TO_I32(v) double_to_range(v, INT32_MIN, INT32_MAX)
#define TO_U8(v) double_to_range(v, 0, UINT8_MAX)
#define TO_U16(v) double_to_range(v, 0, UINT16_MAX)
#define TO_U32(v) double_to_range(v, 0, UINT32_MAX)

#define HALF_TO_DOUBLE(v) ((double)half_to_float(v))
#define BF16_TO_DOUBLE(v) ((double)bf16_to_float(v))
#define BF16_FROM_DOUBLE(v) float_to_bf16((float)(v))
#define AS_BOOL(v) ((v) != 0)

bool k_elem_is_int(KElem t)
{
    return t >= KE_INT8;
}

size_t k_elem_size(KElem t)
{
    static const size_t size[] = {
        [KE_FLOAT] = 4,  [KE_DOUBLE] = 8, [KE_FLOAT16] = 2, [KE_BFLOAT16] = 2, [KE_INT8] = 1,
        [KE_INT16] = 2,  [KE_INT32] = 4,  [KE_INT64] = 8,   [KE_UINT8] = 1,    [KE_UINT16] = 2,
        [KE_UINT32] = 4, [KE_UINT64] = 8, [KE_BOOL] = 1,
    };
    return size[t];
}

/* ------------------------------------------------------ loads and stores */

/* n elements of type CT from base[off], stepping step (0 repeats one). */
#define LOAD(CT, conv)                                                                                                 \
    do {                                                                                                               \
        const CT *s_ = (const CT *)base + off;                                                                         \
        for (int j_ = 0; j_ < n; j_++)                                                                                 \
            dst[j_] = conv(s_[j_ * step]);                                                                             \
    } while (0)

#define STORE(CT, conv)                                                                                                \
    do {                                                                                                               \
        CT *d_ = (CT *)base + off;                                                                                     \
        for (int j_ = 0; j_ < n; j_++)                                                                                 \
            d_[j_] = (CT)conv(src[j_]);                                                                                \
    } while (0)

#define SAME(v) (v)

/* Integer and bool types only. */
static void load_i64(KElem t, const void *base, int64_t off, int64_t step, int n, int64_t *dst)
{
    switch (t) {
    case KE_INT8: LOAD(int8_t, SAME); break;
    case KE_INT16: LOAD(int16_t, SAME); break;
    case KE_INT32: LOAD(int32_t, SAME); break;
    case KE_INT64: LOAD(int64_t, SAME); break;
    case KE_UINT8: LOAD(uint8_t, SAME); break;
    case KE_UINT16: LOAD(uint16_t, SAME); break;
    case KE_UINT32: LOAD(uint32_t, SAME); break;
    case KE_UINT64: LOAD(uint64_t, (int64_t)); break;
    case KE_BOOL: LOAD(uint8_t, AS_BOOL); break;
    default: break; /* float types never compute in int64 */
    }
}

static void load_f64(KElem t, const void *base, int64_t off, int64_t step, int n, double *dst)
{
    switch (t) {
    case KE_FLOAT: LOAD(float, SAME); break;
    case KE_DOUBLE: LOAD(double, SAME); break;
    case KE_FLOAT16: LOAD(uint16_t, HALF_TO_DOUBLE); break;
    case KE_BFLOAT16: LOAD(uint16_t, BF16_TO_DOUBLE); break;
    case KE_INT8: LOAD(int8_t, SAME); break;
    case KE_INT16: LOAD(int16_t, SAME); break;
    case KE_INT32: LOAD(int32_t, SAME); break;
    case KE_INT64: LOAD(int64_t, (double)); break;
    case KE_UINT8: LOAD(uint8_t, SAME); break;
    case KE_UINT16: LOAD(uint16_t, SAME); break;
    case KE_UINT32: LOAD(uint32_t, SAME); break;
    case KE_UINT64: LOAD(uint64_t, (double)); break;
    case KE_BOOL: LOAD(uint8_t, AS_BOOL); break;
    }
}

/* Narrow integer types keep the low bits, as integer arithmetic in numpy does. */
static void store_i64(KElem t, void *base, int64_t off, const int64_t *src, int n)
{
    switch (t) {
    case KE_FLOAT: STORE(float, SAME); break;
    case KE_DOUBLE: STORE(double, SAME); break;
    case KE_FLOAT16: STORE(uint16_t, double_to_half); break;
    case KE_BFLOAT16: STORE(uint16_t, BF16_FROM_DOUBLE); break;
    case KE_INT8: STORE(int8_t, SAME); break;
    case KE_INT16: STORE(int16_t, SAME); break;
    case KE_INT32: STORE(int32_t, SAME); break;
    case KE_INT64: STORE(int64_t, SAME); break;
    case KE_UINT8: STORE(uint8_t, SAME); break;
    case KE_UINT16: STORE(uint16_t, SAME); break;
    case KE_UINT32: STORE(uint32_t, SAME); break;
    case KE_UINT64: STORE(uint64_t, SAME); break;
    case KE_BOOL: STORE(uint8_t, AS_BOOL); break;
    }
}

static void store_f64(KElem t, void *base, int64_t off, const double *src, int n)
{
    switch (t) {
    case KE_FLOAT: STORE(float, SAME); break;
    case KE_DOUBLE: STORE(double, SAME); break;
    case KE_FLOAT16: STORE(uint16_t, double_to_half); break;
    case KE_BFLOAT16: STORE(uint16_t, BF16_FROM_DOUBLE); break;
    case KE_INT8: STORE(int8_t, TO_I8); break;
    case KE_INT16: STORE(int16_t, TO_I16); break;
    case KE_INT32: STORE(int32_t, TO_I32); break;
    case KE_INT64: STORE(int64_t, double_to_int); break;
    case KE_UINT8: STORE(uint8_t, TO_U8); break;
    case KE_UINT16: STORE(uint16_t, TO_U16); break;
    case KE_UINT32: STORE(uint32_t, TO_U32); break;
    case KE_UINT64: STORE(uint64_t, double_to_uint64); break;
    case KE_BOOL: STORE(uint8_t, AS_BOOL); break;
    }
}

void k_convert_to_float(KElem t, const void *x, float *y, int64_t n)
{
    double buf[CHUNK];
    for (int64_t off = 0; off < n; off += CHUNK) {
        int len = (int)(n - off < CHUNK ? n - off : CHUNK);
        load_f64(t, x, off, 1, len, buf);
        for (int j = 0; j < len; j++)
            y[off + j] = (float)buf[j];
    }
}

int64_t k_elem_get_int(KElem t, const void *x, int64_t i)
{
    int64_t v = 0;
    load_i64(t, x, i, 1, 1, &v);
    return v;
}

double k_elem_get_double(KElem t, const void *x, int64_t i)
{
    double v;
    load_f64(t, x, i, 1, 1, &v);
    return v;
}

/* ----------------------------------------------------------- int64 math */

static inline int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wrap_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}
static inline int64_t wrap_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Exact by squaring; a negative exponent gives 1/a^-b truncated toward zero. */
static int64_t int_pow(int64_t a, int64_t b)
{
    if (b < 0)
        return a == 1 ? 1 : a == -1 ? (b & 1 ? -1 : 1) : 0;
    int64_t r = 1;
    while (b) {
        if (b & 1)
            r = wrap_mul(r, a);
        a = wrap_mul(a, a);
        b >>= 1;
    }
    return r;
}

/* b != 0 (checked up front); INT64_MIN / -1 wraps instead of trapping. */
static inline int64_t int_div(int64_t a, int64_t b)
{
    return b == -1 ? wrap_sub(0, a) : a / b;
}
static inline int64_t int_fmod(int64_t a, int64_t b)
{
    return b == -1 ? 0 : a % b;
}

static inline int64_t int_mod(int64_t a, int64_t b)
{
    int64_t r = int_fmod(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}

#define EACH(expr)                                                                                                     \
    for (int j = 0; j < n; j++) {                                                                                      \
        int64_t x = a[j], y = b[j];                                                                                    \
        r[j] = (expr);                                                                                                 \
    }                                                                                                                  \
    break

/* r may alias a. */
static void int_binary(KTypedOp op, const int64_t *a, const int64_t *b, int64_t *r, int n)
{
    switch (op) {
    case KT_ADD: EACH(wrap_add(x, y));
    case KT_SUB: EACH(wrap_sub(x, y));
    case KT_MUL: EACH(wrap_mul(x, y));
    case KT_DIV: EACH(int_div(x, y));
    case KT_POW: EACH(int_pow(x, y));
    case KT_MAX: EACH(x > y ? x : y);
    case KT_MIN: EACH(x < y ? x : y);
    case KT_MOD: EACH(int_mod(x, y));
    case KT_FMOD: EACH(int_fmod(x, y));
    case KT_PRELU: EACH(x < 0 ? wrap_mul(x, y) : x);
    case KT_EQUAL: EACH(x == y);
    case KT_GREATER: EACH(x > y);
    case KT_GREATER_EQUAL: EACH(x >= y);
    case KT_LESS: EACH(x < y);
    case KT_LESS_EQUAL: EACH(x <= y);
    case KT_AND: EACH(x != 0 && y != 0);
    case KT_OR: EACH(x != 0 || y != 0);
    case KT_XOR: EACH((x != 0) != (y != 0));
    }
}
#undef EACH

/* ---------------------------------------------------------- double math */

static inline double real_mod(double a, double b)
{
    double r = fmod(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}

#define EACH(expr)                                                                                                     \
    for (int j = 0; j < n; j++) {                                                                                      \
        double x = a[j], y = b[j];                                                                                     \
        r[j] = (expr);                                                                                                 \
    }                                                                                                                  \
    break

/* r may alias a. Comparisons with NaN are false (Equal too). */
static void real_binary(KTypedOp op, const double *a, const double *b, double *r, int n)
{
    switch (op) {
    case KT_ADD: EACH(x + y);
    case KT_SUB: EACH(x - y);
    case KT_MUL: EACH(x * y);
    case KT_DIV: EACH(x / y);
    case KT_POW: EACH(pow(x, y));
    case KT_MAX: EACH(x > y || x != x ? x : y);
    case KT_MIN: EACH(x < y || x != x ? x : y);
    case KT_MOD: EACH(real_mod(x, y));
    case KT_FMOD: EACH(fmod(x, y));
    case KT_PRELU: EACH(x < 0 ? x * y : x);
    case KT_EQUAL: EACH(x == y);
    case KT_GREATER: EACH(x > y);
    case KT_GREATER_EQUAL: EACH(x >= y);
    case KT_LESS: EACH(x < y);
    case KT_LESS_EQUAL: EACH(x <= y);
    case KT_AND: EACH(x != 0 && y != 0);
    case KT_OR: EACH(x != 0 || y != 0);
    case KT_XOR: EACH((x != 0) != (y != 0));
    }
}
#undef EACH

/* ----------------------------------------------------------- typed binary */

typedef struct TypedArgs {
    KTypedOp op;
    KElem ta, tb, ty;
    const void *a, *b;
    void *y;
    bool ints;
} TypedArgs;

static void typed_row(const void *args, const KRow *r)
{
    const TypedArgs *t = args;
    for (int64_t done = 0; done < r->len; done += CHUNK) {
        int n = (int)(r->len - done < CHUNK ? r->len - done : CHUNK);
        int64_t ao = r->a + done * r->a_step, bo = r->b + done * r->b_step, yo = r->y + done;
        if (t->ints) {
            int64_t a[CHUNK], b[CHUNK];
            load_i64(t->ta, t->a, ao, r->a_step, n, a);
            load_i64(t->tb, t->b, bo, r->b_step, n, b);
            int_binary(t->op, a, b, a, n);
            store_i64(t->ty, t->y, yo, a, n);
        } else {
            double a[CHUNK], b[CHUNK];
            load_f64(t->ta, t->a, ao, r->a_step, n, a);
            load_f64(t->tb, t->b, bo, r->b_step, n, b);
            real_binary(t->op, a, b, a, n);
            store_f64(t->ty, t->y, yo, a, n);
        }
    }
}

static bool has_zero(KElem t, const void *x, int64_t n)
{
    int64_t buf[CHUNK];
    for (int64_t off = 0; off < n; off += CHUNK) {
        int len = (int)(n - off < CHUNK ? n - off : CHUNK);
        load_i64(t, x, off, 1, len, buf);
        for (int j = 0; j < len; j++)
            if (buf[j] == 0)
                return true;
    }
    return false;
}

Status k_typed_binary(KTypedOp op, const BroadcastDims *bd, KElem ta, const void *a, KElem tb, const void *b, KElem ty,
                      void *y, Diag *d)
{
    TypedArgs t = {op, ta, tb, ty, a, b, y, k_elem_is_int(ta) && k_elem_is_int(tb)};
    bool divides = op == KT_DIV || op == KT_MOD || op == KT_FMOD;
    if (t.ints && divides && bd->n > 0 && has_zero(tb, b, bd->b_n))
        return diag_error(d, "integer %s by zero", op == KT_DIV ? "division" : "modulo");
    k_broadcast_rows_parallel(bd, typed_row, &t);
    return KDC_OK;
}

/* ------------------------------------------------------------ typed unary */

typedef struct TypedUnaryArgs {
    KTypedUnaryOp op;
    KUnaryOp fop;
    KUnaryParams pr;
    KClipBounds clip;
    KElem t;
    const void *x;
    void *y;
} TypedUnaryArgs;

static void int_unary(KTypedUnaryOp op, const KClipBounds *c, int64_t *v, int n)
{
    for (int j = 0; j < n; j++) {
        int64_t x = v[j];
        switch (op) {
        case KT_ABS: v[j] = x < 0 ? wrap_sub(0, x) : x; break;
        case KT_NEG: v[j] = wrap_sub(0, x); break;
        case KT_SIGN: v[j] = (x > 0) - (x < 0); break;
        case KT_NOT: v[j] = x == 0; break;
        case KT_CLIP:
            x = x < c->lo_i ? c->lo_i : x;
            v[j] = x > c->hi_i ? c->hi_i : x;
            break;
        }
    }
}

static void real_unary(KTypedUnaryOp op, const KClipBounds *c, double *v, int n)
{
    for (int j = 0; j < n; j++) {
        double x = v[j];
        switch (op) {
        case KT_ABS: v[j] = fabs(x); break;
        case KT_NEG: v[j] = -x; break;
        case KT_SIGN: v[j] = x > 0 ? 1.0 : x < 0 ? -1.0 : x; break;
        case KT_NOT: v[j] = x == 0; break;
        case KT_CLIP:
            x = x < c->lo_f ? c->lo_f : x;
            v[j] = x > c->hi_f ? c->hi_f : x;
            break;
        }
    }
}

static void typed_unary_range(const void *args, int64_t begin, int64_t end)
{
    const TypedUnaryArgs *u = args;
    KElem ty = u->op == KT_NOT ? KE_BOOL : u->t;
    for (int64_t off = begin; off < end; off += CHUNK) {
        int n = (int)(end - off < CHUNK ? end - off : CHUNK);
        if (k_elem_is_int(u->t)) {
            int64_t v[CHUNK];
            load_i64(u->t, u->x, off, 1, n, v);
            int_unary(u->op, &u->clip, v, n);
            store_i64(ty, u->y, off, v, n);
        } else {
            double v[CHUNK];
            load_f64(u->t, u->x, off, 1, n, v);
            real_unary(u->op, &u->clip, v, n);
            store_f64(ty, u->y, off, v, n);
        }
    }
}

void k_typed_unary(KTypedUnaryOp op, KElem t, const KClipBounds *clip, const void *x, void *y, int64_t n)
{
    TypedUnaryArgs u = {.op = op, .t = t, .x = x, .y = y};
    if (clip)
        u.clip = *clip;
    k_run_ranges(n, typed_unary_range, &u);
}

static void unary_float_range(const void *args, int64_t begin, int64_t end)
{
    const TypedUnaryArgs *u = args;
    for (int64_t off = begin; off < end; off += CHUNK) {
        int n = (int)(end - off < CHUNK ? end - off : CHUNK);
        double v[CHUNK];
        float f[CHUNK];
        load_f64(u->t, u->x, off, 1, n, v);
        for (int j = 0; j < n; j++)
            f[j] = (float)v[j];
        k_unary_forward(u->fop, &u->pr, f, f, n);
        for (int j = 0; j < n; j++)
            v[j] = f[j];
        store_f64(u->t, u->y, off, v, n);
    }
}

void k_typed_unary_float(KUnaryOp op, const KUnaryParams *pr, KElem t, const void *x, void *y, int64_t n)
{
    TypedUnaryArgs u = {.fop = op, .pr = *pr, .t = t, .x = x, .y = y};
    k_run_ranges(n, unary_float_range, &u);
}
