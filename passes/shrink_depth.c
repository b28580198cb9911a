/* shrink_depth.c - the depth shrink pass (pass_shrink_depth): choosing which
 * blocks go (by name, by score, or every other one), removing them, and the
 * report. Finding the blocks is shrink_depth_find.c / shrink_depth_blocks.c.
 *
 * Removal rewires before it deletes: blocks are handled last to first, so
 * when adjacent blocks both go, the later one's exit is first redirected to
 * its entry, which the earlier one then redirects to its own entry. Every
 * check that can refuse runs before the graph is touched.
 */
#include "passes/shrink_depth.h"

#include "ir/ops.h"
#include "passes/passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- choosing ---- */

static bool is_residual_kind(const DepthBlock *b)
{
    return b->kind == DEPTH_RESIDUAL || b->kind == DEPTH_LAYER;
}

static Status check_one_way(const DepthOptions *o, Diag *d)
{
    int ways = (o->n_drop > 0) + (o->keep > 0) + (o->drop_count > 0) + o->alternate;
    if (ways > 1)
        return diag_error(d,
                          "depth: choose the blocks to remove one way (drop by name, keep, drop_count or "
                          "alternate), not %d at once",
                          ways);
    return KDC_OK;
}

static Status unknown_name(const DepthBlock *b, int n, const char *name, Diag *d)
{
    char list[800] = "";
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof list - 8; i++) {
        int len = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", b[i].name);
        used += len > 0 ? (size_t)len : 0;
    }
    if (used >= sizeof list - 8)
        strcpy(list + sizeof list - 8, ", ...");
    if (!n)
        return diag_error(d, "depth: no block named '%s': the model has no residual blocks or layers", name);
    return diag_error(d, "depth: no block named '%s'; the blocks are: %s", name, list);
}

static Status choose_by_name(DepthBlock *b, int n, const DepthOptions *o, Diag *d)
{
    for (int k = 0; k < o->n_drop; k++) {
        int i = 0;
        while (i < n && strcmp(b[i].name, o->drop[k]))
            i++;
        if (i == n)
            return unknown_name(b, n, o->drop[k], d);
        if (!b[i].removable)
            return diag_error(d, "block '%s' %s: it cannot be removed", b[i].name, b[i].why_not);
        b[i].dropped = true;
    }
    return KDC_OK;
}

static Status count_to_drop(const DepthBlock *b, int n, const DepthOptions *o, int *to_drop, Diag *d)
{
    int total = 0, removable = 0;
    for (int i = 0; i < n; i++) {
        total += is_residual_kind(&b[i]);
        removable += is_residual_kind(&b[i]) && b[i].removable;
    }
    if (o->keep > total)
        return diag_error(d, "depth: keep %d blocks asked, but the model has only %d residual blocks/layers", o->keep,
                          total);
    *to_drop = o->keep > 0 ? total - o->keep : o->drop_count;
    if (*to_drop > removable)
        return diag_error(d,
                          "depth: cannot drop %d blocks: only %d of the %d residual blocks/layers can be removed "
                          "(the others change the shape)",
                          *to_drop, removable, total);
    return KDC_OK;
}

/* The lowest scores go first; on a tie the later block (deeper layers tend
 * to be the more redundant ones). */
static Status choose_by_score(DepthBlock *b, int n, const DepthOptions *o, Diag *d)
{
    int to_drop = 0;
    if (count_to_drop(b, n, o, &to_drop, d))
        return KDC_ERR;
    if (!o->scores || o->n_scores != n)
        return diag_error(d, "depth: choosing blocks by score needs one score per block (%d), got %d", n,
                          o->scores ? o->n_scores : 0);
    for (int i = 0; i < n; i++)
        if (is_residual_kind(&b[i]) && b[i].removable && !isfinite(o->scores[i]))
            return diag_error(d, "depth: the score of block '%s' is %g, not a finite number", b[i].name, o->scores[i]);
    for (int k = 0; k < to_drop; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (is_residual_kind(&b[i]) && b[i].removable && !b[i].dropped &&
                (best < 0 || o->scores[i] <= o->scores[best]))
                best = i;
        b[best].dropped = true;
    }
    return KDC_OK;
}

static void choose_alternate(DepthBlock *b, int n)
{
    const DepthBlock *prev = NULL;
    int pos = 0;
    for (int i = 0; i < n; i++) {
        if (!is_residual_kind(&b[i]))
            continue;
        bool continues_run = prev && prev->exit == b[i].entry && b[i].removable;
        pos = continues_run ? pos + 1 : 0;
        b[i].dropped = pos % 2 == 1;
        prev = &b[i];
    }
}

static Status choose(DepthBlock *b, int n, const DepthOptions *o, Diag *d)
{
    if (check_one_way(o, d))
        return KDC_ERR;
    if (o->n_drop > 0)
        return choose_by_name(b, n, o, d);
    if (o->keep > 0 || o->drop_count > 0)
        return choose_by_score(b, n, o, d);
    if (o->alternate)
        choose_alternate(b, n);
    return KDC_OK;
}

/* ---- removing ---- */

/* A graph output that a removed block computed keeps its name: an Identity
 * of the default domain writes it, at the opset the model already uses. */
static Status skip_opset(const Graph *g, const DepthBlock *b, int n, int *opset, Diag *d)
{
    *opset = 0;
    for (int i = 0; i < g->n_nodes && !*opset; i++)
        if (!g->nodes[i]->domain || !*g->nodes[i]->domain || !strcmp(g->nodes[i]->domain, "ai.onnx"))
            *opset = g->nodes[i]->opset;
    for (int i = 0; i < n; i++)
        if (b[i].dropped && graph_has_output(g, b[i].exit) && *opset <= 0)
            return diag_error(d,
                              "block '%s': graph output '%s' would need an Identity node, but the model imports "
                              "no default ONNX opset",
                              b[i].name, b[i].exit->name);
    return KDC_OK;
}

static Node *add_skip(Graph *g, const DepthBlock *b, int opset)
{
    Node *skip = graph_add_node(g, "Identity", "", 1, 1);
    size_t len = strlen(b->name) + sizeof "depth_skip/";
    char *name = arena_alloc(g->arena, len);
    snprintf(name, len, "depth_skip/%s", b->name);
    skip->name = name;
    skip->opset = opset;
    skip->inputs[0] = b->entry;
    op_bind(skip);
    return skip;
}

static void unlink_block(DepthBlock *b, bool *drop)
{
    for (int i = 0; i < b->n_nodes; i++) {
        Node *nd = b->nodes[i];
        drop[nd->index] = true;
        for (int j = 0; j < nd->n_outputs; j++)
            if (nd->outputs[j])
                nd->outputs[j]->in_value_info = false;
    }
}

static Status verify_and_infer(Graph *g, Diag *d)
{
    Model m = {.graph = g}; /* ir_verify looks at the graph only */
    if (graph_toposort(g, d) || pass_eliminate_dead(g, d))
        return KDC_ERR;
    if (ir_verify(&m, d))
        return diag_prefix(d, "depth shrink left an invalid graph");
    return pass_infer_shapes(g, d);
}

static Status remove_blocks(Graph *g, DepthBlock *b, int n, Diag *d)
{
    Status st = KDC_ERR;
    int opset;
    bool *drop = calloc((size_t)g->n_nodes + (size_t)n + 1, sizeof *drop);
    Node **skips = calloc((size_t)n + 1, sizeof *skips);
    if (!drop || !skips) {
        diag_error(d, "out of memory while removing blocks");
        goto fail;
    }
    if (skip_opset(g, b, n, &opset, d))
        goto fail;
    for (int i = n - 1; i >= 0; i--) {
        if (!b[i].dropped)
            continue;
        unlink_block(&b[i], drop);
        if (graph_has_output(g, b[i].exit))
            skips[i] = add_skip(g, &b[i], opset);
        else
            graph_replace_uses(g, b[i].exit, b[i].entry);
    }
    graph_remove_nodes(g, drop);
    for (int i = 0; i < n; i++)
        if (skips[i])
            node_set_output(skips[i], 0, b[i].exit);
    st = verify_and_infer(g, d);
fail:
    free(drop);
    free(skips);
    return st;
}

Status pass_shrink_depth(Graph *g, const DepthOptions *o, DepthReport *report, Diag *d)
{
    DepthBlock *b;
    int n, n_dropped = 0;
    int64_t params = 0;
    if (depth_blocks_find(g, &b, &n, d) || choose(b, n, o, d))
        return KDC_ERR;
    for (int i = 0; i < n; i++) {
        n_dropped += b[i].dropped;
        params += b[i].dropped ? b[i].params : 0;
    }
    if (n_dropped && remove_blocks(g, b, n, d))
        return KDC_ERR;
    if (report)
        *report = (DepthReport){b, n, n_dropped, params};
    return KDC_OK;
}

/* ---- report ---- */

void depth_report_print(const DepthReport *r, FILE *f)
{
    int width = 5;
    for (int i = 0; i < r->n_blocks; i++)
        width = (int)strlen(r->blocks[i].name) > width ? (int)strlen(r->blocks[i].name) : width;
    fprintf(f, "%-*s  %-8s  %-40s  %10s  %s\n", width, "block", "kind", "entry -> exit", "params", "student");
    for (int i = 0; i < r->n_blocks; i++) {
        const DepthBlock *b = &r->blocks[i];
        char s[160], t[160], shapes[330];
        snprintf(shapes, sizeof shapes, "%s -> %s", depth_shape_text(&b->entry_shape, s, sizeof s),
                 depth_shape_text(&b->exit_shape, t, sizeof t));
        fprintf(f, "%-*s  %-8s  %-40s  %10lld  %s%s%s\n", width, b->name, depth_kind_name(b->kind), shapes,
                (long long)b->params, b->dropped ? "dropped" : "kept", b->removable ? "" : ": ",
                b->removable ? "" : b->why_not);
    }
    fprintf(f, "%d of %d blocks dropped, %lld parameters\n", r->n_dropped, r->n_blocks, (long long)r->params_dropped);
}
