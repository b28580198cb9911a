/* nn_geom.h - geometry of ConvTranspose and Resize/Upsample resolved from
 * attributes and constant inputs: output sizes, pads, per-axis scales.
 * Used by shape inference and by the runtime so both agree (as
 * ir/conv_geom.h does for Conv and the pools). */
#ifndef KDC_NN_GEOM_H
#define KDC_NN_GEOM_H

#include "ir/ir.h"

/* ---- ConvTranspose ---- */

typedef struct ConvTGeom {
    int n_spatial;
    int64_t in[IR_MAX_RANK];     /* input spatial sizes, -1 unknown */
    int64_t kernel[IR_MAX_RANK]; /* -1 unknown */
    int64_t strides[IR_MAX_RANK], dilations[IR_MAX_RANK], out_pad[IR_MAX_RANK];
    int64_t pad_begin[IR_MAX_RANK], pad_end[IR_MAX_RANK]; /* negative when output_shape asks for more */
    int64_t out[IR_MAX_RANK];                             /* output spatial sizes, -1 unknown */
} ConvTGeom;

/* x: the NC... input shape; kernel: spatial kernel sizes (from the weight
 * or kernel_shape, -1 unknown). Applies output_shape, output_padding and
 * auto_pad; fails naming the node on inconsistent attributes. */
Status convt_geom_resolve(const Node *n, const Shape *x, const int64_t *kernel, ConvTGeom *g, Diag *d);

/* ---- Resize / Upsample ---- */

/* The inputs that decide a Resize's output: constant values read from the
 * node's inputs (or Upsample-7's attribute). Counts are -1 when absent. */
typedef struct ResizeInputs {
    int n_scales, n_sizes, n_roi;
    bool unknown;     /* scales or sizes is given but not constant */
    bool roi_unknown; /* roi is given but not constant */
    float scales[IR_MAX_RANK];
    int64_t sizes[IR_MAX_RANK];
    double roi[2 * IR_MAX_RANK];
} ResizeInputs;

/* vals[k]: constant data of node input k, or NULL (absent or not known). */
Status resize_inputs_read(const Node *n, const Tensor *const *vals, int n_vals, ResizeInputs *ri, Diag *d);

typedef struct ResizeGeom {
    int rank;
    int64_t in[IR_MAX_RANK], out[IR_MAX_RANK]; /* -1 unknown */
    double scale[IR_MAX_RANK];                 /* per axis, 1 where not resized */
    double roi_start[IR_MAX_RANK], roi_end[IR_MAX_RANK];
} ResizeGeom;

/* Output sizes and per-axis scales from scales or sizes (with opset 18's
 * axes and keep_aspect_ratio_policy) and the roi of tf_crop_and_resize. */
Status resize_geom_resolve(const Node *n, const Shape *x, const ResizeInputs *ri, ResizeGeom *g, Diag *d);

#endif
