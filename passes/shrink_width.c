/* shrink_width.c - the width shrink (pass_shrink_width*): how many units each
 * channel group keeps, which ones, and the report.
 *
 * Counts: each prunable group keeps max(1, round(width * size)) units, where
 * width is the first override whose glob matches a node that created the
 * group, else the global width; counts round up to multiples of round_to
 * (never past the group's size); groups of protected nodes keep all units.
 * Under a params or MACs budget the global width is searched (bisection on
 * the static cost model of channel_groups_cost, which counts exactly as
 * ir/stats.h does) for the student closest to the budget. Which units: the
 * highest ranked by the importance scores (ties: lower index first).
 * The analysis and the rewrite live in channel_groups*.c.
 */
#include "passes/channel_groups.h"
#include "passes/passes.h"


#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counts ---- */

static bool matches(const ChannelGroups *cg, int i, const char *pattern)
{
    const Node *nodes[64];
    int n = channel_groups_origins(cg, i, nodes, 64);
    for (int k = 0; k < n; k++) {
        const char *name = nodes[k]->name && *nodes[k]->name ? nodes[k]->name : NULL;
        const char *out = nodes[k]->n_outputs && nodes[k]->outputs[0] ? nodes[k]->outputs[0]->name : NULL;
        if ((name && !fnmatch(pattern, name, 0)) || (out && !fnmatch(pattern, out, 0)))
            return true;
    }
    return false;
}

static bool protected_group(const ChannelGroups *cg, int i, const StudentOptions *o)
{
    for (int k = 0; k < o->n_protect; k++)
        if (matches(cg, i, o->protect[k]))
            return true;
    return false;
}

static int64_t count_for(const ChannelGroups *cg, int i, const StudentOptions *o, double width)
{
    const ChannelGroup *grp = channel_groups_get(cg, i);
    if (grp->frozen || protected_group(cg, i, o))
        return grp->size;
    for (int k = 0; k < o->n_overrides; k++)
        if (matches(cg, i, o->overrides[k].pattern)) {
            width = o->overrides[k].width;
            break;
        }
    int64_t n = (int64_t)floor(width * (double)grp->size + 0.5), step = o->round_to > 1 ? (int64_t)o->round_to : 1;
    n = (n + step - 1) / step * step;
    return n < 1 ? 1 : n > grp->size ? grp->size : n;
}

static void counts_for(const ChannelGroups *cg, const StudentOptions *o, double width, int64_t *n_kept)
{
    for (int i = 0; i < channel_groups_count(cg); i++)
        n_kept[i] = count_for(cg, i, o, width);
}

static int64_t budget_cost(const ChannelGroups *cg, const StudentOptions *o, const int64_t *n_kept)
{
    int64_t params, macs;
    channel_groups_cost(cg, n_kept, &params, &macs);
    return o->params > 0 ? params : macs;
}

/* The width whose student is closest to the budget (bisection: cost grows with width). */
static Status search_width(const ChannelGroups *cg, const StudentOptions *o, int64_t *n_kept, double *width, Diag *d)
{
    const char *what = o->params > 0 ? "params" : "macs";
    double frac = o->params > 0 ? o->params : o->macs, lo = 0, hi = 1;
    int64_t teacher = budget_cost(cg, o, NULL), target = (int64_t)llround(frac * (double)teacher);
    counts_for(cg, o, 0, n_kept);
    int64_t smallest = budget_cost(cg, o, n_kept);
    if (smallest > target)
        return diag_error(d, "the budget %s %g cannot be met: the smallest student kdc can derive keeps %.3g of the "
                             "teacher's %s (the rest is in layers that keep full width)",
                          what, frac, (double)smallest / (double)teacher, what);
    for (int it = 0; it < 50; it++) {
        double mid = (lo + hi) / 2;
        counts_for(cg, o, mid, n_kept);
        if (budget_cost(cg, o, n_kept) > target)
            hi = mid;
        else
            lo = mid;
    }
    int64_t under, over;
    counts_for(cg, o, lo, n_kept);
    under = budget_cost(cg, o, n_kept);
    counts_for(cg, o, hi, n_kept);
    over = budget_cost(cg, o, n_kept);
    *width = over - target < target - under ? hi : lo;
    counts_for(cg, o, *width, n_kept);
    return KDC_OK;
}

/* ---- which units ---- */

typedef struct Ranked {
    double score;
    int64_t index;
} Ranked;

static int by_score(const void *pa, const void *pb)
{
    const Ranked *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int by_index(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

static Status pick_units(const double *scores, int64_t size, int64_t n, int64_t *kept)
{
    Ranked *r = malloc((size_t)size * sizeof *r);
    if (!r)
        return KDC_ERR;
    for (int64_t u = 0; u < size; u++)
        r[u] = (Ranked){scores[u], u};
    qsort(r, (size_t)size, sizeof *r, by_score);
    for (int64_t u = 0; u < n; u++)
        kept[u] = r[u].index;
    qsort(kept, (size_t)n, sizeof *kept, by_index);
    free(r);
    return KDC_OK;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool all_zero(const double *s, int64_t n)
{
    for (int64_t u = 0; u < n; u++)
        if (s[u] != 0)
            return false;
    return true;
}

/* BatchNormalization |gamma|, and L1 for groups without one. */
static Status bn_scores(const ChannelGroups *cg, double *const *scores)
{
    double **l1 = channel_groups_scores_new(cg);
    if (!l1)
        return KDC_ERR;
    channel_groups_score_weights(cg, 1, true, scores);
    channel_groups_score_weights(cg, 1, false, l1);
    for (int i = 0; i < channel_groups_count(cg); i++) {
        int64_t size = channel_groups_get(cg, i)->size;
        if (all_zero(scores[i], size))
            memcpy(scores[i], l1[i], (size_t)size * sizeof **l1);
    }
    channel_groups_scores_free(cg, l1);
    return KDC_OK;
}

/* Scores from the weights (or random), as o->importance asks. */
static Status weight_scores(const ChannelGroups *cg, const StudentOptions *o, double *const *scores, Diag *d)
{
    switch (o->importance) {
    case IMPORTANCE_RANDOM: {
        uint64_t s = o->seed;
        for (int i = 0; i < channel_groups_count(cg); i++)
            for (int64_t u = 0; u < channel_groups_get(cg, i)->size; u++)
                scores[i][u] = (double)(splitmix(&s) >> 11);
        return KDC_OK;
    }
    case IMPORTANCE_BN_SCALE:
        return bn_scores(cg, scores) ? diag_error(d, "out of memory") : KDC_OK;
    case IMPORTANCE_L1:
    case IMPORTANCE_L2:
        channel_groups_score_weights(cg, o->importance == IMPORTANCE_L2 ? 2 : 1, false, scores);
        return KDC_OK;
    default:
        return diag_error(d, "importance '%s' is measured on calibration data: give the scores (kdc shrink --calib)",
                          o->importance == IMPORTANCE_TAYLOR ? "taylor" : "activation");
    }
}

/* ---- report ---- */

/* Layers whose units stay whole because of protect glob p (they keep every
 * unit when only frozen groups and the groups p protects do) are not hidden. */
static Status mark_protected(const ChannelGroups *cg, const Graph *g, const StudentOptions *o, WidthReport *r)
{
    int n = channel_groups_count(cg);
    int64_t *floor_kept = malloc(((size_t)n + 1) * sizeof *floor_kept);
    if (!floor_kept)
        return KDC_ERR;
    for (int p = 0; p < o->n_protect; p++) {
        for (int i = 0; i < n; i++) {
            const ChannelGroup *grp = channel_groups_get(cg, i);
            floor_kept[i] = grp->frozen || matches(cg, i, o->protect[p]) ? grp->size : 1;
        }
        for (int k = 0; k < r->n_layers; k++) { /* layer k is probe k */
            WidthLayer *l = &r->layers[k];
            if (!l->hidden || channel_groups_probe_units(cg, k, floor_kept) != l->units)
                continue;
            char why[300];
            snprintf(why, sizeof why, "protected by '%s'", o->protect[p]);
            l->hidden = false;
            l->why = arena_strdup(g->arena, why);
        }
    }
    free(floor_kept);
    return KDC_OK;
}

static Status fill_report(const ChannelGroups *cg, const Graph *g, const StudentOptions *o, const int64_t *n_kept,
                          double width, WidthReport *r)
{
    int n = channel_groups_probe_count(cg);
    r->layers = arena_alloc(g->arena, (size_t)(n ? n : 1) * sizeof *r->layers);
    r->n_layers = 0;
    for (int k = 0; k < n; k++) {
        const Node *node = channel_groups_probe_layer(cg, k);
        WidthLayer *l = &r->layers[r->n_layers++];
        *l = (WidthLayer){.name = node->name && *node->name ? node->name : node->outputs[0]->name,
                          .op_type = node->op_type};
        l->hidden = channel_groups_probe_prunable(cg, k, &l->why);
        l->units = channel_groups_probe_units(cg, k, NULL);
        l->kept_units = channel_groups_probe_units(cg, k, n_kept);
        channel_groups_node_cost(cg, node, NULL, &l->params, &l->macs);
        channel_groups_node_cost(cg, node, n_kept, &l->kept_params, &l->kept_macs);
    }
    channel_groups_cost(cg, NULL, &r->params, &r->macs);
    channel_groups_cost(cg, n_kept, &r->kept_params, &r->kept_macs);
    r->width = width;
    return mark_protected(cg, g, o, r);
}

/* ---- the pass ---- */

static Status check_options(const StudentOptions *o, Diag *d)
{
    if (o->params > 0 && o->macs > 0)
        return diag_error(d, "give one budget: params or macs, not both");
    if (o->params < 0 || o->params > 1 || o->macs < 0 || o->macs > 1)
        return diag_error(d, "a budget must be a fraction of the teacher in (0, 1]");
    if (!(o->params > 0 || o->macs > 0) && !(o->width > 0 && o->width <= 1))
        return diag_error(d, "width must be in (0, 1], got %g", o->width);
    for (int k = 0; k < o->n_overrides; k++)
        if (!(o->overrides[k].width > 0 && o->overrides[k].width <= 1))
            return diag_error(d, "width for '%s' must be in (0, 1], got %g", o->overrides[k].pattern,
                              o->overrides[k].width);
    return KDC_OK;
}

static Status choose_units(const ChannelGroups *cg, const StudentOptions *o, double *const *scores, int64_t **kept,
                           int64_t *n_kept, double *width, Diag *d)
{
    *width = o->width;
    if (o->params > 0 || o->macs > 0) {
        if (search_width(cg, o, n_kept, width, d))
            return KDC_ERR;
    } else {
        counts_for(cg, o, o->width, n_kept);
    }
    for (int i = 0; i < channel_groups_count(cg); i++) {
        kept[i] = malloc((size_t)n_kept[i] * sizeof **kept);
        if (!kept[i] || pick_units(scores[i], channel_groups_get(cg, i)->size, n_kept[i], kept[i]))
            return diag_error(d, "out of memory");
    }
    return KDC_OK;
}

Status pass_shrink_width_scored(Graph *g, const ChannelGroups *cg, const StudentOptions *o, double *const *scores_in,
                                WidthReport *report, Diag *d)
{
    int n = channel_groups_count(cg);
    Status st = KDC_ERR;
    double width = o->width;
    double **own = scores_in ? NULL : channel_groups_scores_new(cg);
    int64_t **kept = calloc((size_t)n + 1, sizeof *kept), *n_kept = calloc((size_t)n + 1, sizeof *n_kept);
    if (check_options(o, d))
        goto fail;
    if (!kept || !n_kept || (!scores_in && !own)) {
        diag_error(d, "out of memory");
        goto fail;
    }
    if (!scores_in && weight_scores(cg, o, own, d))
        goto fail;
    if (choose_units(cg, o, scores_in ? scores_in : own, kept, n_kept, &width, d))
        goto fail;
    if (report && fill_report(cg, g, o, n_kept, width, report)) {
        diag_error(d, "out of memory");
        goto fail;
    }
    st = channel_groups_apply(g, cg, kept, n_kept, d);
fail:
    for (int i = 0; kept && i < n; i++)
        free(kept[i]);
    free(kept);
    free(n_kept);
    channel_groups_scores_free(cg, own);
    return st;
}

Status pass_shrink_width_report(Graph *g, const StudentOptions *o, WidthReport *report, Diag *d)
{
    ChannelGroups *cg = NULL;
    if (channel_groups_build_free(g, o->free_outputs, o->n_free_outputs, &cg, d))
        return KDC_ERR;
    Status st = pass_shrink_width_scored(g, cg, o, NULL, report, d);
    channel_groups_free(cg);
    return st;
}

Status pass_shrink_width(Graph *g, const StudentOptions *o, Diag *d)
{
    return pass_shrink_width_report(g, o, NULL, d);
}
