/* channel_groups.c - the classes of the channel analysis (see
 * channel_groups_impl.h): union-find with structure, freezing, refinement,
 * index masks and score spreading; and the public accessors of
 * channel_groups.h. Out of memory during the analysis sets cg->failed and the
 * build reports it; the functions here never fail otherwise.
 */
#include "passes/channel_groups_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growing arrays ---- */

static bool grow(ChannelGroups *cg, void **items, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return true;
    int n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*items, (size_t)n * size);
    if (!p) {
        cg->failed = true;
        return false;
    }
    *items = p;
    *cap = n;
    return true;
}

static int new_class(ChannelGroups *cg, ClassKind kind, int64_t size)
{
    if (!grow(cg, (void **)&cg->cls, &cg->cap_cls, cg->n_cls + 1, sizeof *cg->cls))
        return CG_NONE;
    int id = cg->n_cls++;
    cg->cls[id] = (ChClass){.parent = id, .kind = kind, .size = size};
    return id;
}

int cg_new_atom(ChannelGroups *cg, int64_t size, const Node *origin)
{
    if (size < 1) /* an unknown dim carries nothing kdc can follow */
        return CG_NONE;
    int c = new_class(cg, CLS_ATOM, size);
    if (c != CG_NONE)
        cg->cls[c].origin = origin;
    return c;
}

int cg_new_fixed(ChannelGroups *cg, int64_t size, const char *why)
{
    if (size < 1)
        return CG_NONE;
    int c = new_class(cg, CLS_ATOM, size);
    if (c != CG_NONE) {
        cg->cls[c].frozen = true;
        cg->cls[c].why = why;
    }
    return c;
}

static bool set_parts(ChannelGroups *cg, int c, ClassKind kind, const int *parts, int n)
{
    int *p = malloc((size_t)n * sizeof *p);
    if (!p) {
        cg->failed = true;
        return false;
    }
    memcpy(p, parts, (size_t)n * sizeof *p);
    free(cg->cls[c].parts);
    cg->cls[c].kind = kind;
    cg->cls[c].parts = p;
    cg->cls[c].n_parts = n;
    return true;
}

int cg_new_struct(ChannelGroups *cg, ClassKind kind, const int *parts, int n)
{
    for (int i = 0; i < n; i++)
        if (parts[i] == CG_NONE) { /* a part of unknown size: the whole stays as it is */
            for (int k = 0; k < n; k++)
                cg_freeze(cg, parts[k], "a structure with a dim of unknown size");
            return CG_NONE;
        }
    if (n == 1)
        return parts[0];
    int64_t size = kind == CLS_CONCAT ? 0 : 1;
    for (int i = 0; i < n; i++)
        size = kind == CLS_CONCAT ? size + cg->cls[cg_find(cg, parts[i])].size
                                  : size * cg->cls[cg_find(cg, parts[i])].size;
    int c = new_class(cg, kind, size);
    if (c != CG_NONE && !set_parts(cg, c, kind, parts, n))
        return CG_NONE;
    return c;
}

int cg_find(ChannelGroups *cg, int c)
{
    while (cg->cls[c].parent != c) {
        cg->cls[c].parent = cg->cls[cg->cls[c].parent].parent;
        c = cg->cls[c].parent;
    }
    return c;
}

/* ---- freezing and unification ---- */

void cg_freeze(ChannelGroups *cg, int c, const char *why)
{
    if (c == CG_NONE)
        return;
    ChClass *k = &cg->cls[cg_find(cg, c)];
    if (k->kind == CLS_ATOM) {
        if (!k->frozen)
            k->why = why;
        k->frozen = true;
        return;
    }
    for (int i = 0; i < k->n_parts; i++)
        cg_freeze(cg, k->parts[i], why);
}

static bool same_structure(ChannelGroups *cg, const ChClass *a, const ChClass *b)
{
    if (a->kind != b->kind || a->n_parts != b->n_parts)
        return false;
    for (int i = 0; i < a->n_parts; i++)
        if (cg->cls[cg_find(cg, a->parts[i])].size != cg->cls[cg_find(cg, b->parts[i])].size)
            return false;
    return true;
}

/* Links atom a under class b (which takes a's frozen state). */
static void link_atom(ChannelGroups *cg, int a, int b)
{
    if (cg->cls[a].frozen)
        cg_freeze(cg, b, cg->cls[a].why);
    else if (cg->cls[b].kind == CLS_ATOM && cg->cls[b].frozen)
        cg->cls[a].why = cg->cls[b].why;
    cg->cls[a].parent = b;
}

void cg_unify(ChannelGroups *cg, int a, int b, const Node *at)
{
    if (a == CG_NONE || b == CG_NONE)
        return;
    a = cg_find(cg, a);
    b = cg_find(cg, b);
    if (a == b)
        return;
    ChClass *A = &cg->cls[a], *B = &cg->cls[b];
    if (A->size != B->size) { /* the rules never ask this; stay safe */
        const char *why = cg_reason(cg, at, "couples %lld and %lld channels", (long long)A->size, (long long)B->size);
        cg_freeze(cg, a, why);
        cg_freeze(cg, b, why);
        return;
    }
    if (A->kind == CLS_ATOM) {
        link_atom(cg, a, b);
        return;
    }
    if (B->kind == CLS_ATOM) {
        link_atom(cg, b, a);
        return;
    }
    if (!same_structure(cg, A, B)) {
        const char *why = cg_reason(cg, at, "joins channels laid out differently");
        cg_freeze(cg, a, why);
        cg_freeze(cg, b, why);
        A->parent = b;
        return;
    }
    A->parent = b;
    for (int i = 0; i < A->n_parts; i++)
        cg_unify(cg, A->parts[i], B->parts[i], at);
}

/* ---- refinement ---- */

static bool refine_atom(ChannelGroups *cg, int c, ClassKind kind, const int64_t *sizes, int n, int *out)
{
    const ChClass k = cg->cls[c];
    for (int i = 0; i < n; i++) {
        /* the last factor of a product is kept whole (a head's dims, a group's channels) */
        bool inner = kind == CLS_PRODUCT && i == n - 1;
        out[i] = k.frozen || inner ? cg_new_fixed(cg, sizes[i], k.frozen ? k.why : "the inner factor of a split axis")
                                   : cg_new_atom(cg, sizes[i], k.origin);
        if (out[i] == CG_NONE)
            return false;
    }
    return set_parts(cg, c, kind, out, n);
}

/* Boundaries of a concatenation's parts, and where the requested pieces
 * start: each piece must cover whole parts, else the parts are refined. */
static bool refine_concat_parts(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *pieces)
{
    ChClass k = cg->cls[c];
    int64_t cut = 0;
    int piece = 0, first = 0;
    int64_t part_start = 0, piece_end = sizes[0];
    for (int i = 0; i < k.n_parts && piece < n; i++) {
        int64_t part_size = cg->cls[cg_find(cg, k.parts[i])].size, part_end = part_start + part_size;
        if (piece_end < part_end) /* a piece ends inside this part */
            return false;
        if (piece_end == part_end) {
            pieces[piece] = cg_new_struct(cg, CLS_CONCAT, k.parts + first, i - first + 1);
            first = i + 1;
            cut = part_end;
            if (++piece < n)
                piece_end = cut + sizes[piece];
        }
        part_start = part_end;
    }
    return piece == n;
}

/* product(f0, rest) cut where whole rows of rest end: f0 is cut and the
 * product becomes concat(product(f0 piece, rest)...) (a channel shuffle's
 * interleaved channels, chunked again). */
static bool product_as_concat(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *pieces, const Node *at)
{
    ChClass k = cg->cls[c];
    int64_t outer = cg->cls[cg_find(cg, k.parts[0])].size, inner = k.size / outer, rows[64] = {0};
    int heads[64], parts[IR_MAX_RANK + 1];
    if (n > 64 || k.n_parts > IR_MAX_RANK)
        return false;
    for (int i = 0; i < n; i++) {
        if (sizes[i] % inner)
            return false;
        rows[i] = sizes[i] / inner;
    }
    if (!cg_refine_concat(cg, k.parts[0], rows, n, heads, at))
        return false;
    for (int i = 0; i < n; i++) {
        parts[0] = heads[i];
        memcpy(parts + 1, k.parts + 1, (size_t)(k.n_parts - 1) * sizeof *parts);
        if ((pieces[i] = cg_new_struct(cg, CLS_PRODUCT, parts, k.n_parts)) == CG_NONE)
            return false;
    }
    return set_parts(cg, c, CLS_CONCAT, pieces, n);
}

bool cg_refine_concat(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *pieces, const Node *at)
{
    c = cg_find(cg, c);
    if (n == 1) {
        pieces[0] = c;
        return true;
    }
    if (cg->cls[c].kind == CLS_ATOM)
        return refine_atom(cg, c, CLS_CONCAT, sizes, n, pieces);
    if (cg->cls[c].kind == CLS_CONCAT && refine_concat_parts(cg, c, sizes, n, pieces))
        return true;
    if (cg->cls[c].kind == CLS_PRODUCT && product_as_concat(cg, c, sizes, n, pieces, at))
        return true;
    cg_freeze(cg, c, cg_reason(cg, at, "splits channels across a structure kdc cannot follow"));
    return false;
}

/* concat(P1..Pk) of equal parts split as (k, size): one class P, product(k, P). */
static bool concat_as_product(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *factors, const Node *at)
{
    ChClass *k = &cg->cls[c];
    if (n != 2 || k->n_parts != sizes[0])
        return false;
    for (int i = 1; i < k->n_parts; i++)
        cg_unify(cg, k->parts[0], k->parts[i], at);
    int p = cg_find(cg, cg->cls[c].parts[0]);
    if (cg->cls[p].size != sizes[1])
        return false;
    int fixed = cg_new_fixed(cg, sizes[0], "the outer factor of a channel shuffle");
    if (fixed == CG_NONE)
        return false;
    factors[0] = fixed;
    factors[1] = p;
    return set_parts(cg, c, CLS_PRODUCT, factors, 2);
}

bool cg_refine_product(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *factors, const Node *at)
{
    c = cg_find(cg, c);
    if (n == 1) {
        factors[0] = c;
        return true;
    }
    ChClass *k = &cg->cls[c];
    if (k->kind == CLS_ATOM)
        return refine_atom(cg, c, CLS_PRODUCT, sizes, n, factors);
    if (k->kind == CLS_PRODUCT && k->n_parts == n) {
        bool same = true;
        for (int i = 0; i < n; i++)
            same = same && cg->cls[cg_find(cg, k->parts[i])].size == sizes[i];
        if (same) {
            memcpy(factors, k->parts, (size_t)n * sizeof *factors);
            return true;
        }
    }
    if (k->kind == CLS_CONCAT && concat_as_product(cg, c, sizes, n, factors, at))
        return true;
    cg_freeze(cg, c, cg_reason(cg, at, "reshapes channels in a way kdc cannot follow"));
    return false;
}

/* ---- masks, sizes, scores ---- */

static int64_t list_size(ChannelGroups *cg, ClassKind kind, const int *parts, int n)
{
    int64_t size = kind == CLS_CONCAT ? 0 : 1;
    for (int i = 0; i < n; i++) {
        int64_t s = cg->cls[cg_find(cg, parts[i])].size;
        size = kind == CLS_CONCAT ? size + s : size * s;
    }
    return size;
}

static void mask_list(ChannelGroups *cg, ClassKind kind, const int *parts, int n, bool *const *keep, bool *mask)
{
    if (n == 1) {
        cg_mask(cg, parts[0], keep, mask);
        return;
    }
    if (kind == CLS_CONCAT) {
        for (int i = 0; i < n; i++) {
            cg_mask(cg, parts[i], keep, mask);
            mask += cg->cls[cg_find(cg, parts[i])].size;
        }
        return;
    }
    /* product: entry (i0, rest) is kept when both parts are */
    int64_t outer = cg->cls[cg_find(cg, parts[0])].size, inner = list_size(cg, kind, parts + 1, n - 1);
    bool *head = malloc((size_t)outer), *tail = malloc((size_t)inner);
    if (!head || !tail) {
        cg->failed = true;
        memset(mask, 1, (size_t)(outer * inner));
    } else {
        cg_mask(cg, parts[0], keep, head);
        mask_list(cg, kind, parts + 1, n - 1, keep, tail);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++)
                mask[o * inner + i] = head[o] && tail[i];
    }
    free(head);
    free(tail);
}

void cg_mask(ChannelGroups *cg, int c, bool *const *atom_keep, bool *mask)
{
    c = cg_find(cg, c);
    const ChClass *k = &cg->cls[c];
    if (k->kind != CLS_ATOM) {
        mask_list(cg, k->kind, k->parts, k->n_parts, atom_keep, mask);
        return;
    }
    int grp = cg->cls_group[c];
    for (int64_t u = 0; u < k->size; u++)
        mask[u] = grp < 0 || !atom_keep || atom_keep[grp][u];
}

int64_t cg_kept_size(ChannelGroups *cg, int c, const int64_t *n_kept)
{
    c = cg_find(cg, c);
    const ChClass *k = &cg->cls[c];
    if (k->kind == CLS_ATOM)
        return n_kept && cg->cls_group[c] >= 0 ? n_kept[cg->cls_group[c]] : k->size;
    int64_t n = k->kind == CLS_CONCAT ? 0 : 1;
    for (int i = 0; i < k->n_parts; i++) {
        int64_t s = cg_kept_size(cg, k->parts[i], n_kept);
        n = k->kind == CLS_CONCAT ? n + s : n * s;
    }
    return n;
}

static void spread_list(ChannelGroups *cg, ClassKind kind, const int *parts, int n, const double *per_index,
                        double *const *scores)
{
    if (n == 1) {
        cg_spread_scores(cg, parts[0], per_index, scores);
        return;
    }
    if (kind == CLS_CONCAT) {
        for (int i = 0; i < n; i++) {
            cg_spread_scores(cg, parts[i], per_index, scores);
            per_index += cg->cls[cg_find(cg, parts[i])].size;
        }
        return;
    }
    /* product: each factor gets the marginal sums over the others */
    int64_t outer = cg->cls[cg_find(cg, parts[0])].size, inner = list_size(cg, kind, parts + 1, n - 1);
    double *head = calloc((size_t)outer, sizeof *head), *tail = calloc((size_t)inner, sizeof *tail);
    if (head && tail) {
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                head[o] += per_index[o * inner + i];
                tail[i] += per_index[o * inner + i];
            }
        cg_spread_scores(cg, parts[0], head, scores);
        spread_list(cg, kind, parts + 1, n - 1, tail, scores);
    } else {
        cg->failed = true;
    }
    free(head);
    free(tail);
}

void cg_spread_scores(ChannelGroups *cg, int c, const double *per_index, double *const *scores)
{
    c = cg_find(cg, c);
    const ChClass *k = &cg->cls[c];
    if (k->kind != CLS_ATOM) {
        spread_list(cg, k->kind, k->parts, k->n_parts, per_index, scores);
        return;
    }
    int grp = cg->cls_group[c];
    for (int64_t u = 0; grp >= 0 && u < k->size; u++)
        scores[grp][u] += per_index[u];
}

/* ---- records ---- */

const char *cg_node_label(const Node *n)
{
    if (!n)
        return "?";
    if (n->name && *n->name)
        return n->name;
    return n->n_outputs > 0 && n->outputs[0] ? n->outputs[0]->name : "?";
}

char *cg_reason(ChannelGroups *cg, const Node *n, const char *fmt, ...)
{
    char buf[512];
    int k = n ? snprintf(buf, sizeof buf, "%s '%s' ", n->op_type, cg_node_label(n)) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    return arena_strdup(cg->g->arena, buf);
}

void cg_add_member(ChannelGroups *cg, Value *tensor, int axis, int cls)
{
    Node *n = cg->at;
    int slot = 0;
    if (cls == CG_NONE || !n)
        return;
    while (slot < n->n_inputs && n->inputs[slot] != tensor)
        slot++;
    for (int i = 0; i < cg->n_members; i++) { /* one reader, one class per axis */
        ChMember *m = &cg->members[i];
        if (m->tensor == tensor && m->reader == n && m->slot == slot && m->axis == axis) {
            cg_unify(cg, m->cls, cls, n);
            return;
        }
    }
    if (grow(cg, (void **)&cg->members, &cg->cap_members, cg->n_members + 1, sizeof *cg->members))
        cg->members[cg->n_members++] = (ChMember){tensor, n, slot, axis, cls};
}

void cg_add_rewrite(ChannelGroups *cg, ChRewrite rw)
{
    if (grow(cg, (void **)&cg->rewrites, &cg->cap_rewrites, cg->n_rewrites + 1, sizeof *cg->rewrites))
        cg->rewrites[cg->n_rewrites++] = rw;
}

void cg_add_probe(ChannelGroups *cg, const Value *v, int axis, int cls)
{
    if (grow(cg, (void **)&cg->probes, &cg->cap_probes, cg->n_probes + 1, sizeof *cg->probes))
        cg->probes[cg->n_probes++] = (ChProbe){v->producer, v, axis, cls};
}

int cg_axis(const ChannelGroups *cg, const Value *v, int axis)
{
    if (!v || v->graph != cg->g || axis < 0 || !cg->axes[v->id])
        return CG_NONE;
    return cg->axes[v->id][axis];
}

void cg_set_axis(ChannelGroups *cg, const Value *v, int axis, int cls)
{
    if (!v || v->graph != cg->g || v->shape.rank <= 0 || axis >= v->shape.rank)
        return;
    if (!cg->axes[v->id]) {
        cg->axes[v->id] = malloc((size_t)v->shape.rank * sizeof(int));
        if (!cg->axes[v->id]) {
            cg->failed = true;
            return;
        }
        for (int i = 0; i < v->shape.rank; i++)
            cg->axes[v->id][i] = CG_NONE;
    }
    cg->axes[v->id][axis] = cls;
}

/* ---- public ---- */

static bool collect_groups(ChannelGroups *cg)
{
    cg->cls_group = malloc((size_t)(cg->n_cls ? cg->n_cls : 1) * sizeof(int));
    cg->group_cls = malloc((size_t)(cg->n_cls ? cg->n_cls : 1) * sizeof(int));
    cg->groups = calloc((size_t)(cg->n_cls ? cg->n_cls : 1), sizeof *cg->groups);
    if (!cg->cls_group || !cg->group_cls || !cg->groups)
        return false;
    for (int c = 0; c < cg->n_cls; c++) {
        const ChClass *k = &cg->cls[c];
        cg->cls_group[c] = -1;
        if (k->parent != c || k->kind != CLS_ATOM)
            continue;
        cg->group_cls[cg->n_groups] = c;
        cg->cls_group[c] = cg->n_groups;
        cg->groups[cg->n_groups++] = (ChannelGroup){k->size, k->frozen || k->size < 2, k->why, k->origin, 0};
    }
    for (int c = 0; c < cg->n_cls; c++) /* origins of atoms merged into each group */
        if (cg->cls[c].kind == CLS_ATOM && cg->cls[c].origin && cg->cls[cg_find(cg, c)].kind == CLS_ATOM) {
            ChannelGroup *grp = &cg->groups[cg->cls_group[cg_find(cg, c)]];
            grp->n_origins++;
            if (!grp->origin)
                grp->origin = cg->cls[c].origin;
        }
    return true;
}

static Status check_free_outputs(const Graph *g, const char *const *names, int n, Diag *d)
{
    for (int k = 0; k < n; k++) {
        bool found = false;
        for (int i = 0; i < g->n_outputs && !found; i++)
            found = !strcmp(g->outputs[i]->name, names[k]);
        if (!found) {
            char list[512] = "";
            for (int i = 0, at = 0; i < g->n_outputs && at < (int)sizeof list; i++)
                at += snprintf(list + at, sizeof list - (size_t)at, "%s%s", i ? ", " : "", g->outputs[i]->name);
            return diag_error(d, "the model has no output '%s' (its outputs: %s)", names[k], list);
        }
    }
    return KDC_OK;
}

Status channel_groups_build(Graph *g, ChannelGroups **out, Diag *d)
{
    return channel_groups_build_free(g, NULL, 0, out, d);
}

Status channel_groups_build_free(Graph *g, const char *const *free_outputs, int n_free, ChannelGroups **out,
                                 Diag *d)
{
    if (check_free_outputs(g, free_outputs, n_free, d))
        return KDC_ERR;
    ChannelGroups *cg = calloc(1, sizeof *cg);
    if (!cg || !(cg->axes = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *cg->axes))) {
        free(cg);
        return diag_error(d, "out of memory");
    }
    cg->g = g;
    cg->n_values = g->n_values;
    cg->free_outputs = free_outputs;
    cg->n_free = n_free;
    cg_analyse(cg);
    if (cg->failed || !collect_groups(cg)) {
        channel_groups_free(cg);
        return diag_error(d, "out of memory analysing channel groups");
    }
    *out = cg;
    return KDC_OK;
}

void channel_groups_free(ChannelGroups *cg)
{
    if (!cg)
        return;
    for (int c = 0; c < cg->n_cls; c++)
        free(cg->cls[c].parts);
    for (int v = 0; v < cg->n_values; v++)
        free(cg->axes[v]);
    free(cg->axes);
    free(cg->cls);
    free(cg->members);
    free(cg->rewrites);
    free(cg->probes);
    free(cg->cls_group);
    free(cg->group_cls);
    free(cg->groups);
    free(cg);
}

int channel_groups_count(const ChannelGroups *cg)
{
    return cg->n_groups;
}

const ChannelGroup *channel_groups_get(const ChannelGroups *cg, int i)
{
    return &cg->groups[i];
}

int channel_groups_origins(const ChannelGroups *cg, int i, const Node **nodes, int max)
{
    int n = 0, root = cg->group_cls[i];
    ChannelGroups *m = (ChannelGroups *)cg; /* cg_find compresses paths only */
    if (cg->groups[i].origin && max > 0)
        nodes[n++] = cg->groups[i].origin;
    for (int c = 0; c < cg->n_cls && n < max; c++)
        if (cg->cls[c].kind == CLS_ATOM && cg->cls[c].origin && cg->cls[c].origin != cg->groups[i].origin &&
            cg_find(m, c) == root)
            nodes[n++] = cg->cls[c].origin;
    return n;
}

double **channel_groups_scores_new(const ChannelGroups *cg)
{
    double **s = calloc((size_t)cg->n_groups + 1, sizeof *s);
    for (int i = 0; s && i < cg->n_groups; i++)
        if (!(s[i] = calloc((size_t)cg->groups[i].size, sizeof **s))) {
            channel_groups_scores_free(cg, s);
            return NULL;
        }
    return s;
}

void channel_groups_scores_free(const ChannelGroups *cg, double **scores)
{
    for (int i = 0; scores && i < cg->n_groups; i++)
        free(scores[i]);
    free(scores);
}
