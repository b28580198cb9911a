/* op_string.c - runtime entry of StringNormalizer (10): drops the stop words
 * of a [C] or [1, C] string tensor and changes the case of what remains (one
 * empty string when nothing does).
 *
 * Owns the characters of its output: a pool at the end of the step's state,
 * grown at forward when the input's text is longer than any run before (its
 * length is not known at prepare), so steady runs allocate nothing; the
 * output stays valid until the step runs again. The output size is planned
 * from the input's value (ir/infer_misc.c); the forward checks that the data
 * still gives it.
 *
 * Case changes and case-insensitive matching cover ASCII letters, as the C
 * and en_US locales do: text with other bytes where case matters is an
 * error rather than a guess, and so is a locale that kdc does not follow.
 */
#include "runtime/rt.h"

#include "ir/strnorm.h"

#include <stdlib.h>
#include <string.h>

typedef enum { CASE_NONE, CASE_LOWER, CASE_UPPER } CaseChange;

typedef struct NormState {
    CaseChange change;
    bool case_sensitive;
    const Attr *stops; /* NULL: no stop words */
    int64_t n;         /* input elements */
    size_t cap;        /* bytes in pool */
    char pool[];
} NormState;

static int ascii_upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static bool is_ascii(Bytes s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.data[i] >= 0x80)
            return false;
    return true;
}

static bool is_stop_word(const NormState *st, Bytes s)
{
    return strnorm_is_stop_word(st->stops, s, st->case_sensitive);
}

/* en_US, C and POSIX change the case of ASCII letters alike; tr_TR does not. */
static bool locale_followed(const char *locale)
{
    return !*locale || !strncmp(locale, "en", 2) || !strcmp(locale, "C") || !strcmp(locale, "POSIX");
}

static Status norm_attrs(const Step *s, NormState *st, Diag *d)
{
    const char *change = node_attr_string(s->node, "case_change_action", "NONE");
    const char *locale = node_attr_string(s->node, "locale", "");
    if (strcmp(change, "NONE") && strcmp(change, "LOWER") && strcmp(change, "UPPER"))
        return rt_op_error(s, d, "case_change_action must be \"LOWER\", \"UPPER\" or \"NONE\", not \"%s\"", change);
    st->change = !strcmp(change, "LOWER") ? CASE_LOWER : !strcmp(change, "UPPER") ? CASE_UPPER : CASE_NONE;
    if (!locale_followed(locale))
        return rt_op_error(s, d, "locale \"%s\" is not supported; kdc changes case as en_US does", locale);
    st->case_sensitive = node_attr_int(s->node, "is_case_sensitive", 0) != 0;
    st->stops = node_attr(s->node, "stopwords");
    if (st->stops && st->stops->kind != ATTR_STRINGS)
        return rt_op_error(s, d, "attribute 'stopwords' must be a list of strings");
    for (int k = 0; st->stops && !st->case_sensitive && k < st->stops->n; k++)
        if (!is_ascii(st->stops->strings[k]))
            return rt_op_error(s, d, "stop word %d is not ASCII; kdc matches other letters case-sensitively only", k);
    return KDC_OK;
}

static Status norm_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const RtTensor *x = s->in[0];
    if (x->dtype != DT_STRING)
        return rt_op_error(s, d, "input has type %s; StringNormalizer takes strings", dtype_name(x->dtype));
    if (x->shape.rank != 1 && (x->shape.rank != 2 || x->shape.dims[0].value != 1))
        return rt_op_error(s, d, "input must have shape [C] or [1, C]");
    NormState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || norm_attrs(s, st, d))
        return KDC_ERR;
    st->n = x->numel;
    return KDC_OK;
}

/* Room for `need` characters; the state moves, so callers re-read s->state. */
static Status reserve_pool(Step *s, size_t need, Diag *d)
{
    NormState *st = s->state;
    if (need <= st->cap)
        return KDC_OK;
    size_t cap = need > 2 * st->cap ? need : 2 * st->cap;
    NormState *grown = realloc(st, sizeof *st + cap);
    if (!grown)
        return rt_op_error(s, d, "out of memory for %zu bytes of text", need);
    grown->cap = cap;
    s->state = grown;
    return KDC_OK;
}

/* Counts the kept elements and their characters; refuses non-ASCII text
 * where case matters. */
static Status measure(const Step *s, const Bytes *x, int64_t *kept, size_t *chars, Diag *d)
{
    const NormState *st = s->state;
    bool case_matters = st->change != CASE_NONE || (!st->case_sensitive && st->stops && st->stops->n);
    *kept = 0;
    *chars = 0;
    for (int64_t i = 0; i < st->n; i++) {
        if (case_matters && !is_ascii(x[i]))
            return rt_op_error(s, d,
                               "element %lld is not ASCII; kdc changes and matches the case of ASCII letters only",
                               (long long)i);
        if (is_stop_word(st, x[i]))
            continue;
        (*kept)++;
        *chars += x[i].len;
    }
    return KDC_OK;
}

static size_t copy_text(const NormState *st, Bytes from, char *to)
{
    for (size_t i = 0; i < from.len; i++)
        to[i] = (char)(st->change == CASE_LOWER   ? strnorm_ascii_lower(from.data[i])
                       : st->change == CASE_UPPER ? ascii_upper(from.data[i])
                                                  : from.data[i]);
    return from.len;
}

static Status norm_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const Bytes *x = s->in[0]->data;
    Bytes *y = s->out[0]->data;
    int64_t kept;
    size_t chars;
    if (measure(s, x, &kept, &chars, d) || reserve_pool(s, chars, d))
        return KDC_ERR;
    if ((kept ? kept : 1) != s->out[0]->numel)
        return rt_op_error(s, d, "%lld elements are not stop words; the plan was built for %lld", (long long)kept,
                           (long long)s->out[0]->numel);
    NormState *st = s->state;
    char *at = st->pool;
    y[0] = (Bytes){(const uint8_t *)at, 0};
    for (int64_t i = 0, k = 0; i < st->n; i++) {
        if (is_stop_word(st, x[i]))
            continue;
        size_t len = copy_text(st, x[i], at);
        y[k++] = (Bytes){(const uint8_t *)at, len};
        at += len;
    }
    return KDC_OK;
}

/* Text has no gradient. */
const RtOp rt_op_StringNormalizer = {norm_prepare, norm_forward, NULL, 0x1u, 0};
