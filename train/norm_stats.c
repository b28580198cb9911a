/* norm_stats.c - calib_norm_stats: BatchNormalization running statistics measured anew on
 * calibration data, round by round (see norm_stats.h).
 *
 * A round is a node's depth in BatchNormalization nodes: 1 plus the highest round among
 * the nodes it depends on, found in one walk over the nodes in topological order. A node
 * that holds subgraphs may read any value defined before it, so it counts as depending on
 * every node before it. Each round measures its nodes' inputs with calib_activation (an
 * inference plan: the earlier rounds' nodes already use their new statistics).
 */
#include "train/norm_stats.h"

#include "ir/ops.h"

#include <stdlib.h>
#include <string.h>

/* A float initializer of its own with one value per channel. */
static bool own_stat(const Graph *g, const Value *v, int64_t channels)
{
    return v && v->init && v->init->dtype == DT_FLOAT && tensor_numel(v->init) == channels &&
           graph_count_uses(g, v) == 1 && !graph_has_input(g, v);
}

static bool has_subgraph(const Node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].kind == ATTR_GRAPH || n->attrs[a].kind == ATTR_GRAPHS)
            return true;
    return false;
}

/* Its channel count when kdc re-estimates n's statistics, else 0. */
static int64_t estimable_channels(const Graph *g, const Node *n)
{
    if (n->n_inputs < 5 || !n->inputs[0] || node_attr_int(n, "training_mode", 0) != 0)
        return 0;
    const Value *x = n->inputs[0];
    if (x->kind != TYPE_TENSOR || x->dtype != DT_FLOAT || x->shape.rank < 2 || x->shape.dims[1].value < 1)
        return 0;
    int64_t c = x->shape.dims[1].value;
    return own_stat(g, n->inputs[3], c) && own_stat(g, n->inputs[4], c) ? c : 0;
}

/* round[i]: node i's round when it is re-estimated, else 0; returns the highest round. */
static int assign_rounds(const Graph *g, int *round, int *value_round)
{
    int highest = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        int in = has_subgraph(n) ? highest : 0;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] && n->inputs[k]->graph == g && value_round[n->inputs[k]->id] > in)
                in = value_round[n->inputs[k]->id];
        int out = in;
        if (n->op == OP_BatchNormalization && estimable_channels(g, n))
            out = round[i] = in + 1;
        if (out > highest)
            highest = out;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k])
                value_round[n->outputs[k]->id] = out;
    }
    return highest;
}

/* The measured statistics into node's mean and var, except for a channel constant on the
 * data (variance 0): normalized by its epsilon alone it would be scaled by up to
 * 1/sqrt(eps) on other data, so it keeps the teacher's. */
static void set_stats(Node *node, const double *mean, const double *var)
{
    float *to_mean = node->inputs[3]->init->data, *to_var = node->inputs[4]->init->data;
    for (int64_t c = 0; c < tensor_numel(node->inputs[3]->init); c++)
        if (var[c] > 0) {
            to_mean[c] = (float)mean[c];
            to_var[c] = (float)var[c];
        }
}

/* Measures the inputs of the nodes in round r and sets their statistics. */
static Status run_round(Graph *g, const CalibData *data, const int *round, int r, Diag *d)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += round[i] == r;
    CalibRequest *req = calloc((size_t)n + 1, sizeof *req);
    Node **nodes = calloc((size_t)n + 1, sizeof *nodes);
    Status st = req && nodes ? KDC_OK : diag_error(d, "out of memory");
    for (int i = 0, k = 0; i < g->n_nodes && !st; i++) {
        if (round[i] != r)
            continue;
        const Value *x = g->nodes[i]->inputs[0];
        nodes[k] = g->nodes[i];
        if (!calib_moments_request(&req[k++], x, x->shape.dims[1].value))
            st = diag_error(d, "out of memory");
    }
    if (!st)
        st = calib_activation(g, data, req, n, d);
    for (int k = 0; k < n && !st; k++)
        set_stats(nodes[k], req[k].mean, req[k].var);
    calib_requests_free(req, n);
    free(nodes);
    return st;
}

/* The statistics of every node with a round, copied to saved (or back from it). */
static void copy_stats(Graph *g, const int *round, float *saved, bool restore)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (!round[i])
            continue;
        for (int k = 3; k < 5; k++) {
            Tensor *t = g->nodes[i]->inputs[k]->init;
            memcpy(restore ? t->data : saved, restore ? saved : t->data, t->nbytes);
            saved += tensor_numel(t);
        }
    }
}

static size_t stat_floats(const Graph *g, const int *round)
{
    size_t n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (round[i])
            n += 2 * (size_t)tensor_numel(g->nodes[i]->inputs[3]->init);
    return n;
}

Status calib_norm_stats(Graph *g, const CalibData *data, NormStatsReport *report, Diag *d)
{
    Status st = KDC_ERR;
    memset(report, 0, sizeof *report);
    int *round = calloc((size_t)g->n_nodes + 1, sizeof *round);
    int *value_round = calloc((size_t)g->n_values + 1, sizeof *value_round);
    float *saved = NULL;
    if (!round || !value_round) {
        diag_error(d, "out of memory");
        goto fail;
    }
    int rounds = assign_rounds(g, round, value_round);
    if (!(saved = malloc(stat_floats(g, round) * sizeof *saved + 1))) {
        diag_error(d, "out of memory");
        goto fail;
    }
    copy_stats(g, round, saved, false);
    for (int r = 1; r <= rounds; r++)
        if (run_round(g, data, round, r, d)) {
            copy_stats(g, round, saved, true);
            goto fail;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        report->set += round[i] > 0;
        report->kept += g->nodes[i]->op == OP_BatchNormalization && !round[i];
    }
    report->rounds = rounds;
    st = KDC_OK;
fail:
    free(round);
    free(value_round);
    free(saved);
    return st;
}
