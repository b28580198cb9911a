/* conv_geom.h - the window geometry shared by Conv and the pooling ops:
 * kernel, strides, dilations and pads resolved from attributes (auto_pad
 * included) and output spatial sizes. Used by shape inference and by the
 * runtime so both agree. */
#ifndef KDC_CONV_GEOM_H
#define KDC_CONV_GEOM_H

#include "ir/ir.h"

typedef struct ConvGeom {
    int n_spatial;
    int64_t kernel[IR_MAX_RANK];
    int64_t strides[IR_MAX_RANK];
    int64_t dilations[IR_MAX_RANK];
    int64_t pad_begin[IR_MAX_RANK], pad_end[IR_MAX_RANK];
    int64_t in[IR_MAX_RANK];  /* input spatial sizes, -1 unknown */
    int64_t out[IR_MAX_RANK]; /* output spatial sizes, -1 unknown */
    bool ceil_mode;
} ConvGeom;

/* x: the NC... input shape; kernel: spatial kernel sizes (from the weight
 * shape or kernel_shape). Fails naming the node on inconsistent attributes
 * or an output size below 1. */
Status conv_geom_resolve(const Node *n, const Shape *x, const int64_t *kernel, ConvGeom *g, Diag *d);

#endif
