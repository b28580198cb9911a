/* channel_groups_members.c - constants that follow channel groups
 * (members, see ChMember in channel_groups_impl.h): their dims after a
 * choice, their parameter count, and their slicing.
 *
 * A constant is sliced in place when every use of it is a member reader and
 * all of them follow the same classes; otherwise each member reader gets its
 * own sliced copy and other readers keep the original (exporters share
 * identical constants, e.g. the BatchNormalization scales of a freshly
 * initialised DenseNet, between layers whose channels have nothing in
 * common). The teacher's tensors are never written.
 */
#include "passes/channel_groups_impl.h"

#include <stdlib.h>
#include <string.h>

int cg_member_class(ChannelGroups *cg, const Node *n, int slot, int axis)
{
    for (int i = 0; i < cg->n_members; i++) {
        const ChMember *m = &cg->members[i];
        if (m->reader == n && m->slot == slot && m->axis == axis)
            return m->cls;
    }
    return CG_NONE;
}

/* Distinct (reader, slot) pairs of v's members: the first member index of each. */
static int member_readers(const ChannelGroups *cg, const Value *v, int *first, int max)
{
    int n = 0;
    for (int i = 0; i < cg->n_members; i++) {
        const ChMember *m = &cg->members[i];
        bool seen = m->tensor != v;
        for (int k = 0; k < n && !seen; k++)
            seen = cg->members[first[k]].reader == m->reader && cg->members[first[k]].slot == m->slot;
        if (!seen && n < max)
            first[n++] = i;
    }
    return n;
}

/* Whether v can be sliced in place: all its uses are member readers that
 * follow the same classes on every axis. */
static bool uniform(ChannelGroups *cg, const Value *v, const int *first, int n_readers)
{
    if (n_readers == 0 || graph_count_uses(cg->g, v) != n_readers)
        return false;
    const ChMember *r0 = &cg->members[first[0]];
    for (int k = 1; k < n_readers; k++) {
        const ChMember *r = &cg->members[first[k]];
        for (int a = 0; a < v->shape.rank; a++) {
            int c0 = cg_member_class(cg, r0->reader, r0->slot, a), c = cg_member_class(cg, r->reader, r->slot, a);
            if ((c0 == CG_NONE) != (c == CG_NONE) || (c0 != CG_NONE && cg_find(cg, c0) != cg_find(cg, c)))
                return false;
        }
    }
    return true;
}

static int64_t reader_numel(ChannelGroups *cg, const Value *v, const ChMember *r, const int64_t *n_kept)
{
    int64_t numel = 1;
    for (int a = 0; a < v->shape.rank; a++) {
        int c = cg_member_class(cg, r->reader, r->slot, a);
        numel *= c != CG_NONE ? cg_kept_size(cg, c, n_kept) : v->shape.dims[a].value;
    }
    return numel;
}

enum { MAX_READERS = 256 };

int64_t cg_constant_params(ChannelGroups *cg, const Value *v, const int64_t *n_kept)
{
    int first[MAX_READERS], n = member_readers(cg, v, first, MAX_READERS);
    int64_t numel = tensor_numel(v->init);
    if (n == 0)
        return numel;
    if (uniform(cg, v, first, n))
        return reader_numel(cg, v, &cg->members[first[0]], n_kept);
    int64_t total = graph_count_uses(cg->g, v) > n ? numel : 0; /* others keep the original */
    for (int k = 0; k < n; k++)
        total += reader_numel(cg, v, &cg->members[first[k]], n_kept);
    return total;
}

/* ---- slicing ---- */

typedef struct AxisPick {
    int64_t *idx; /* NULL: the whole axis */
    int64_t n;
} AxisPick;

static void select_copy(const Tensor *t, const AxisPick *picks, const size_t *stride, int last, int axis,
                        const unsigned char *src, unsigned char **dst)
{
    if (axis > last) { /* the rest is contiguous */
        memcpy(*dst, src, stride[last]);
        *dst += stride[last];
        return;
    }
    int64_t n = picks[axis].idx ? picks[axis].n : t->dims[axis];
    for (int64_t i = 0; i < n; i++)
        select_copy(t, picks, stride, last, axis + 1,
                    src + (size_t)(picks[axis].idx ? picks[axis].idx[i] : i) * stride[axis], dst);
}

static Tensor *tensor_select(Arena *a, const Tensor *t, const AxisPick *picks)
{
    size_t stride[IR_MAX_RANK], s = dtype_size(t->dtype);
    int64_t dims[IR_MAX_RANK];
    int last = -1;
    for (int i = t->rank - 1; i >= 0; i--) {
        stride[i] = s;
        s *= (size_t)t->dims[i];
        dims[i] = picks[i].idx ? picks[i].n : t->dims[i];
        if (picks[i].idx && last < 0)
            last = i;
    }
    Tensor *out = tensor_new(a, t->dtype, t->rank, dims);
    unsigned char *dst = out->data;
    if (out && out->nbytes)
        select_copy(t, picks, stride, last, 0, t->data, &dst);
    if (out) {
        out->name = t->name;
        out->doc = t->doc;
    }
    return out;
}

/* Kept positions of class c, or NULL (n = size) when all are kept. */
static int64_t *kept_positions(ChannelGroups *cg, int c, bool *const *keep, int64_t *n, bool *oom)
{
    int64_t size = cg->cls[cg_find(cg, c)].size, k = 0;
    bool *mask = malloc((size_t)size);
    int64_t *idx = malloc((size_t)size * sizeof *idx);
    if (!mask || !idx) {
        *oom = true;
        free(mask);
        free(idx);
        return NULL;
    }
    cg_mask(cg, c, keep, mask);
    for (int64_t i = 0; i < size; i++)
        if (mask[i])
            idx[k++] = i;
    free(mask);
    *n = k;
    if (k == size) {
        free(idx);
        return NULL;
    }
    return idx;
}

/* v as reader r sees it after the choice; NULL (and no error) when nothing is cut. */
static Status sliced_for(ChannelGroups *cg, const Value *v, const ChMember *r, bool *const *keep, Tensor **out,
                         Diag *d)
{
    AxisPick picks[IR_MAX_RANK] = {{0}};
    bool oom = false, any = false;
    for (int a = 0; a < v->shape.rank && !oom; a++) {
        int c = cg_member_class(cg, r->reader, r->slot, a);
        if (c != CG_NONE)
            picks[a].idx = kept_positions(cg, c, keep, &picks[a].n, &oom);
        any = any || picks[a].idx;
    }
    *out = any && !oom ? tensor_select(cg->g->arena, v->init, picks) : NULL;
    for (int a = 0; a < IR_MAX_RANK; a++)
        free(picks[a].idx);
    if (oom || (any && !*out))
        return diag_error(d, "out of memory slicing '%s'", v->name);
    return KDC_OK;
}

/* A new initializer holding t, read by input `slot` of n instead of its shared constant. */
static Status give_copy(ChannelGroups *cg, Node *n, int slot, Tensor *t, Diag *d)
{
    Value *old = n->inputs[slot], *nv = graph_new_value(cg->g, old->name);
    if (!nv || !graph_set_init(cg->g, nv, t))
        return diag_error(d, "out of memory copying '%s'", old->name);
    n->inputs[slot] = nv;
    return KDC_OK;
}

static Status slice_constant(ChannelGroups *cg, Value *v, bool *const *keep, Diag *d)
{
    int first[MAX_READERS], n = member_readers(cg, v, first, MAX_READERS);
    Tensor *t;
    if (uniform(cg, v, first, n)) {
        if (sliced_for(cg, v, &cg->members[first[0]], keep, &t, d))
            return KDC_ERR;
        if (t) {
            v->init = t;
            v->shape = shape_from_dims(t->rank, t->dims);
        }
        return KDC_OK;
    }
    for (int k = 0; k < n; k++) {
        const ChMember *r = &cg->members[first[k]];
        if (sliced_for(cg, v, r, keep, &t, d) || (t && give_copy(cg, r->reader, r->slot, t, d)))
            return KDC_ERR;
    }
    return KDC_OK;
}

Status cg_slice_members(ChannelGroups *cg, bool *const *keep, Diag *d)
{
    for (int i = 0; i < cg->n_members; i++) {
        bool first = true;
        for (int k = 0; k < i && first; k++)
            first = cg->members[k].tensor != cg->members[i].tensor;
        if (first && slice_constant(cg, cg->members[i].tensor, keep, d))
            return KDC_ERR;
    }
    return KDC_OK;
}
