/* dataset.h - in-memory classification datasets: float inputs and integer labels.
 *
 * A Dataset holds n samples of one fixed per-sample shape, converted to float32
 * (raw values; dataset_normalize rescales them), and n int32 labels. Loaders
 * read IDX (MNIST-style, optionally gzip-compressed) and NumPy .npy files. A
 * sample that is a 2-D image [rows, cols] is given a leading channel, [1, rows,
 * cols], so convolutional teachers can take it as NCHW. Every loader error names
 * the file and what is wrong with it.
 */
#ifndef KDC_TRAIN_DATASET_H
#define KDC_TRAIN_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"

#define DATASET_MAX_RANK 4

typedef struct Dataset {
    int64_t n;                       /* samples */
    int rank;                        /* per-sample rank, 1..DATASET_MAX_RANK */
    int64_t dims[DATASET_MAX_RANK];  /* per-sample dims, e.g. {1,28,28} or {784} */
    int64_t sample_size;             /* product of dims */
    float *x;                        /* [n, sample_size] */
    int32_t *y;                      /* [n], every label >= 0 */
    int32_t max_label;
} Dataset;

/* Loads IDX files (gzip or not): inputs with 2 or more dims, labels with 1 integer dim. */
Status dataset_load_idx(const char *inputs, const char *labels, Dataset *out, Diag *d);

/* Loads .npy files (v1-v3, C order): inputs '<f4', '<f8' or '|u1' of shape [N, ...],
 * labels '<i8', '<i4' or '|u1' of shape [N]. */
Status dataset_load_npy(const char *inputs, const char *labels, Dataset *out, Diag *d);

/* Picks the loader by the inputs' extension: ".npy" is NumPy, anything else IDX. */
Status dataset_load(const char *inputs, const char *labels, Dataset *out, Diag *d);

/* x = (x * scale - mean[c]) / std[c], c the channel (dim 0 of a sample). A list of
 * one value applies to every channel; otherwise its length must equal dims[0].
 * mean may be NULL (0) and std may be NULL (1) when their count is 0. */
Status dataset_normalize(Dataset *ds, double scale, const double *mean, int n_mean,
                         const double *std, int n_std, Diag *d);

/* Frees the buffers and zeroes the struct; safe on a zeroed or freed Dataset. */
void dataset_free(Dataset *ds);

/* ---- shared by the IDX and .npy loaders ---- */

/* Validates a file's full shape [N, ...] (path labels errors) and fills n, rank,
 * dims and sample_size, adding the channel to a 2-D image sample. */
Status dataset_set_shape(Dataset *ds, const int64_t *shape, int ndims, const char *path,
                         Diag *d);

/* Checks that the label count matches the inputs and that every label is in
 * [0, INT32_MAX]; labels64 are converted into ds->y (allocated here) and
 * max_label is set. */
Status dataset_set_labels(Dataset *ds, const int64_t *labels64, int64_t count,
                          const char *labels_path, const char *inputs_path, Diag *d);

/* The format-specific halves of a loader: one reads an inputs file into ds (shape
 * and x), the other a labels file into *labels, malloc'ed for the caller, and
 * *count. Both name the file in their errors. */
typedef Status (*DatasetInputsReader)(const char *path, Dataset *ds, Diag *d);
typedef Status (*DatasetLabelsReader)(const char *path, int64_t **labels, int64_t *count, Diag *d);

/* Reads inputs then labels with a format's readers and checks them together
 * (dataset_set_labels); on error *out is zeroed and nothing is kept. */
Status dataset_load_with(const char *inputs, const char *labels, DatasetInputsReader read_inputs,
                         DatasetLabelsReader read_labels, Dataset *out, Diag *d);

/* Reports the first NaN or infinity in ds->x as an error naming path. */
Status dataset_check_finite(const Dataset *ds, const char *path, Diag *d);

/* *product = a * b, false if it overflows int64_t or an operand is negative. */
bool dataset_mul(int64_t a, int64_t b, int64_t *product);

#endif
