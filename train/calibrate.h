/* calibrate.h - measurements taken by running a teacher on calibration
 * batches, for the width and depth shrink passes (which take them as data
 * and stay pure graph rewrites).
 *
 *   calib_activation  mean |x| per index along one axis of a value, over all
 *                     samples and every other axis (Minitron's activation
 *                     importance); with it, optionally, mean and variance.
 *   calib_taylor      per element of every trainable parameter, the sum over
 *                     calibration batches of |w * dL/dw| (Taylor importance).
 *   calib_cosine      per (a, b) pair of same-shape values, the mean over
 *                     samples of 1 - cos(a_s, b_s), each sample's tensor
 *                     flattened (block similarity, as in ShortGPT).
 *
 * Data: one tensor per graph input (inputs with an initializer excluded), in
 * graph-input order, shaped [n_samples, per-sample dims...] where the
 * per-sample dims equal the input's declared dims without the batch dim and
 * the dtype equals the input's (float, int64 token ids, ...). Batches of
 * `batch` samples run through one plan and the remainder through a second
 * plan of that size, so every sample counts once and nothing is padded; an
 * input that declares a fixed dim 0 fixes the batch to it. Values measured
 * are assumed to carry the samples on dim 0 where the measurement is per
 * sample (calib_cosine).
 *
 * Activation and cosine run inference plans (BatchNormalization with running
 * statistics, Dropout off) in which the measured values are kept
 * (plan_probe_build). Taylor runs a training plan, so BatchNormalization uses
 * batch statistics and Dropout is active with a fixed seed; the training
 * plan updates BatchNormalization running statistics in the IR, so every
 * initializer of the graph is saved before and restored after: the graph is
 * bit-identical afterwards, on success and on error.
 */
#ifndef KDC_TRAIN_CALIBRATE_H
#define KDC_TRAIN_CALIBRATE_H

#include <stdint.h>

#include "ir/ir.h"

/* Where to read calibration inputs and how many samples to run at once. */
typedef struct CalibData {
    const Tensor *const *inputs; /* [n_inputs]: [n_samples, ...] each */
    int n_inputs;
    int64_t n_samples;
    int64_t batch; /* >= 1; more than n_samples runs them all at once */
} CalibData;

/* Checks data against g's inputs (count, dtype, per-sample shape, sample
 * count); the message names the input. */
Status calib_data_check(const Graph *g, const CalibData *data, Diag *d);

/* ---- activation importance ---- */

typedef struct CalibRequest {
    const Value *value; /* a float value of g */
    int axis;           /* negative counts from the end; its declared dim must be fixed */
    double *mean_abs;   /* caller-allocated, dim-size entries; unspecified on error */
    /* Optional (NULL: not measured), dim-size entries each: the mean of x and its
     * population variance per index, over the same elements (normalization layers that
     * must start as the identity are set from them). */
    double *mean, *var;
} CalibRequest;

Status calib_activation(Graph *g, const CalibData *data, CalibRequest *req, int n_req, Diag *d);

/* A request for value's moments along its channel axis 1 (dim entries each: mean |x|, mean
 * and variance); false when out of memory. calib_requests_free frees the arrays of n
 * requests, then the array req. */
bool calib_moments_request(CalibRequest *req, const Value *value, int64_t dim);
void calib_requests_free(CalibRequest *req, int n);

/* ---- Taylor importance ---- */

typedef struct CalibTaylorParam {
    const Value *value; /* a float initializer the training plan trains */
    int64_t numel;
    double *score; /* [numel]: sum over batches of |w * dL/dw| */
} CalibTaylorParam;

typedef struct CalibTaylor {
    CalibTaylorParam *params;
    int n_params;
} CalibTaylor;

/* The loss L of a batch: when output 0 has rank 2 ([batch, classes],
 * logits), the batch-mean cross-entropy against the model's own argmax
 * (pseudo-labels, so no labels are needed); otherwise 0.5 * the mean over
 * all elements of output 0 squared. Parameters that do not reach output 0
 * score 0. On success *out owns its arrays (calib_taylor_free). */
Status calib_taylor(Graph *g, const CalibData *data, CalibTaylor *out, Diag *d);
/* The scores of parameter v, or NULL when v was not measured. */
const CalibTaylorParam *calib_taylor_find(const CalibTaylor *t, const Value *v);
void calib_taylor_free(CalibTaylor *t);

/* ---- block similarity ---- */

typedef struct CalibPair {
    const Value *a, *b; /* float values of g, same shape, samples on dim 0 */
    double score;       /* out: mean over samples of 1 - cos(a_s, b_s) */
} CalibPair;

/* A sample whose a and b are both all zeros scores 0 (identical); one that
 * has exactly one of them all zeros scores 1 (orthogonal). */
Status calib_cosine(Graph *g, const CalibData *data, CalibPair *pairs, int n, Diag *d);

/* ---- calibration files ---- */

/* Reads one tensor file into store's arena. frontend/'s tensor_file_read
 * (.npy, or a TensorProto .pb) has this signature; train/ may not include
 * frontend/, so the caller (cli/) passes it in. */
typedef Status (*CalibTensorReader)(const char *path, Model *store, Tensor **out, Diag *d);

typedef struct CalibFiles {
    Model *store;           /* owns the tensors */
    const Tensor **tensors; /* [data.n_inputs] */
    CalibData data;         /* points into the above */
} CalibFiles;

/* Reads paths[k] as the data of g's k-th input (first axis = samples) and
 * checks it, naming the file in every error. On error *out is empty. */
Status calib_files_load(const Graph *g, const char *const *paths, int n_paths, int64_t batch, CalibTensorReader read,
                        CalibFiles *out, Diag *d);
void calib_files_free(CalibFiles *f);

#endif
