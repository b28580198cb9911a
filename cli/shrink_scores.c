/* shrink_scores.c - measures activation or Taylor importance of every channel group on
 * calibration data and shrinks with it (see shrink_scores.h).
 *
 * Owns the per-group score arrays: scores[i][u] for unit u of group i, summed over the
 * group's members (probe outputs for activation, weight tensors for Taylor), freed here.
 */
#include "cli/shrink_scores.h"

#include "passes/channel_groups.h"

#include <assert.h>
#include <stdlib.h>

/* Mean |activation| of every probe value along its group axis. */
static Status activation_scores(Graph *g, const ChannelGroups *cg, const CalibData *data, double **scores, Diag *d)
{
    int n = channel_groups_probe_count(cg);
    CalibRequest *req = calloc((size_t)n + 1, sizeof *req);
    Status st = req ? KDC_OK : diag_error(d, "out of memory");
    for (int k = 0; k < n && !st; k++) {
        channel_groups_probe(cg, k, &req[k].value, &req[k].axis);
        req[k].mean_abs = calloc((size_t)req[k].value->shape.dims[req[k].axis].value, sizeof(double));
        if (!req[k].mean_abs)
            st = diag_error(d, "out of memory");
    }
    if (!st)
        st = calib_activation(g, data, req, n, d);
    for (int k = 0; k < n && !st; k++)
        channel_groups_add_probe_scores(cg, k, req[k].mean_abs, scores);
    for (int k = 0; req && k < n; k++)
        free(req[k].mean_abs);
    free(req);
    return st;
}

/* |weight x gradient| of every trained parameter, credited to the units it belongs to. */
static Status taylor_scores(Graph *g, const ChannelGroups *cg, const CalibData *data, double **scores, Diag *d)
{
    CalibTaylor t = {0};
    if (calib_taylor(g, data, &t, d))
        return KDC_ERR;
    for (int k = 0; k < t.n_params; k++)
        channel_groups_add_tensor_scores(cg, t.params[k].value, t.params[k].score, scores);
    calib_taylor_free(&t);
    return KDC_OK;
}

Status cli_shrink_width_measured(Graph *g, const StudentOptions *o, const CalibData *data, WidthReport *report,
                                 Diag *d)
{
    assert(o->importance == IMPORTANCE_ACTIVATION || o->importance == IMPORTANCE_TAYLOR);
    ChannelGroups *cg = NULL;
    if (channel_groups_build_free(g, o->free_outputs, o->n_free_outputs, &cg, d))
        return KDC_ERR;
    double **scores = channel_groups_scores_new(cg);
    Status st = scores ? KDC_OK : diag_error(d, "out of memory");
    if (!st)
        st = o->importance == IMPORTANCE_TAYLOR ? taylor_scores(g, cg, data, scores, d)
                                                : activation_scores(g, cg, data, scores, d);
    if (!st)
        st = pass_shrink_width_scored(g, cg, o, scores, report, d);
    channel_groups_scores_free(cg, scores);
    channel_groups_free(cg);
    return st;
}

/* ---- depth ---- */

/* 1 - cosine(entry, exit) of every removable residual block/layer on the data. */
static Status block_scores(Graph *g, const CalibData *data, double **scores, int *n, Diag *d)
{
    DepthBlock *blocks;
    if (depth_blocks_find(g, &blocks, n, d))
        return KDC_ERR;
    CalibPair *pairs = calloc((size_t)*n + 1, sizeof *pairs);
    int *at = calloc((size_t)*n + 1, sizeof *at), k = 0;
    *scores = calloc((size_t)*n + 1, sizeof **scores);
    Status st = pairs && at && *scores ? KDC_OK : diag_error(d, "out of memory");
    for (int i = 0; i < *n && !st; i++)
        if (blocks[i].removable && blocks[i].kind != DEPTH_PLAIN) {
            pairs[k] = (CalibPair){blocks[i].entry, blocks[i].exit, 0};
            at[k++] = i;
        }
    if (!st && k)
        st = calib_cosine(g, data, pairs, k, d);
    for (int j = 0; j < k && !st; j++)
        (*scores)[at[j]] = pairs[j].score;
    free(pairs);
    free(at);
    return st;
}

Status cli_shrink_depth(Graph *g, const StudentOptions *o, const CalibData *data, DepthReport *report, Diag *d)
{
    DepthOptions depth = {.drop = o->drop, .n_drop = o->n_drop, .alternate = o->drop_alternate != 0};
    double *scores = NULL;
    if (o->depth > 0) {
        assert(data);
        depth.keep = o->depth;
        if (block_scores(g, data, &scores, &depth.n_scores, d)) {
            free(scores);
            return diag_prefix(d, "depth");
        }
        depth.scores = scores;
    }
    Status st = pass_shrink_depth(g, &depth, report, d);
    free(scores);
    return st;
}
