/* conv_geom.c - window geometry of Conv and pooling ops (see conv_geom.h). */
#include "ir/conv_geom.h"

#include "ir/infer.h"

#include <string.h>

static Status read_ints(const Node *n, const char *name, int count, int64_t dflt, int64_t *out, Diag *d)
{
    int k = 0;
    const int64_t *v = node_attr_ints(n, name, &k);
    for (int i = 0; i < count; i++)
        out[i] = dflt;
    if (!v)
        return KDC_OK;
    if (k != count)
        return infer_error(n, d, "attribute '%s' has %d values, expected %d", name, k, count);
    memcpy(out, v, (size_t)count * sizeof *out);
    for (int i = 0; i < count; i++)
        if (out[i] < (dflt == 0 ? 0 : 1))
            return infer_error(n, d, "attribute '%s' has an invalid value %lld", name, (long long)out[i]);
    return KDC_OK;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static void resolve_auto_pad(const char *mode, ConvGeom *g, int i)
{
    int64_t eff = g->dilations[i] * (g->kernel[i] - 1) + 1;
    if (!strcmp(mode, "VALID")) {
        g->pad_begin[i] = g->pad_end[i] = 0;
        return;
    }
    if (g->in[i] < 0)
        return;
    int64_t out = ceil_div(g->in[i], g->strides[i]);
    int64_t total = (out - 1) * g->strides[i] + eff - g->in[i];
    if (total < 0)
        total = 0;
    bool lower = !strcmp(mode, "SAME_LOWER");
    g->pad_begin[i] = lower ? total - total / 2 : total / 2;
    g->pad_end[i] = total - g->pad_begin[i];
}

static Status output_sizes(const Node *n, ConvGeom *g, Diag *d)
{
    for (int i = 0; i < g->n_spatial; i++) {
        if (g->in[i] < 0) {
            g->out[i] = -1;
            continue;
        }
        int64_t eff = g->dilations[i] * (g->kernel[i] - 1) + 1;
        int64_t span = g->in[i] + g->pad_begin[i] + g->pad_end[i] - eff;
        if (span < 0)
            return infer_error(n, d, "window %lld does not fit spatial size %lld (padded %lld)", (long long)eff,
                               (long long)g->in[i], (long long)(g->in[i] + g->pad_begin[i] + g->pad_end[i]));
        int64_t o = (g->ceil_mode ? ceil_div(span, g->strides[i]) : span / g->strides[i]) + 1;
        /* ceil mode: the last window must start inside the input or left padding */
        if (g->ceil_mode && (o - 1) * g->strides[i] >= g->in[i] + g->pad_begin[i])
            o--;
        g->out[i] = o;
    }
    return KDC_OK;
}

Status conv_geom_resolve(const Node *n, const Shape *x, const int64_t *kernel, ConvGeom *g, Diag *d)
{
    memset(g, 0, sizeof *g);
    if (x->rank < 3)
        return infer_error(n, d, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
    int ns = g->n_spatial = x->rank - 2;
    memcpy(g->kernel, kernel, (size_t)ns * sizeof *kernel);
    for (int i = 0; i < ns; i++)
        g->in[i] = x->dims[i + 2].value;
    int64_t pads[2 * IR_MAX_RANK];
    if (read_ints(n, "strides", ns, 1, g->strides, d) || read_ints(n, "dilations", ns, 1, g->dilations, d) ||
        read_ints(n, "pads", 2 * ns, 0, pads, d))
        return KDC_ERR;
    for (int i = 0; i < ns; i++) {
        g->pad_begin[i] = pads[i];
        g->pad_end[i] = pads[i + ns];
    }
    g->ceil_mode = node_attr_int(n, "ceil_mode", 0) != 0;
    const char *ap = node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") != 0) {
        if (strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
            return infer_error(n, d, "unknown auto_pad '%s'", ap);
        for (int i = 0; i < ns; i++)
            resolve_auto_pad(ap, g, i);
    }
    return output_sizes(n, g, d);
}
