/* data_geom.h - the parameters of the data-movement and reduction ops
 * (Slice, Pad, Split, Transpose, the Reduce family, TopK), resolved from
 * attributes or constant inputs according to the node's opset. Shape
 * inference (ir/infer_data.c, ir/infer_reduce.c) and the runtime
 * (runtime/op_data.c, op_reduce.c) both resolve through here, so they agree.
 *
 * `vals[k]` is the value of input k when it is known (an initializer or a
 * build-time constant), else NULL; whether input k is present at all is read
 * from the node. Functions set *known = false, and succeed, when a list they
 * need is an input whose value is not known. */
#ifndef KDC_DATA_GEOM_H
#define KDC_DATA_GEOM_H

#include "ir/ir.h"

/* Reads an int list from input k when the node has it, else from attribute
 * `attr` (NULL: none). Returns the count; DATA_LIST_ABSENT when neither is
 * there, DATA_LIST_UNKNOWN when the input's value is not known, and fails
 * (DATA_LIST_ERROR, d filled) when it holds more than max values. */
#define DATA_LIST_ABSENT (-1)
#define DATA_LIST_UNKNOWN (-2)
#define DATA_LIST_ERROR (-3)
int data_int_list(const Node *n, const Tensor *const *vals, int k, const char *attr, int64_t *out, int max, Diag *d);
/* Whether the node has input k (optional inputs may be left out). */
bool data_has_input(const Node *n, int k);

/* Slice: per input axis, the first element, the step and the element count;
 * len -1 when the dim is unknown, with `whole` set when the slice keeps the
 * entire (unknown) dim. */
typedef struct SliceGeom {
    int rank;
    int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], len[IR_MAX_RANK];
    bool whole[IR_MAX_RANK];
} SliceGeom;

Status data_slice_geom(const Node *n, const Tensor *const *vals, const Shape *x, SliceGeom *g, bool *known, Diag *d);

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } PadMode;

/* Pad: elements added before/after each axis (negative: removed). */
typedef struct PadGeom {
    int rank;
    PadMode mode;
    int64_t begin[IR_MAX_RANK], end[IR_MAX_RANK];
} PadGeom;

Status data_pad_geom(const Node *n, const Tensor *const *vals, int rank, PadGeom *g, bool *known, Diag *d);

/* Split: the size of each of the node's outputs along the axis. dim is the
 * input's size along it (-1 unknown: sizes that depend on it become -1). */
Status data_split_sizes(const Node *n, const Tensor *const *vals, int64_t dim, int64_t *sizes, bool *known, Diag *d);

/* Transpose: perm[i] is the input axis of output axis i (default: reversed). */
Status data_transpose_perm(const Node *n, int rank, int *perm, Diag *d);

/* Reduce*: which axes are reduced, and whether they stay as size-1 dims.
 * noop: empty axes with noop_with_empty_axes, the output is the input. */
typedef struct ReduceGeom {
    bool reduce[IR_MAX_RANK];
    bool keepdims, noop;
} ReduceGeom;

Status data_reduce_geom(const Node *n, const Tensor *const *vals, int rank, ReduceGeom *g, bool *known, Diag *d);

/* TopK's k (attribute before opset 10, input after); -1 when not known. */
Status data_topk_k(const Node *n, const Tensor *const *vals, int64_t *k, Diag *d);

/* Range: the element count of start, limit, delta (all known). */
Status data_range_count(const Node *n, const Tensor *start, const Tensor *limit, const Tensor *delta, int64_t *count,
                        Diag *d);

/* The error every resolver reports, naming the node. */
Status data_error(const Node *n, Diag *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
