/* train/options.h - what the trainer is told: the data, the distillation loss, the optimizer.
 *
 * Plain option structs, no behaviour. recipes/ fills them from a recipe file (and checks
 * ranges and applies defaults there, see recipes/recipe_schema.c); tests may fill them by
 * hand. Strings are owned by whoever filled the struct: for a recipe, recipe_free().
 */
#ifndef KDC_TRAIN_OPTIONS_H
#define KDC_TRAIN_OPTIONS_H

#include <stdbool.h>
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

/* Random changes to each training batch, drawn from train.seed, applied once to the batch
 * that the student and every teacher then see (so they see the same images). Test data is
 * never augmented. */
typedef struct AugmentOptions {
    int crop_padding; /* > 0: pad H and W by this many zeros each side, crop back at random */
    bool flip;        /* mirror each image left-right with probability 1/2 */
    double mixup;     /* > 0: mix each batch with a permutation of itself, weight ~ Beta(a, a) */
} AugmentOptions;

typedef struct DataOptions {
    DataSplit train;
    DataSplit test;
    DataNormalize normalize; /* the same for both splits */
    AugmentOptions augment;  /* all zero: none */
} DataOptions;

/* The terms of the training loss (distill.losses), each with its weight. */
typedef enum {
    LOSS_KD,          /* T^2 * KL(softmax(teacher / T) || softmax(student / T)), logits */
    LOSS_CE,          /* cross-entropy with the labels, optionally label-smoothed */
    LOSS_HINT,        /* FitNets: MSE between adapted student and teacher features */
    LOSS_ATTENTION,   /* attention transfer: p-norm spatial maps */
    LOSS_SIMILARITY,  /* similarity preserving: batch Gram matrices */
    LOSS_RELATION,    /* RKD: distance and angle terms */
    LOSS_CONTRASTIVE, /* CRD: projection heads, memory bank, NCE */
    LOSS_PKT,         /* probabilistic knowledge transfer */
    LOSS_CORRELATION, /* correlation congruence */
    LOSS_KIND_COUNT
} LossKind;

enum {
    DISTILL_MAX_LOSSES = 16,
    DISTILL_MAX_PAIRS = 8,    /* feature pairs of one loss entry */
    DISTILL_MAX_TEACHERS = 8,
    DISTILL_MAX_STAGES = 4,
};

/* A teacher value and the student value that imitates it: ONNX value names, or globs
 * (fnmatch) that each match exactly one value. */
typedef struct FeaturePair {
    char *teacher, *student;
    int line, col; /* of the pair in the recipe; 0 when not from a file */
} FeaturePair;

/* Contrastive representation distillation (CRD, Tian et al. 2020) settings. */
typedef struct ContrastSpec {
    int feat_dim;       /* projection size, >= 1 (default 128) */
    int negatives;      /* negatives per sample drawn from the memory bank, >= 1 (default 4096) */
    double temperature; /* NCE temperature, > 0 (default 0.07) */
    double momentum;    /* memory bank update momentum, in [0, 1) (default 0.5) */
} ContrastSpec;

/* One entry of distill.losses. Options that do not apply to the kind keep their defaults. */
typedef struct LossSpec {
    LossKind kind;
    double weight;      /* >= 0 (default 1) */
    int teacher;        /* 1-based index into the teachers; 0: every teacher (default) */
    int line, col;      /* of the entry in the recipe; 0 when not from a file */
    double temperature; /* kd: T > 0 (default distill.temperature) */
    double smoothing;   /* ce: label smoothing in [0, 1) (default 0) */
    /* Feature losses (all but kd and ce): which values. pairs_auto, or n_pairs >= 1. */
    bool pairs_auto;
    int n_pairs;
    FeaturePair pairs[DISTILL_MAX_PAIRS];
    double p;                             /* attention: exponent > 0 (default 2) */
    double distance_weight, angle_weight; /* relation: >= 0 (defaults 25 and 50) */
    ContrastSpec contrast;                /* contrastive */
} LossSpec;

/* With several teachers, kd either learns the weighted average of their softened
 * probabilities (average) or has one term per teacher, scaled by its weight (separate). */
typedef enum { TEACHER_MIX_AVERAGE, TEACHER_MIX_SEPARATE } TeacherMix;

/* A stage run before the main training (distill.stages). hint: FitNets' first stage,
 * trains only the student weights the hint losses reach, on the hint losses alone. */
typedef enum { STAGE_HINT } StageKind;

typedef struct StageSpec {
    StageKind kind;
    int epochs;    /* >= 1 */
    int line, col; /* of the entry in the recipe */
} StageSpec;

/* Online distillation (deep mutual learning): the teacher trains too, on kd from the
 * student and ce, with its own optimizer settings (the schedule and epochs are train's). */
typedef struct OnlineOptions {
    bool enabled;
    double lr;           /* > 0 */
    double momentum;     /* in [0, 1) */
    double weight_decay; /* >= 0 */
    char *output;        /* where the trained teacher is written; NULL: not written */
} OnlineOptions;

/* Three-valued switch: auto lets kdc decide (and say what it decided). */
typedef enum { SWITCH_AUTO = -1, SWITCH_OFF = 0, SWITCH_ON = 1 } Switch;

/* The training loss and what it reads. With n_losses == 0 it is the classic
 *   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
 *   + (1 - alpha) * cross_entropy(student, labels),  T = temperature > 0, alpha in [0, 1],
 * i.e. losses [{kind: kd, weight: alpha}, {kind: ce, weight: 1 - alpha}]. */
typedef struct DistillOptions {
    double temperature;
    double alpha;
    int n_losses;
    LossSpec losses[DISTILL_MAX_LOSSES];
    TeacherMix teacher_mix;
    int n_stages;
    StageSpec stages[DISTILL_MAX_STAGES];
    /* Teacher outputs computed once per dataset and kept in a file, later epochs read them.
     * auto: on unless augmentation or online training forbids it. */
    Switch cache_teacher;
    OnlineOptions online;
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
