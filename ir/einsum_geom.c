/* einsum_geom.c - parsing Einsum equations (see einsum_geom.h). */
#include "ir/einsum_geom.h"

#include <string.h>

static int letter_label(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return 26 + ch - 'a';
    return -1;
}

/* One term of [begin, end): its letter labels in order, and where (among
 * them) the ellipsis sits, -1 when it has none. */
typedef struct Term {
    int n_letters, ellipsis_at;
    int letters[EINSUM_MAX_LABELS];
} Term;

static Status parse_term(const char *begin, const char *end, Term *t, Diag *d)
{
    t->n_letters = 0;
    t->ellipsis_at = -1;
    for (const char *p = begin; p < end; p++) {
        if (*p == ' ')
            continue;
        if (*p == '.') {
            if (end - p < 3 || strncmp(p, "...", 3) || t->ellipsis_at >= 0)
                return diag_error(d, "equation term '%.*s' has a stray '.'", (int)(end - begin), begin);
            t->ellipsis_at = t->n_letters;
            p += 2;
            continue;
        }
        int l = letter_label(*p);
        if (l < 0)
            return diag_error(d, "equation term '%.*s' has character '%c'; labels are letters",
                              (int)(end - begin), begin, *p);
        if (t->n_letters >= EINSUM_MAX_RANK)
            return diag_error(d, "equation term '%.*s' has too many labels", (int)(end - begin), begin);
        t->letters[t->n_letters++] = l;
    }
    return KDC_OK;
}

/* Writes the labels of a term whose ellipsis covers `ell` axes of `ell_max`. */
static int expand_term(const Term *t, int ell, int ell_max, int *labels)
{
    int n = 0;
    for (int i = 0; i <= t->n_letters; i++) {
        if (i == t->ellipsis_at)
            for (int j = 0; j < ell; j++)
                labels[n++] = EINSUM_ELLIPSIS + ell_max - ell + j;
        if (i < t->n_letters)
            labels[n++] = t->letters[i];
    }
    return n;
}

static Status parse_inputs(const char *lhs, const char *lhs_end, const int *ranks, EinsumEq *eq, int *ell_max,
                           Diag *d)
{
    Term terms[EINSUM_MAX_OPERANDS];
    int ell[EINSUM_MAX_OPERANDS], n = 0;
    *ell_max = 0;
    for (const char *p = lhs;; n++) {
        const char *comma = memchr(p, ',', (size_t)(lhs_end - p));
        const char *end = comma ? comma : lhs_end;
        if (n >= eq->n_in)
            return diag_error(d, "the equation has more terms than the %d inputs", eq->n_in);
        if (parse_term(p, end, &terms[n], d))
            return KDC_ERR;
        ell[n] = ranks[n] - terms[n].n_letters;
        if (ell[n] < 0 || (terms[n].ellipsis_at < 0 && ell[n] != 0))
            return diag_error(d, "equation term %d has %d labels but input %d has rank %d", n, terms[n].n_letters,
                              n, ranks[n]);
        *ell_max = ell[n] > *ell_max ? ell[n] : *ell_max;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (n + 1 != eq->n_in)
        return diag_error(d, "the equation has %d terms for %d inputs", n + 1, eq->n_in);
    for (int i = 0; i < eq->n_in; i++)
        eq->rank[i] = expand_term(&terms[i], ell[i], *ell_max, eq->label[i]);
    return KDC_OK;
}

static void count_labels(const EinsumEq *eq, int *count)
{
    memset(count, 0, EINSUM_MAX_LABELS * sizeof *count);
    for (int i = 0; i < eq->n_in; i++)
        for (int a = 0; a < eq->rank[i]; a++)
            count[eq->label[i][a]]++;
}

/* Without "->": the broadcast axes, then the letters used exactly once. */
static void implicit_output(EinsumEq *eq, int ell_max)
{
    int count[EINSUM_MAX_LABELS];
    count_labels(eq, count);
    eq->out_rank = 0;
    for (int j = 0; j < ell_max; j++)
        eq->out_label[eq->out_rank++] = EINSUM_ELLIPSIS + j;
    for (int l = 0; l < EINSUM_ELLIPSIS && eq->out_rank < EINSUM_MAX_RANK; l++)
        if (count[l] == 1)
            eq->out_label[eq->out_rank++] = l;
}

static Status explicit_output(const char *rhs, EinsumEq *eq, int ell_max, Diag *d)
{
    Term t;
    int count[EINSUM_MAX_LABELS], seen[EINSUM_MAX_LABELS] = {0};
    if (parse_term(rhs, rhs + strlen(rhs), &t, d))
        return KDC_ERR;
    if (t.n_letters + (t.ellipsis_at >= 0 ? ell_max : 0) > EINSUM_MAX_RANK)
        return diag_error(d, "the output '%s' has too many axes", rhs);
    eq->out_rank = expand_term(&t, t.ellipsis_at >= 0 ? ell_max : 0, ell_max, eq->out_label);
    count_labels(eq, count);
    for (int a = 0; a < eq->out_rank; a++) {
        int l = eq->out_label[a];
        if (l < EINSUM_ELLIPSIS && !count[l])
            return diag_error(d, "output label '%c' is in no input term", l < 26 ? 'A' + l : 'a' + l - 26);
        if (seen[l]++)
            return diag_error(d, "output label '%c' is repeated", l < 26 ? 'A' + l : 'a' + l - 26);
    }
    return KDC_OK;
}

Status einsum_parse(const char *equation, int n_in, const int *ranks, EinsumEq *eq, Diag *d)
{
    memset(eq, 0, sizeof *eq);
    if (n_in < 1 || n_in > EINSUM_MAX_OPERANDS)
        return diag_error(d, "%d inputs; Einsum takes 1 to %d", n_in, EINSUM_MAX_OPERANDS);
    for (int i = 0; i < n_in; i++)
        if (ranks[i] > EINSUM_MAX_RANK)
            return diag_error(d, "input %d has rank %d; at most %d is supported", i, ranks[i], EINSUM_MAX_RANK);
    eq->n_in = n_in;
    const char *arrow = strstr(equation, "->");
    const char *lhs_end = arrow ? arrow : equation + strlen(equation);
    int ell_max;
    if (parse_inputs(equation, lhs_end, ranks, eq, &ell_max, d))
        return KDC_ERR;
    if (!arrow) {
        implicit_output(eq, ell_max);
        return KDC_OK;
    }
    return explicit_output(arrow + 2, eq, ell_max, d);
}
