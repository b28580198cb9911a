/* train/options.h - what the trainer is told: the data, the distillation loss, the optimizer.
 *
 * Plain option structs, no behaviour. recipes/ fills them from a recipe file (and checks
 * ranges and applies defaults there, see recipes/recipe_schema.c); tests may fill them by
 * hand. Strings are owned by whoever filled the struct: for a recipe, recipe_free().
 */
#ifndef KDC_TRAIN_OPTIONS_H
#define KDC_TRAIN_OPTIONS_H

#include <stdint.h>

/* Most channels a per-channel normalize list may name. */
enum { DATA_MAX_CHANNELS = 16 };

typedef enum {
    DATA_FORMAT_IDX, /* MNIST-family IDX files, raw or gzip-compressed */
    DATA_FORMAT_NPY, /* NumPy .npy arrays */
} DataFormat;

/* One split (train or test): a file of input examples and a file of class labels. */
typedef struct DataSplit {
    DataFormat format;
    char *inputs;
    char *labels;
} DataSplit;

/* Applied to every input element of channel c: x' = (x * scale - mean[c]) / std[c].
 * A list of one entry applies to every channel. std entries are > 0. */
typedef struct DataNormalize {
    double scale;
    int n_mean; /* 1..DATA_MAX_CHANNELS */
    int n_std;  /* 1..DATA_MAX_CHANNELS */
    double mean[DATA_MAX_CHANNELS];
    double std[DATA_MAX_CHANNELS];
} DataNormalize;

typedef struct DataOptions {
    DataSplit train;
    DataSplit test;
    DataNormalize normalize; /* the same for both splits */
} DataOptions;

/* loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
 *      + (1 - alpha) * cross_entropy(student, labels),  T = temperature > 0, alpha in [0, 1]. */
typedef struct DistillOptions {
    double temperature;
    double alpha;
} DistillOptions;

typedef enum {
    TRAIN_SCHEDULE_COSINE,   /* lr * (1 + cos(pi * step / total_steps)) / 2 */
    TRAIN_SCHEDULE_CONSTANT, /* lr throughout */
} TrainSchedule;

/* SGD with momentum and L2 weight decay. */
typedef struct TrainOptions {
    int epochs;          /* >= 1 */
    int batch_size;      /* >= 1 */
    double lr;           /* > 0, the peak learning rate */
    double momentum;     /* in [0, 1) */
    double weight_decay; /* >= 0 */
    TrainSchedule schedule;
    uint64_t seed; /* drives weight init, shuffling and anything else random */
} TrainOptions;

#endif
