/* depth_models.h - small teachers for the depth shrink tests, built in memory:
 * a ResNet-like CNN (basic blocks, one stride-2 block with a projection
 * shortcut) and BERT/ViT-like encoders (pre-norm or post-norm layers,
 * LayerNormalization or its opset<17 decomposition, optional attention mask).
 *
 * Node names follow PyTorch's exporter ("/layer1/layer1.0/conv1/Conv") or,
 * with scoped = false, carry no module path ("layer1_layer1.0_conv1_Conv"),
 * which is what the depth shrink's naming rules distinguish. Shapes are left
 * for pass_infer_shapes (dm_finish runs it). A block can be made an exact
 * identity (its last weights zero) so removing it must not change outputs.
 * Header-only (static inline) on top of graph_build.h.
 */
#ifndef KDC_TEST_DEPTH_MODELS_H
#define KDC_TEST_DEPTH_MODELS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "passes/passes.h"
#include "tests/unit/graph_build.h"

#define DM_OPSET 17

typedef struct DmCtx {
    Graph *g;
    bool scoped;
    const char *zero_block; /* this block's last weights are zero: it computes x + 0 */
} DmCtx;

/* The node name for module path `scope` and op `op`: "/scope/op", or the
 * same with '_' for '/' and no leading '/' when the model is unscoped. The
 * text lives in one of 16 rotating buffers: copy it to keep it longer. */
static inline const char *dm_name(const DmCtx *c, const char *scope, const char *op)
{
    static char buf[16][160];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s%s%s%s", c->scoped ? "/" : "", scope, *scope ? "/" : "", op);
    for (char *p = buf[k]; !c->scoped && *p; p++)
        *p = *p == '/' ? '_' : *p;
    return buf[k];
}

static inline bool dm_zeroed(const DmCtx *c, const char *scope)
{
    return c->zero_block && strstr(scope, c->zero_block) &&
           strlen(strstr(scope, c->zero_block)) == strlen(c->zero_block);
}

static inline Value *dm_weight(DmCtx *c, const char *name, int rank, const int64_t *dims, bool zero)
{
    char wname[200];
    snprintf(wname, sizeof wname, "%s.w%d", name, c->g->n_inits);
    return zero ? gb_init(c->g, wname, DT_FLOAT, rank, dims) : gb_param(c->g, wname, rank, dims, -0.2f, 0.2f);
}

static inline Value *dm_scalar(DmCtx *c, const char *name, float v)
{
    char wname[200];
    snprintf(wname, sizeof wname, "%s.c%d", name, c->g->n_inits);
    return gb_init_copy(c->g, wname, DT_FLOAT, 0, NULL, &v);
}

/* ---- convolutional ---- */

static inline Value *dm_conv(DmCtx *c, const char *scope, Value *x, int64_t cin, int64_t cout, int64_t k,
                             int64_t stride, bool zero)
{
    const char *name = dm_name(c, scope, "Conv");
    Value *w = dm_weight(c, name, 4, (int64_t[]){cout, cin, k, k}, zero);
    Value *b = dm_weight(c, name, 1, &cout, zero);
    Node *n = gb_node(c->g, "Conv", DM_OPSET, name, 3, (Value *[]){x, w, b}, 1);
    int64_t pad = k / 2;
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    gb_set_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    gb_set_ints(n, "strides", 2, (int64_t[]){stride, stride});
    return n->outputs[0];
}

static inline Value *dm_relu(DmCtx *c, const char *scope, Value *x)
{
    return gb_op1(c->g, "Relu", DM_OPSET, dm_name(c, scope, "Relu"), x);
}

/* torchvision's BasicBlock: relu(conv2(relu(conv1(x))) + shortcut(x)). */
static inline Value *dm_basic_block(DmCtx *c, const char *block, Value *x, int64_t cin, int64_t cout, int64_t stride)
{
    char s[128];
    bool zero = dm_zeroed(c, block);
    snprintf(s, sizeof s, "%s/conv1", block);
    Value *h = dm_conv(c, s, x, cin, cout, 3, stride, false);
    snprintf(s, sizeof s, "%s/relu", block);
    h = dm_relu(c, s, h);
    snprintf(s, sizeof s, "%s/conv2", block);
    h = dm_conv(c, s, h, cout, cout, 3, 1, zero);
    Value *shortcut = x;
    if (stride != 1 || cin != cout) {
        snprintf(s, sizeof s, "%s/downsample/downsample.0", block);
        shortcut = dm_conv(c, s, x, cin, cout, 1, stride, false);
    }
    Value *sum = gb_op2(c->g, "Add", DM_OPSET, dm_name(c, block, "Add"), h, shortcut);
    snprintf(s, sizeof s, "%s/relu_1", block);
    return dm_relu(c, s, sum);
}

/* x[1,3,16,16] -> conv1 (64) -> layer1.0, layer1.1 (64) -> layer2.0 (128,
 * stride 2) -> layer2.1 -> global pool -> fc (10) = logits. */
static inline void dm_resnet(Model *m, bool scoped, const char *zero_block)
{
    DmCtx c = {m->graph, scoped, zero_block};
    Value *x = gb_input(c.g, "input", DT_FLOAT, 4, (int64_t[]){1, 3, 16, 16});
    Value *h = dm_relu(&c, "relu", dm_conv(&c, "conv1", x, 3, 64, 3, 1, false));
    h = dm_basic_block(&c, "layer1/layer1.0", h, 64, 64, 1);
    h = dm_basic_block(&c, "layer1/layer1.1", h, 64, 64, 1);
    h = dm_basic_block(&c, "layer2/layer2.0", h, 64, 128, 2);
    h = dm_basic_block(&c, "layer2/layer2.1", h, 128, 128, 1);
    h = gb_op1(c.g, "GlobalAveragePool", DM_OPSET, dm_name(&c, "avgpool", "GlobalAveragePool"), h);
    h = gb_op1(c.g, "Flatten", DM_OPSET, dm_name(&c, "", "Flatten"), h);
    const char *fc = dm_name(&c, "fc", "Gemm");
    Value *w = dm_weight(&c, fc, 2, (int64_t[]){10, 128}, false), *b = dm_weight(&c, fc, 1, (int64_t[]){10}, false);
    Node *n = gb_node_to(c.g, "Gemm", DM_OPSET, fc, 3, (Value *[]){h, w, b}, "logits");
    gb_set_int(n, "transB", 1);
    gb_append_output(c.g, n->outputs[0]);
}

/* ---- transformer ---- */

typedef struct DmEncoder {
    int layers;
    bool pre_norm;   /* ViT/GPT: x + f(LN(x)); else BERT: LN(x + f(x)) */
    bool decomposed; /* LayerNormalization as PyTorch exports it before opset 17 */
    bool scoped;
    bool mask; /* a second input, added to every layer's attention scores */
    const char *zero_block;
} DmEncoder;

enum { DM_SEQ = 8, DM_D = 16, DM_HIDDEN = 32 };

/* x @ W + b, as PyTorch exports nn.Linear on 3-D inputs. */
static inline Value *dm_linear(DmCtx *c, const char *scope, Value *x, int64_t din, int64_t dout, bool zero)
{
    const char *mm = dm_name(c, scope, "MatMul");
    Value *w = dm_weight(c, mm, 2, (int64_t[]){din, dout}, zero);
    Value *h = gb_op2(c->g, "MatMul", DM_OPSET, mm, x, w);
    const char *add = dm_name(c, scope, "Add");
    return gb_op2(c->g, "Add", DM_OPSET, add, dm_weight(c, add, 1, &dout, zero), h);
}

static inline Value *dm_layernorm(DmCtx *c, const DmEncoder *e, const char *scope, Value *x)
{
    char ln[160]; /* dm_name's buffers are reused by the calls below */
    snprintf(ln, sizeof ln, "%s", dm_name(c, scope, e->decomposed ? "Mul" : "LayerNormalization"));
    Value *gamma = gb_param(c->g, ln, 1, (int64_t[]){DM_D}, 0.5f, 1.5f);
    char beta_name[200];
    snprintf(beta_name, sizeof beta_name, "%s.beta", ln);
    Value *beta = gb_param(c->g, beta_name, 1, (int64_t[]){DM_D}, -0.5f, 0.5f);
    if (!e->decomposed) {
        Node *n = gb_node(c->g, "LayerNormalization", DM_OPSET, ln, 3, (Value *[]){x, gamma, beta}, 1);
        gb_set_int(n, "axis", -1);
        return n->outputs[0];
    }
    Node *mean = gb_node(c->g, "ReduceMean", DM_OPSET, dm_name(c, scope, "ReduceMean"), 1, &x, 1);
    gb_set_ints(mean, "axes", 1, (int64_t[]){-1});
    Value *centred = gb_op2(c->g, "Sub", DM_OPSET, dm_name(c, scope, "Sub"), x, mean->outputs[0]);
    Value *sq = gb_op2(c->g, "Pow", DM_OPSET, dm_name(c, scope, "Pow"), centred, dm_scalar(c, scope, 2.0f));
    Node *var = gb_node(c->g, "ReduceMean", DM_OPSET, dm_name(c, scope, "ReduceMean_1"), 1, &sq, 1);
    gb_set_ints(var, "axes", 1, (int64_t[]){-1});
    Value *h = gb_op2(c->g, "Add", DM_OPSET, dm_name(c, scope, "Add"), var->outputs[0], dm_scalar(c, scope, 1e-5f));
    h = gb_op1(c->g, "Sqrt", DM_OPSET, dm_name(c, scope, "Sqrt"), h);
    h = gb_op2(c->g, "Div", DM_OPSET, dm_name(c, scope, "Div"), centred, h);
    h = gb_op2(c->g, "Mul", DM_OPSET, ln, h, gamma);
    return gb_op2(c->g, "Add", DM_OPSET, dm_name(c, scope, "Add_1"), h, beta);
}

/* Single-head self-attention: softmax(q k^T / 4 + mask) v, projected. */
static inline Value *dm_attention(DmCtx *c, const char *layer, Value *x, Value *mask, bool zero)
{
    char s[128];
    Value *qkv[3];
    for (int i = 0; i < 3; i++) {
        snprintf(s, sizeof s, "%s/attn/%c", layer, "qkv"[i]);
        qkv[i] = dm_linear(c, s, x, DM_D, DM_D, false);
    }
    snprintf(s, sizeof s, "%s/attn", layer);
    Node *kt = gb_node(c->g, "Transpose", DM_OPSET, dm_name(c, s, "Transpose"), 1, &qkv[1], 1);
    gb_set_ints(kt, "perm", 3, (int64_t[]){0, 2, 1});
    Value *h = gb_op2(c->g, "MatMul", DM_OPSET, dm_name(c, s, "MatMul"), qkv[0], kt->outputs[0]);
    h = gb_op2(c->g, "Div", DM_OPSET, dm_name(c, s, "Div"), h, dm_scalar(c, s, 4.0f));
    if (mask)
        h = gb_op2(c->g, "Add", DM_OPSET, dm_name(c, s, "Add"), h, mask);
    Node *sm = gb_node(c->g, "Softmax", DM_OPSET, dm_name(c, s, "Softmax"), 1, &h, 1);
    gb_set_int(sm, "axis", -1);
    h = gb_op2(c->g, "MatMul", DM_OPSET, dm_name(c, s, "MatMul_1"), sm->outputs[0], qkv[2]);
    snprintf(s, sizeof s, "%s/attn/out", layer);
    return dm_linear(c, s, h, DM_D, DM_D, zero);
}

static inline Value *dm_mlp(DmCtx *c, const char *layer, Value *x, bool zero)
{
    char s[128];
    snprintf(s, sizeof s, "%s/mlp/mlp.0", layer);
    Value *h = dm_linear(c, s, x, DM_D, DM_HIDDEN, false);
    snprintf(s, sizeof s, "%s/mlp/mlp.1", layer);
    h = dm_relu(c, s, h);
    snprintf(s, sizeof s, "%s/mlp/mlp.2", layer);
    return dm_linear(c, s, h, DM_HIDDEN, DM_D, zero);
}

static inline Value *dm_encoder_layer(DmCtx *c, const DmEncoder *e, int i, Value *x, Value *mask)
{
    char layer[64], s[96];
    snprintf(layer, sizeof layer, "layers.%d", i);
    bool zero = dm_zeroed(c, layer);
    char add[160], add1[160]; /* dm_name's buffers are reused by the calls below */
    snprintf(add, sizeof add, "%s", dm_name(c, layer, "Add"));
    snprintf(add1, sizeof add1, "%s", dm_name(c, layer, "Add_1"));
    snprintf(s, sizeof s, "%s/ln1", layer);
    if (e->pre_norm) {
        Value *h = gb_op2(c->g, "Add", DM_OPSET, add, x, dm_attention(c, layer, dm_layernorm(c, e, s, x), mask, zero));
        snprintf(s, sizeof s, "%s/ln2", layer);
        return gb_op2(c->g, "Add", DM_OPSET, add1, h, dm_mlp(c, layer, dm_layernorm(c, e, s, h), zero));
    }
    Value *h = dm_layernorm(c, e, s, gb_op2(c->g, "Add", DM_OPSET, add, x, dm_attention(c, layer, x, mask, zero)));
    snprintf(s, sizeof s, "%s/ln2", layer);
    return dm_layernorm(c, e, s, gb_op2(c->g, "Add", DM_OPSET, add1, h, dm_mlp(c, layer, h, zero)));
}

/* x[1,8,16] -> embed (MatMul 16x16) -> layers -> pre-norm: final LN -> head;
 * post-norm: the last layer's output is also a graph output (the first), and
 * the head reads it. Graph output "logits" [1,8,4]. */
static inline void dm_encoder(Model *m, const DmEncoder *e)
{
    DmCtx c = {m->graph, e->scoped, e->zero_block};
    Value *x = gb_input(c.g, "input", DT_FLOAT, 3, (int64_t[]){1, DM_SEQ, DM_D});
    Value *mask = e->mask ? gb_input(c.g, "mask", DT_FLOAT, 3, (int64_t[]){1, 1, DM_SEQ}) : NULL;
    const char *embed = dm_name(&c, "embed", "MatMul");
    Value *h = gb_op2(c.g, "MatMul", DM_OPSET, embed, x, dm_weight(&c, embed, 2, (int64_t[]){DM_D, DM_D}, false));
    for (int i = 0; i < e->layers; i++)
        h = dm_encoder_layer(&c, e, i, h, mask);
    if (e->pre_norm)
        h = dm_layernorm(&c, e, "ln", h);
    else
        gb_append_output(c.g, h); /* BERT's last_hidden_state: the last layer's exit */
    const char *head = dm_name(&c, "head", "MatMul");
    Node *n = gb_node_to(c.g, "MatMul", DM_OPSET, head, 2,
                         (Value *[]){h, dm_weight(&c, head, 2, (int64_t[]){DM_D, 4}, false)}, "logits");
    gb_append_output(c.g, n->outputs[0]);
}

/* ---- a plain stack ---- */

/* x[1,16] -> fc1 (16) relu -> fc2 (16) relu -> fc3 (4) = logits. */
static inline void dm_mlp_stack(Model *m)
{
    DmCtx c = {m->graph, true, NULL};
    Value *h = gb_input(c.g, "input", DT_FLOAT, 2, (int64_t[]){1, 16});
    const int64_t outs[3] = {16, 16, 4};
    for (int i = 0; i < 3; i++) {
        char scope[16], act[16];
        snprintf(scope, sizeof scope, "fc%d", i + 1);
        snprintf(act, sizeof act, "act%d", i + 1);
        const char *name = dm_name(&c, scope, "Gemm");
        Value *w = dm_weight(&c, name, 2, (int64_t[]){outs[i], 16}, false);
        Value *b = dm_weight(&c, name, 1, &outs[i], false);
        Node *n = gb_node(c.g, "Gemm", DM_OPSET, name, 3, (Value *[]){h, w, b}, 1);
        gb_set_int(n, "transB", 1);
        h = i < 2 ? dm_relu(&c, act, n->outputs[0]) : n->outputs[0];
    }
    gb_append_output(c.g, h);
}

/* Shapes for the builders' graphs; fails the test on any error. */
static inline void dm_finish(Model *m)
{
    Diag d = {{0}};
    if (pass_infer_shapes(m->graph, &d) || ir_verify(m, &d))
        fail_msg("building the test model: %s", d.msg);
}

#endif
