/* recipes/recipe_values.c - the leaves of a recipe: numbers, lists, choices, names, paths.
 *
 * Owns turning one YAML scalar (or list of scalars, or mapping of globs to numbers) into
 * the typed value a schema row asks for, checking its range, and storing it at the row's
 * offset in the struct it describes (the Recipe, or one entry of a list; a name in its own
 * malloc'ed string, lists of names in one malloc'ed block each); also
 * resolving paths against the recipe's folder and checking them on disk, and the
 * message helpers ("got 'five'", "did you mean") the whole loader shares.
 */
#include "recipes/recipe_loader.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ---- messages ---- */

static Status fail_vat(const RecipeLoader *L, SrcPos at, const char *fmt, va_list ap)
{
    char msg[sizeof L->d->msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return diag_error(L->d, "%s:%d:%d: %s", L->path, at.line, at.col, msg);
}

Status recipe_fail_pos(const RecipeLoader *L, SrcPos at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vat(L, at, fmt, ap);
    va_end(ap);
    return KDC_ERR;
}

Status recipe_fail(const RecipeLoader *L, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vat(L, recipe_pos(n), fmt, ap);
    va_end(ap);
    return KDC_ERR;
}

SrcPos recipe_pos(const yaml_node_t *n)
{
    return (SrcPos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
}

const yaml_node_t *recipe_node(const RecipeLoader *L, int index)
{
    return yaml_document_get_node((yaml_document_t *)&L->doc, index);
}

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

bool recipe_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What the user wrote, for "got ..." in messages: quoted, shortened, on one line. */
const char *recipe_describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (recipe_is_null(n))
        return "nothing";
    char text[QUOTE_MAX + 4];
    size_t len = n->data.scalar.length, k = 0;
    for (; k < len && k < QUOTE_MAX; k++) {
        unsigned char c = n->data.scalar.value[k];
        text[k] = c < ' ' ? ' ' : (char)c;
    }
    strcpy(text + k, len > QUOTE_MAX ? "..." : "");
    snprintf(buf, size, "'%s'", text);
    return buf;
}

/* Optimal-string-alignment distance: a swapped pair of letters counts as one edit. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 32 };
    size_t n = strlen(a), m = strlen(b);
    if (n > MAXLEN || m > MAXLEN)
        return INT_MAX;
    int dist[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= m; j++) {
            if (!i || !j) {
                dist[i][j] = (int)(i + j);
                continue;
            }
            int best = dist[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (dist[i - 1][j] + 1 < best)
                best = dist[i - 1][j] + 1;
            if (dist[i][j - 1] + 1 < best)
                best = dist[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && dist[i - 2][j - 2] + 1 < best)
                best = dist[i - 2][j - 2] + 1;
            dist[i][j] = best;
        }
    return dist[n][m];
}

const char *recipe_closest(const char *word, const char *const *cands, int n)
{
    /* One edit away is a typo for any key; two only for longer keys, else 'x' -> 'lr'. */
    int best_dist = strlen(word) <= 4 ? 2 : 3;
    const char *best = NULL;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(word, cands[i]);
        if (dist < best_dist) {
            best_dist = dist;
            best = cands[i];
        }
    }
    return best;
}

/* Appends ", "-separated names to buf. */
void recipe_join_names(char *buf, size_t size, const char *const *names, int n)
{
    size_t used = strlen(buf);
    for (int i = 0; i < n && used < size; i++) {
        snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        used += strlen(buf + used);
    }
}

/* ---- numbers ---- */

/* A YAML decimal integer: optional sign, then digits only. */
NumParse recipe_parse_integer(const char *s, long long *v)
{
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return NUM_BAD;
    errno = 0;
    *v = strtoll(s, NULL, 10);
    return errno == ERANGE ? NUM_HUGE : NUM_OK;
}

/* A decimal number such as 4, -0.5, .5 or 5e-4; not inf, nan or hex. */
static NumParse parse_real(const char *s, double *v)
{
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s) || !strpbrk(s, "0123456789"))
        return NUM_BAD;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (*end)
        return NUM_BAD;
    if (!isfinite(*v) || (errno == ERANGE && fabs(*v) > 1))
        return NUM_HUGE;
    return NUM_OK;
}

static bool in_range(const FieldRange *rg, double v)
{
    if (rg->has_lo && (rg->lo_open ? v <= rg->lo : v < rg->lo))
        return false;
    if (rg->has_hi && (rg->hi_open ? v >= rg->hi : v > rg->hi))
        return false;
    return true;
}

/* "in (0, 1]", "> 0", ">= 1" */
static const char *range_text(const FieldRange *rg, char *buf, size_t size)
{
    if (rg->has_lo && rg->has_hi)
        snprintf(buf, size, "in %c%g, %g%c", rg->lo_open ? '(' : '[', rg->lo, rg->hi, rg->hi_open ? ')' : ']');
    else if (rg->has_lo)
        snprintf(buf, size, "%s %g", rg->lo_open ? ">" : ">=", rg->lo);
    else
        snprintf(buf, size, "%s %g", rg->hi_open ? "<" : "<=", rg->hi);
    return buf;
}

/* ---- storing values (label is "'epochs'" or "'std' entries", for messages) ---- */

static void *slot(void *base, size_t offset) { return (char *)base + offset; }

/* The scalar's text, or NULL after reporting that the value is not `what`. */
static const char *expect_scalar(const RecipeLoader *L, const char *label, const char *what, const yaml_node_t *n)
{
    char got[QUOTE_MAX + 8];
    if (n->type == YAML_SCALAR_NODE && !recipe_is_null(n))
        return scalar_text(n);
    recipe_fail(L, n, "%s must be %s, got %s", label, what, recipe_describe(n, got, sizeof got));
    return NULL;
}

static Status read_real(const RecipeLoader *L, const SchemaField *f, const char *label, const yaml_node_t *n, double *v)
{
    char got[QUOTE_MAX + 8], rg[64];
    const char *s = expect_scalar(L, label, "a number", n);
    if (!s)
        return KDC_ERR;
    NumParse p = parse_real(s, v);
    if (p == NUM_BAD)
        return recipe_fail(L, n, "%s must be a number, got %s", label, recipe_describe(n, got, sizeof got));
    if (p == NUM_HUGE)
        return recipe_fail(L, n, "%s must be a finite number, got %s", label, recipe_describe(n, got, sizeof got));
    if (!in_range(&f->range, *v))
        return recipe_fail(L, n, "%s must be %s, got %s", label, range_text(&f->range, rg, sizeof rg), s);
    return KDC_OK;
}

static Status store_real(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    return read_real(L, f, label, n, slot(base, f->offset));
}

/* A number (one entry for every channel) or a list of 1..max_items numbers. */
static Status store_real_list(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                              const yaml_node_t *n)
{
    double *vals = slot(base, f->offset);
    int *count = slot(base, f->count_offset);
    if (n->type != YAML_SEQUENCE_NODE) {
        char what[64];
        snprintf(what, sizeof what, "a number or a list of 1 to %d numbers", f->max_items);
        if (!expect_scalar(L, label, what, n))
            return KDC_ERR;
        *count = 1;
        return read_real(L, f, label, n, &vals[0]);
    }
    yaml_node_item_t *first = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    if (end - first < 1 || end - first > f->max_items)
        return recipe_fail(L, n, "%s must have 1 to %d numbers, got %d", label, f->max_items, (int)(end - first));
    char entries[64];
    snprintf(entries, sizeof entries, "%s entries", label);
    for (yaml_node_item_t *it = first; it < end; it++)
        if (read_real(L, f, entries, recipe_node(L, *it), &vals[it - first]))
            return KDC_ERR;
    *count = (int)(end - first);
    return KDC_OK;
}

static Status store_int(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                        const yaml_node_t *n)
{
    char got[QUOTE_MAX + 8], rg[64];
    const char *s = expect_scalar(L, label, "an integer", n);
    long long v = 0;
    if (!s)
        return KDC_ERR;
    NumParse p = recipe_parse_integer(s, &v);
    if (p == NUM_BAD)
        return recipe_fail(L, n, "%s must be an integer, got %s", label, recipe_describe(n, got, sizeof got));
    /* strtoll clamps a huge value to LLONG_MIN or LLONG_MAX, which the checks reject. */
    if (!in_range(&f->range, (double)v))
        return recipe_fail(L, n, "%s must be %s, got %s", label, range_text(&f->range, rg, sizeof rg), s);
    if (v > INT_MAX)
        return recipe_fail(L, n, "%s must be at most %d, got %s", label, INT_MAX, s);
    if (v < INT_MIN)
        return recipe_fail(L, n, "%s must be at least %d, got %s", label, INT_MIN, s);
    *(int *)slot(base, f->offset) = (int)v;
    return KDC_OK;
}

static Status store_u64(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                        const yaml_node_t *n)
{
    char got[QUOTE_MAX + 8];
    const char *s = expect_scalar(L, label, "a non-negative integer", n);
    if (!s)
        return KDC_ERR;
    const char *digits = s + (*s == '+');
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return recipe_fail(L, n, "%s must be a non-negative integer, got %s", label,
                           recipe_describe(n, got, sizeof got));
    errno = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (errno == ERANGE || v > UINT64_MAX)
        return recipe_fail(L, n, "%s must be at most %llu, got %s", label, (unsigned long long)UINT64_MAX, s);
    *(uint64_t *)slot(base, f->offset) = (uint64_t)v;
    return KDC_OK;
}

/* The index of the word n among choices (NULL-terminated), or -1 after reporting that it is
 * none of them. */
static int read_choice(const RecipeLoader *L, const char *const *choices, const char *label, const yaml_node_t *n)
{
    int n_choices = 0;
    while (choices[n_choices])
        n_choices++;
    char what[128] = "one of ", got[QUOTE_MAX + 8], hint[64] = "";
    recipe_join_names(what, sizeof what, choices, n_choices);
    const char *s = expect_scalar(L, label, what, n);
    if (!s)
        return -1;
    for (int i = 0; i < n_choices; i++)
        if (!strcmp(s, choices[i]))
            return i;
    const char *near = recipe_closest(s, choices, n_choices);
    if (near)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    recipe_fail(L, n, "%s must be %s, got %s%s", label, what, recipe_describe(n, got, sizeof got), hint);
    return -1;
}

static Status store_enum(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    int i = read_choice(L, f->choices, label, n);
    if (i < 0)
        return KDC_ERR;
    *(int *)slot(base, f->offset) = f->choice_values ? f->choice_values[i] : i;
    return KDC_OK;
}

static Status store_bool(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    static const char *const BOOLEANS[] = {"false", "true", NULL};
    int i = read_choice(L, BOOLEANS, label, n);
    if (i < 0)
        return KDC_ERR;
    *(bool *)slot(base, f->offset) = i == 1;
    return KDC_OK;
}

/* ---- names: globs and output names ---- */

/* Entry i of a list, or the node itself when it is a single value. */
static const yaml_node_t *entry(const RecipeLoader *L, const yaml_node_t *n, int i)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return n;
    return recipe_node(L, n->data.sequence.items.start[i]);
}

/* The text of a name, or NULL after reporting that n is not one. */
static const char *name_text(const RecipeLoader *L, const char *label, const yaml_node_t *n)
{
    char got[QUOTE_MAX + 8];
    const char *s = expect_scalar(L, label, "a name", n);
    if (!s)
        return NULL;
    if (!*s || strlen(s) != n->data.scalar.length) {
        recipe_fail(L, n, "%s must be a name, got %s", label, recipe_describe(n, got, sizeof got));
        return NULL;
    }
    return s;
}

/* One name, copied. */
static Status store_name(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    const char *s = name_text(L, label, n);
    if (!s)
        return KDC_ERR;
    char *copy = strdup(s);
    if (!copy)
        return recipe_fail(L, n, "out of memory");
    *(char **)slot(base, f->offset) = copy;
    return KDC_OK;
}

/* A name or a list of names, copied into one block: the pointers, then the texts. */
static Status store_names(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                          const yaml_node_t *n)
{
    bool list = n->type == YAML_SEQUENCE_NODE;
    if (!list && !expect_scalar(L, label, "a name or a list of names", n))
        return KDC_ERR;
    int count = list ? (int)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;
    char entries[96];
    snprintf(entries, sizeof entries, "%s entries", label);
    size_t bytes = 0;
    for (int i = 0; i < count; i++) {
        const char *s = name_text(L, list ? entries : label, entry(L, n, i));
        if (!s)
            return KDC_ERR;
        bytes += strlen(s) + 1;
    }
    if (count == 0)
        return KDC_OK;
    char **names = malloc((size_t)count * sizeof *names + bytes);
    if (!names)
        return recipe_fail(L, n, "out of memory");
    char *text = (char *)(names + count);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *e = entry(L, n, i);
        names[i] = memcpy(text, scalar_text(e), e->data.scalar.length + 1);
        text += e->data.scalar.length + 1;
    }
    *(const char *const **)slot(base, f->offset) = (const char *const *)names;
    *(int *)slot(base, f->count_offset) = count;
    return KDC_OK;
}

/* The position of an earlier key of the mapping n that equals pair p's key, if any. */
static bool earlier_key(const RecipeLoader *L, const yaml_node_t *n, const yaml_node_pair_t *p, SrcPos *at)
{
    const yaml_node_t *key = recipe_node(L, p->key);
    for (const yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
        const yaml_node_t *other = recipe_node(L, q->key);
        if (!strcmp(scalar_text(other), scalar_text(key))) {
            *at = recipe_pos(other);
            return true;
        }
    }
    return false;
}

/* Checks pair p of a width mapping and stores it in *w, its glob copied to text. */
static Status read_glob_width(const RecipeLoader *L, const SchemaField *f, const char *label, const yaml_node_t *n,
                              const yaml_node_pair_t *p, WidthOverride *w, char *text)
{
    char what[96], got[QUOTE_MAX + 8];
    const yaml_node_t *key = recipe_node(L, p->key);
    SrcPos first;
    snprintf(what, sizeof what, "each %s key", label);
    if (!name_text(L, what, key))
        return KDC_ERR;
    if (earlier_key(L, n, p, &first))
        return recipe_fail(L, key, "duplicate glob %s in %s (first given at %d:%d)",
                           recipe_describe(key, got, sizeof got), label, first.line, first.col);
    snprintf(what, sizeof what, "%s entry %s", label, recipe_describe(key, got, sizeof got));
    if (read_real(L, f, what, recipe_node(L, p->value), &w->width))
        return KDC_ERR;
    w->pattern = memcpy(text, scalar_text(key), key->data.scalar.length + 1);
    return KDC_OK;
}

/* A mapping of node-name glob -> width, in the file's order (the first match wins), copied
 * into one block: the WidthOverride array, then the globs. */
static Status store_glob_widths(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                                const yaml_node_t *n)
{
    char got[QUOTE_MAX + 8];
    if (n->type != YAML_MAPPING_NODE)
        return recipe_fail(L, n, "%s must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got %s",
                           label, recipe_describe(n, got, sizeof got));
    yaml_node_pair_t *first = n->data.mapping.pairs.start, *end = n->data.mapping.pairs.top;
    int count = (int)(end - first);
    size_t bytes = 0;
    for (yaml_node_pair_t *p = first; p < end; p++) {
        const yaml_node_t *key = recipe_node(L, p->key);
        bytes += key->type == YAML_SCALAR_NODE ? key->data.scalar.length + 1 : 0;
    }
    if (count == 0)
        return KDC_OK;
    WidthOverride *widths = malloc((size_t)count * sizeof *widths + bytes);
    if (!widths)
        return recipe_fail(L, n, "out of memory");
    char *text = (char *)(widths + count);
    for (int i = 0; i < count; i++) {
        if (read_glob_width(L, f, label, n, &first[i], &widths[i], text))
            goto fail;
        text += strlen(text) + 1;
    }
    *(const WidthOverride **)slot(base, f->offset) = widths;
    *(int *)slot(base, f->count_offset) = count;
    return KDC_OK;
fail:
    free(widths);
    return KDC_ERR;
}

/* ---- paths ---- */

char *recipe_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup("");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* A path written in the recipe: relative ones are taken from the recipe's folder. */
static char *resolve_path(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir[0])
        return strdup(p);
    size_t dlen = strlen(dir), size = dlen + strlen(p) + 2;
    char *s = malloc(size);
    if (s)
        snprintf(s, size, "%s%s%s", dir, dir[dlen - 1] == '/' ? "" : "/", p);
    return s;
}

const char *recipe_output_problem(const char *path, char *buf, size_t size)
{
    struct stat st;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
        snprintf(buf, size, "output path '%s' is a folder; name the .onnx file to write in it", path);
        return buf;
    }
    char *dir = recipe_path_dir(path);
    const char *shown = dir && *dir ? dir : ".";
    if (!dir)
        snprintf(buf, size, "out of memory");
    else if (stat(shown, &st) && errno == ENOENT)
        snprintf(buf, size, "output folder '%s' does not exist; create it or choose another path", shown);
    else if (stat(shown, &st))
        snprintf(buf, size, "output folder '%s' cannot be used: %s", shown, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        snprintf(buf, size, "output folder '%s' is not a folder", shown);
    else if (access(shown, W_OK))
        snprintf(buf, size, "output folder '%s' is not writable: %s", shown, strerror(errno));
    else
        buf = NULL;
    free(dir);
    return buf;
}

/* Why an existing file cannot be read, or NULL when it can. */
static const char *input_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st))
        return strerror(errno);
    if (S_ISDIR(st.st_mode))
        return strerror(EISDIR);
    if (access(path, R_OK))
        return strerror(errno);
    return NULL;
}

static Status store_path(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    const char *s = expect_scalar(L, label, "a file path", n);
    if (!s)
        return KDC_ERR;
    char *path = resolve_path(L->dir, s), why[512], note[sizeof why];
    if (!path)
        return recipe_fail(L, n, "out of memory");
    const char *problem = f->kind == FIELD_FILE_IN ? input_problem(path) : recipe_output_problem(path, why, sizeof why);
    if (problem) {
        note[0] = '\0';
        if (strcmp(path, s))
            snprintf(note, sizeof note, " (that is '%s', relative to the recipe's folder)", path);
        if (f->kind == FIELD_FILE_IN)
            recipe_fail(L, n, "cannot read %s file '%s'%s: %s", label, s, note, problem);
        else
            recipe_fail(L, n, "%s", problem);
        free(path);
        return KDC_ERR;
    }
    *(char **)slot(base, f->offset) = path;
    return KDC_OK;
}

Status recipe_store_leaf(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n)
{
    switch (f->kind) {
    case FIELD_INT:
        return store_int(L, f, base, label, n);
    case FIELD_U64:
        return store_u64(L, f, base, label, n);
    case FIELD_REAL:
        return store_real(L, f, base, label, n);
    case FIELD_REAL_LIST:
        return store_real_list(L, f, base, label, n);
    case FIELD_ENUM:
        return store_enum(L, f, base, label, n);
    case FIELD_BOOL:
        return store_bool(L, f, base, label, n);
    case FIELD_NAME:
        return store_name(L, f, base, label, n);
    case FIELD_NAMES:
        return store_names(L, f, base, label, n);
    case FIELD_GLOB_WIDTHS:
        return store_glob_widths(L, f, base, label, n);
    case FIELD_FILE_IN:
    case FIELD_FILE_OUT:
        return store_path(L, f, base, label, n);
    case FIELD_MAP:
    case FIELD_MAP_ENABLE:
    case FIELD_LIST:
    case FIELD_AUTO_LIST:
        break;
    }
    assert(!"recipe_store_leaf: not a leaf kind");
    return KDC_ERR;
}
