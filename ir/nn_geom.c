/* nn_geom.c - ConvTranspose and Resize/Upsample geometry (see nn_geom.h). */
#include "ir/nn_geom.h"

#include "ir/infer.h"

#include <math.h>
#include <string.h>

/* ---- ConvTranspose ---- */

static Status read_ints(const Node *n, const char *name, int count, int64_t dflt, int64_t lowest, int64_t *out, Diag *d)
{
    int k = 0;
    const int64_t *v = node_attr_ints(n, name, &k);
    for (int i = 0; i < count; i++)
        out[i] = dflt;
    if (!v)
        return KDC_OK;
    if (k != count)
        return infer_error(n, d, "attribute '%s' has %d values, expected %d", name, k, count);
    for (int i = 0; i < count; i++) {
        if (v[i] < lowest)
            return infer_error(n, d, "attribute '%s' has an invalid value %lld", name, (long long)v[i]);
        out[i] = v[i];
    }
    return KDC_OK;
}

static int64_t floor_half(int64_t v)
{
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

/* Splits the padding an output size asks for, as the ConvTranspose spec
 * says: SAME_UPPER puts the odd one at the end, the others at the start. */
static void split_total_pad(int64_t total, bool same_upper, int64_t *begin, int64_t *end)
{
    int64_t half = floor_half(total);
    *begin = same_upper ? half : total - half;
    *end = total - *begin;
}

/* output_shape lists the spatial sizes, or (as some exporters write it) the whole output shape. */
static Status read_output_shape(const Node *n, int ns, const int64_t **os, Diag *d)
{
    int k = 0;
    *os = node_attr_ints(n, "output_shape", &k);
    if (!*os)
        return KDC_OK;
    if (k != ns && k != ns + 2)
        return infer_error(n, d, "attribute 'output_shape' has %d values, expected %d", k, ns);
    *os += k - ns;
    for (int i = 0; i < ns; i++)
        if ((*os)[i] < 1)
            return infer_error(n, d, "attribute 'output_shape' has an invalid value %lld", (long long)(*os)[i]);
    return KDC_OK;
}

static void convt_axis(ConvTGeom *g, int i, const char *ap, const int64_t *os)
{
    bool known = g->in[i] >= 0 && g->kernel[i] >= 0;
    int64_t eff = g->dilations[i] * (g->kernel[i] - 1) + 1;
    int64_t natural = g->strides[i] * (g->in[i] - 1) + g->out_pad[i] + eff;
    bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!strcmp(ap, "VALID"))
        g->pad_begin[i] = g->pad_end[i] = 0;
    if (os || same) {
        g->out[i] = os ? os[i] : g->in[i] >= 0 ? g->in[i] * g->strides[i] : -1;
        if (known)
            split_total_pad(natural - g->out[i], !strcmp(ap, "SAME_UPPER"), &g->pad_begin[i], &g->pad_end[i]);
        return;
    }
    g->out[i] = known ? natural - g->pad_begin[i] - g->pad_end[i] : -1;
}

Status convt_geom_resolve(const Node *n, const Shape *x, const int64_t *kernel, ConvTGeom *g, Diag *d)
{
    memset(g, 0, sizeof *g);
    if (x->rank < 3)
        return infer_error(n, d, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
    int ns = g->n_spatial = x->rank - 2;
    int64_t pads[2 * IR_MAX_RANK];
    const int64_t *os = NULL;
    if (read_ints(n, "strides", ns, 1, 1, g->strides, d) || read_ints(n, "dilations", ns, 1, 1, g->dilations, d) ||
        read_ints(n, "output_padding", ns, 0, 0, g->out_pad, d) || read_ints(n, "pads", 2 * ns, 0, 0, pads, d) ||
        read_output_shape(n, ns, &os, d))
        return KDC_ERR;
    const char *ap = node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
        return infer_error(n, d, "unknown auto_pad '%s'", ap);
    for (int i = 0; i < ns; i++) {
        g->in[i] = x->dims[i + 2].value;
        g->kernel[i] = kernel[i];
        g->pad_begin[i] = pads[i];
        g->pad_end[i] = pads[i + ns];
        convt_axis(g, i, ap, os);
        if (g->out[i] == 0 || g->out[i] < -1)
            return infer_error(n, d, "output size %lld in spatial dim %d is below 1", (long long)g->out[i], i);
    }
    return KDC_OK;
}

/* ---- Resize / Upsample ---- */

/* Node input positions of roi, scales and sizes (-1: not an input). */
static void resize_slots(const Node *n, int *roi, int *scales, int *sizes)
{
    *roi = *scales = *sizes = -1;
    if (!strcmp(n->op_type, "Upsample")) {
        if (n->opset >= 9)
            *scales = 1;
        return;
    }
    if (n->opset < 11) {
        *scales = 1;
        return;
    }
    *roi = 1;
    *scales = 2;
    *sizes = 3;
}

static bool input_given(const Node *n, int k)
{
    return k >= 0 && k < n->n_inputs && n->inputs[k];
}

/* Reads constant input k into up to max values; *count -1 when absent or empty. */
static Status read_values(const Node *n, const Tensor *t, int k, int max, bool ints, double *out, int *count, Diag *d)
{
    *count = -1;
    int64_t numel = tensor_numel(t);
    if (numel == 0)
        return KDC_OK;
    bool is_float = t->dtype == DT_FLOAT || t->dtype == DT_DOUBLE;
    if (ints ? (is_float || t->dtype == DT_BOOL || t->dtype == DT_STRING) : !is_float)
        return infer_error(n, d, "input %d has type %s, which Resize does not take there", k, dtype_name(t->dtype));
    if (numel > max)
        return infer_error(n, d, "input %d has %lld values, more than the %d a tensor of rank <= %d needs", k,
                           (long long)numel, max, IR_MAX_RANK);
    for (int64_t i = 0; i < numel; i++)
        out[i] = ints ? (double)tensor_get_int(t, i) : tensor_get_double(t, i);
    *count = (int)numel;
    return KDC_OK;
}

static Status read_upsample7_scales(const Node *n, ResizeInputs *ri, Diag *d)
{
    int k = 0;
    const float *v = node_attr_floats(n, "scales", &k);
    if (!v)
        return infer_error(n, d, "attribute 'scales' is required");
    if (k > IR_MAX_RANK)
        return infer_error(n, d, "attribute 'scales' has %d values", k);
    memcpy(ri->scales, v, (size_t)k * sizeof *v);
    ri->n_scales = k;
    return KDC_OK;
}

Status resize_inputs_read(const Node *n, const Tensor *const *vals, int n_vals, ResizeInputs *ri, Diag *d)
{
    int slot[3];
    double buf[2 * IR_MAX_RANK];
    memset(ri, 0, sizeof *ri);
    ri->n_scales = ri->n_sizes = ri->n_roi = -1;
    resize_slots(n, &slot[0], &slot[1], &slot[2]);
    if (slot[1] < 0)
        return read_upsample7_scales(n, ri, d);
    for (int s = 0; s < 3; s++) {
        int k = slot[s], count = -1;
        if (!input_given(n, k))
            continue;
        const Tensor *t = k < n_vals ? vals[k] : NULL;
        if (!t) {
            *(s == 0 ? &ri->roi_unknown : &ri->unknown) = true;
            continue;
        }
        if (read_values(n, t, k, s == 0 ? 2 * IR_MAX_RANK : IR_MAX_RANK, s == 2, buf, &count, d))
            return KDC_ERR;
        for (int i = 0; i < count; i++) {
            if (s == 0)
                ri->roi[i] = buf[i];
            else if (s == 1)
                ri->scales[i] = (float)buf[i];
            else
                ri->sizes[i] = (int64_t)buf[i];
        }
        *(s == 0 ? &ri->n_roi : s == 1 ? &ri->n_scales : &ri->n_sizes) = count;
    }
    return KDC_OK;
}

/* The resized axes: opset 18's 'axes', else all of them. */
static Status resize_axes(const Node *n, int rank, int *axes, int *count, Diag *d)
{
    int k = 0;
    const int64_t *v = n->opset >= 18 && !strcmp(n->op_type, "Resize") ? node_attr_ints(n, "axes", &k) : NULL;
    bool seen[IR_MAX_RANK] = {false};
    *count = v ? k : rank;
    for (int i = 0; i < *count; i++) {
        int a = i;
        if (v && infer_axis(n, v[i], rank, &a, d))
            return KDC_ERR;
        if (seen[a])
            return infer_error(n, d, "attribute 'axes' repeats axis %d", a);
        seen[a] = true;
        axes[i] = a;
    }
    return KDC_OK;
}

static bool is_crop_and_resize(const Node *n)
{
    return !strcmp(n->op_type, "Resize") && n->opset >= 11 &&
           !strcmp(node_attr_string(n, "coordinate_transformation_mode", "half_pixel"), "tf_crop_and_resize");
}

static Status resize_roi(const Node *n, const ResizeInputs *ri, const int *axes, int na, ResizeGeom *g, Diag *d)
{
    if (!is_crop_and_resize(n))
        return KDC_OK;
    if (ri->roi_unknown)
        return infer_error(n, d, "tf_crop_and_resize needs a constant 'roi' input");
    if (ri->n_roi != 2 * na)
        return infer_error(n, d, "'roi' has %d values, tf_crop_and_resize needs %d", ri->n_roi < 0 ? 0 : ri->n_roi,
                           2 * na);
    for (int i = 0; i < na; i++) {
        g->roi_start[axes[i]] = ri->roi[i];
        g->roi_end[axes[i]] = ri->roi[na + i];
    }
    return KDC_OK;
}

static Status resize_from_scales(const Node *n, const ResizeInputs *ri, const int *axes, int na, ResizeGeom *g, Diag *d)
{
    if (ri->n_scales != na)
        return infer_error(n, d, "'scales' has %d values, expected %d", ri->n_scales, na);
    for (int i = 0; i < na; i++) {
        int a = axes[i];
        if (!(ri->scales[i] > 0))
            return infer_error(n, d, "scale %g of axis %d is not positive", (double)ri->scales[i], a);
        g->scale[a] = ri->scales[i];
        double span = g->roi_end[a] - g->roi_start[a];
        g->out[a] = g->in[a] < 0 ? -1 : (int64_t)floor((double)g->in[a] * span * g->scale[a]);
    }
    return KDC_OK;
}

static Status resize_from_sizes(const Node *n, const ResizeInputs *ri, const int *axes, int na, ResizeGeom *g, Diag *d)
{
    if (ri->n_sizes != na)
        return infer_error(n, d, "'sizes' has %d values, expected %d", ri->n_sizes, na);
    const char *policy = n->opset >= 18 ? node_attr_string(n, "keep_aspect_ratio_policy", "stretch") : "stretch";
    bool larger = !strcmp(policy, "not_larger"), smaller = !strcmp(policy, "not_smaller");
    if (!larger && !smaller && strcmp(policy, "stretch"))
        return infer_error(n, d, "unknown keep_aspect_ratio_policy '%s'", policy);
    double keep = larger ? INFINITY : 0.0;
    for (int i = 0; i < na; i++) {
        int a = axes[i];
        if (ri->sizes[i] < 1)
            return infer_error(n, d, "size %lld of axis %d is below 1", (long long)ri->sizes[i], a);
        g->out[a] = ri->sizes[i];
        g->scale[a] = g->in[a] > 0 ? (double)ri->sizes[i] / (double)g->in[a] : -1;
        keep = larger ? fmin(keep, g->scale[a]) : fmax(keep, g->scale[a]);
    }
    bool all_known = true;
    for (int i = 0; i < na; i++)
        all_known &= g->in[axes[i]] > 0;
    for (int i = 0; (larger || smaller) && i < na; i++) {
        int a = axes[i];
        g->scale[a] = keep;
        g->out[a] = all_known ? (int64_t)(keep * (double)g->in[a] + 0.5) : -1;
    }
    return KDC_OK;
}

Status resize_geom_resolve(const Node *n, const Shape *x, const ResizeInputs *ri, ResizeGeom *g, Diag *d)
{
    int axes[IR_MAX_RANK], na = 0;
    memset(g, 0, sizeof *g);
    g->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        g->in[i] = g->out[i] = x->dims[i].value;
        g->scale[i] = 1.0;
        g->roi_end[i] = 1.0;
    }
    if (resize_axes(n, x->rank, axes, &na, d))
        return KDC_ERR;
    if (ri->unknown) {
        for (int i = 0; i < x->rank; i++)
            g->out[i] = -1;
        return KDC_OK;
    }
    bool scales = ri->n_scales > 0, sizes = ri->n_sizes > 0;
    if (scales == sizes)
        return infer_error(n, d,
                           scales ? "'scales' and 'sizes' are both given" : "neither 'scales' nor 'sizes' is given");
    if (resize_roi(n, ri, axes, na, g, d))
        return KDC_ERR;
    return scales ? resize_from_scales(n, ri, axes, na, g, d) : resize_from_sizes(n, ri, axes, na, g, d);
}
