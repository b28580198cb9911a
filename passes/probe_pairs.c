/* probe_pairs.c - `pairs: auto` (pass_probe_pairs_auto, see probes.h):
 * teacher and student feature maps at the same stage. A stage is a spatial
 * size; its feature is the last node output of that size in node order (in
 * a CNN, the end of the stage: after its last block's activation or
 * residual Add). Width and depth shrinking keep spatial sizes, so a student
 * derived by kdc pairs with every stage of its teacher; any other student
 * pairs where its sizes agree.
 */
#include "passes/probes.h"

#include <stdlib.h>

enum { MAX_STAGES = 64 };

typedef struct Stage {
    int64_t h, w;
    Value *last;
} Stage;

static bool is_feature_map(const Value *v)
{
    return v && v->kind == TYPE_TENSOR && v->dtype == DT_FLOAT && v->shape.rank == 4 && v->shape.dims[2].value > 0 &&
           v->shape.dims[3].value > 0 && v->shape.dims[1].value > 0;
}

/* Stages in order of first appearance, each with its last feature map. */
static int find_stages(const Graph *g, Stage *st)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Value *v = g->nodes[i]->n_outputs > 0 ? g->nodes[i]->outputs[0] : NULL;
        if (!is_feature_map(v))
            continue;
        int64_t h = v->shape.dims[2].value, w = v->shape.dims[3].value;
        int k = 0;
        while (k < n && (st[k].h != h || st[k].w != w))
            k++;
        if (k == n && n == MAX_STAGES)
            continue;
        if (k == n)
            st[n++] = (Stage){h, w, NULL};
        st[k].last = v;
    }
    return n;
}

Status pass_probe_pairs_auto(const Graph *teacher, const Graph *student, ProbePair *pairs, int max, int *n,
                             Diag *d)
{
    Stage ts[MAX_STAGES], ss[MAX_STAGES];
    int nt = find_stages(teacher, ts), ns = find_stages(student, ss);
    *n = 0;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < ns; j++)
            if (ts[i].h == ss[j].h && ts[i].w == ss[j].w) {
                if (*n < max)
                    pairs[*n] = (ProbePair){ts[i].last, ss[j].last};
                (*n)++;
            }
    if (*n == 0)
        return diag_error(d,
                          "pairs: auto found no feature maps [N,C,H,W] of one spatial size in both the teacher and "
                          "the student; name the tensors to pair instead");
    return KDC_OK;
}
