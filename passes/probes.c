/* probes.c - finding, tapping, stripping and cutting (see probes.h). A tap
 * appends the value to the graph's outputs; the ProbeSet remembers how many
 * outputs the graph had, so stripping restores that list exactly, removes
 * the adapter nodes (named PROBE_ADAPTER_PREFIX...) and lets
 * pass_eliminate_dead take their initializers.
 */
#include "passes/probes.h"

#include "passes/passes.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static bool is_glob(const char *pattern)
{
    return strpbrk(pattern, "*?[") != NULL;
}

static bool matches(const char *pattern, const char *name)
{
    return is_glob(pattern) ? fnmatch(pattern, name, 0) == 0 : strcmp(pattern, name) == 0;
}

static void take(Value *v, const char *pattern, Value **found, int max, int *n)
{
    if (!v || pass_is_pre_norm(v) || !matches(pattern, v->name))
        return;
    for (int i = 0; i < *n && i < max; i++)
        if (found[i] == v)
            return;
    if (*n < max)
        found[*n] = v;
    (*n)++;
}

Status pass_probe_find(const Graph *g, const char *pattern, Value **found, int max, int *n, Diag *d)
{
    *n = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->init)
            take(g->inputs[i], pattern, found, max, n);
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_outputs; k++)
            take(g->nodes[i]->outputs[k], pattern, found, max, n);
    if (*n == 0)
        return diag_error(d, "no value of graph '%s' %s '%s'", g->name ? g->name : "", is_glob(pattern) ? "matches" : "is named",
                          pattern);
    return KDC_OK;
}

Status pass_probe_tap(Graph *g, ProbeSet *ps, Value *v, int *index, Diag *d)
{
    if (v->graph != g)
        return diag_error(d, "value '%s' does not belong to graph '%s'", v->name, g->name ? g->name : "");
    if (ps->n_outputs_before < 0)
        ps->n_outputs_before = g->n_outputs;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) {
            *index = k;
            return KDC_OK;
        }
    if (!graph_append_output(g, v))
        return diag_error(d, "out of memory");
    *index = g->n_outputs - 1;
    ps->n_taps++;
    return KDC_OK;
}

static bool is_adapter(const Node *n)
{
    return n->name && !strncmp(n->name, PROBE_ADAPTER_PREFIX, strlen(PROBE_ADAPTER_PREFIX));
}

Status pass_probe_strip(Graph *g, const ProbeSet *ps, Diag *d)
{
    if (ps->n_outputs_before >= 0)
        g->n_outputs = ps->n_outputs_before;
    bool *drop = calloc((size_t)g->n_nodes + 1, sizeof *drop);
    if (!drop)
        return diag_error(d, "out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        drop[i] = is_adapter(g->nodes[i]);
    graph_remove_nodes(g, drop);
    free(drop);
    return pass_eliminate_dead(g, d);
}

Status pass_probe_cut(Graph *g, Value *const *keep, int n, Diag *d)
{
    if (n < 1)
        return diag_error(d, "cutting graph '%s' to no value at all", g->name ? g->name : "");
    Value **outs = arena_alloc(g->arena, (size_t)n * sizeof *outs);
    if (!outs)
        return diag_error(d, "out of memory");
    for (int i = 0; i < n; i++) {
        if (keep[i]->graph != g)
            return diag_error(d, "value '%s' does not belong to graph '%s'", keep[i]->name, g->name ? g->name : "");
        outs[i] = keep[i];
    }
    g->outputs = outs;
    g->n_outputs = n;
    return pass_eliminate_dead(g, d);
}
