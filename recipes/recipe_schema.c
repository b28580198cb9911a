/* recipes/recipe_schema.c - the recipe schema, version 1, as tables.
 *
 * Owns the key names, kinds, defaults and valid ranges of every recipe key (and the
 * words of its choices, which loss kinds each key of a distill.losses entry applies to),
 * the list of schema versions this kdc reads, and the dotted key name of each RecipeField.
 * The loader (recipe.c, recipe_walk.c) knows nothing about particular keys: to add a key,
 * add its RecipeField and one row here; to add a schema version, add its tables and one
 * row in VERSIONS.
 */
#include "recipes/recipe_schema.h"

#include <stddef.h>

/* Ranges, as the interval a value must lie in. */
#define RANGE_GT(a) {.has_lo = true, .lo_open = true, .lo = (a)}
#define RANGE_GE(a) {.has_lo = true, .lo = (a)}
#define RANGE_CLOSED(a, b) {.has_lo = true, .lo = (a), .has_hi = true, .hi = (b)}
#define RANGE_GT_LE(a, b) {.has_lo = true, .lo_open = true, .lo = (a), .has_hi = true, .hi = (b)}
#define RANGE_GE_LT(a, b) {.has_lo = true, .lo = (a), .has_hi = true, .hi_open = true, .hi = (b)}

#define AT(member) offsetof(Recipe, member)
/* Children of a list of mappings are placed in the entry's struct. */
#define IN(type, member) offsetof(type, member)
/* The loss kinds a key of a distill.losses entry applies to. */
#define KIND(k) (1u << (k))
#define FEATURE_KINDS                                                                                                 \
    (KIND(LOSS_HINT) | KIND(LOSS_ATTENTION) | KIND(LOSS_SIMILARITY) | KIND(LOSS_RELATION) | KIND(LOSS_CONTRASTIVE) |   \
     KIND(LOSS_PKT) | KIND(LOSS_CORRELATION))

/* Enum fields are stored through an int pointer. */
_Static_assert(sizeof(DataFormat) == sizeof(int) && sizeof(TrainSchedule) == sizeof(int) &&
                   sizeof(ImportanceKind) == sizeof(int) && sizeof(StudentInit) == sizeof(int) &&
                   sizeof(LossKind) == sizeof(int) && sizeof(TeacherMix) == sizeof(int) &&
                   sizeof(StageKind) == sizeof(int) && sizeof(Switch) == sizeof(int),
               "enum size");
/* A list entry's position is written as two ints, line then col. */
_Static_assert(offsetof(SrcPos, col) == offsetof(SrcPos, line) + sizeof(int) &&
                   offsetof(LossSpec, col) == offsetof(LossSpec, line) + sizeof(int) &&
                   offsetof(FeaturePair, col) == offsetof(FeaturePair, line) + sizeof(int) &&
                   offsetof(StageSpec, col) == offsetof(StageSpec, line) + sizeof(int),
               "line, col layout");
/* A kinds mask has a bit per loss kind. */
_Static_assert(LOSS_KIND_COUNT <= 32, "LossKind mask");

/* Enum texts in the order of their C enum values. */
static const char *const DATA_FORMATS[] = {"idx", "npy", NULL};
_Static_assert(DATA_FORMAT_IDX == 0 && DATA_FORMAT_NPY == 1, "DATA_FORMATS order");
static const char *const TRAIN_SCHEDULES[] = {"cosine", "constant", NULL};
_Static_assert(TRAIN_SCHEDULE_COSINE == 0 && TRAIN_SCHEDULE_CONSTANT == 1, "TRAIN_SCHEDULES order");
static const char *const IMPORTANCES[] = {"l1", "l2", "bn_scale", "activation", "taylor", "random", NULL};
static const char *const BOOLEANS[] = {"false", "true", NULL};
static const char *const STUDENT_INITS[] = {"teacher", "random", NULL};
static const char *const TRAIN_NORMS[] = {"auto", "batchnorm", "none", NULL};
_Static_assert(STUDENT_INIT_TEACHER == 0 && STUDENT_INIT_RANDOM == 1, "STUDENT_INITS order");
_Static_assert(IMPORTANCE_L1 == 0 && IMPORTANCE_L2 == 1 && IMPORTANCE_BN_SCALE == 2 && IMPORTANCE_ACTIVATION == 3 &&
                   IMPORTANCE_TAYLOR == 4 && IMPORTANCE_RANDOM == 5,
               "IMPORTANCES order");

static const char *const LOSS_KINDS[] = {"kd",       "ce",          "hint", "attention",   "similarity",
                                         "relation", "contrastive", "pkt",  "correlation", NULL};
_Static_assert(LOSS_KD == 0 && LOSS_CE == 1 && LOSS_HINT == 2 && LOSS_ATTENTION == 3 && LOSS_SIMILARITY == 4 &&
                   LOSS_RELATION == 5 && LOSS_CONTRASTIVE == 6 && LOSS_PKT == 7 && LOSS_CORRELATION == 8 &&
                   LOSS_KIND_COUNT == 9,
               "LOSS_KINDS order");
static const char *const TEACHER_MIXES[] = {"average", "separate", NULL};
_Static_assert(TEACHER_MIX_AVERAGE == 0 && TEACHER_MIX_SEPARATE == 1, "TEACHER_MIXES order");
static const char *const STAGE_KINDS[] = {"hint", NULL};
_Static_assert(STAGE_HINT == 0, "STAGE_KINDS order");
static const char *const SWITCHES[] = {"auto", "true", "false", NULL};
static const int SWITCH_VALUES[] = {SWITCH_AUTO, SWITCH_ON, SWITCH_OFF};
static const char *const AUTO_WORD[] = {"auto", NULL};

/* Defaults are those of `kdc shrink`. */
enum { CALIBRATION_SAMPLES_DEFAULT = 256 };

static const SchemaField DATA_TRAIN_V1[] = {
    {.name = "format", .kind = FIELD_ENUM, .id = RECIPE_DATA_TRAIN_FORMAT, .offset = AT(data.train.format),
     .required = true, .choices = DATA_FORMATS, .help = "the file format: idx or npy"},
    {.name = "inputs", .kind = FIELD_FILE_IN, .id = RECIPE_DATA_TRAIN_INPUTS, .offset = AT(data.train.inputs),
     .required = true, .help = "the file of input examples"},
    {.name = "labels", .kind = FIELD_FILE_IN, .id = RECIPE_DATA_TRAIN_LABELS, .offset = AT(data.train.labels),
     .required = true, .help = "the file of class labels"},
    {0},
};

static const SchemaField DATA_TEST_V1[] = {
    {.name = "format", .kind = FIELD_ENUM, .id = RECIPE_DATA_TEST_FORMAT, .offset = AT(data.test.format),
     .required = true, .choices = DATA_FORMATS, .help = "the file format: idx or npy"},
    {.name = "inputs", .kind = FIELD_FILE_IN, .id = RECIPE_DATA_TEST_INPUTS, .offset = AT(data.test.inputs),
     .required = true, .help = "the file of input examples"},
    {.name = "labels", .kind = FIELD_FILE_IN, .id = RECIPE_DATA_TEST_LABELS, .offset = AT(data.test.labels),
     .required = true, .help = "the file of class labels"},
    {0},
};

static const SchemaField DATA_NORMALIZE_V1[] = {
    {.name = "scale", .kind = FIELD_REAL, .id = RECIPE_DATA_NORMALIZE_SCALE, .offset = AT(data.normalize.scale),
     .def = 1, .range = RANGE_GT(0), .help = "the factor raw inputs are multiplied by first"},
    {.name = "mean", .kind = FIELD_REAL_LIST, .id = RECIPE_DATA_NORMALIZE_MEAN, .offset = AT(data.normalize.mean),
     .count_offset = AT(data.normalize.n_mean), .max_items = DATA_MAX_CHANNELS, .def = 0,
     .help = "subtracted after scaling, per channel"},
    {.name = "std", .kind = FIELD_REAL_LIST, .id = RECIPE_DATA_NORMALIZE_STD, .offset = AT(data.normalize.std),
     .count_offset = AT(data.normalize.n_std), .max_items = DATA_MAX_CHANNELS, .def = 1, .range = RANGE_GT(0),
     .help = "divides after subtracting the mean, per channel"},
    {0},
};

/* Off unless written: every default leaves the batch as it is. */
static const SchemaField DATA_AUGMENT_V1[] = {
    {.name = "crop_padding", .kind = FIELD_INT, .id = RECIPE_DATA_AUGMENT_CROP_PADDING,
     .offset = AT(data.augment.crop_padding), .def = 0, .range = RANGE_GE(0),
     .help = "zeros padded around each image before a random crop back to its size"},
    {.name = "flip", .kind = FIELD_BOOL, .id = RECIPE_DATA_AUGMENT_FLIP, .offset = AT(data.augment.flip), .def = 0,
     .help = "true: mirror each image left-right with probability 1/2"},
    {.name = "mixup", .kind = FIELD_REAL, .id = RECIPE_DATA_AUGMENT_MIXUP, .offset = AT(data.augment.mixup),
     .def = 0, .range = RANGE_GE(0), .help = "the Beta(a, a) parameter of mixup; 0: off"},
    {0},
};

static const SchemaField DATA_V1[] = {
    {.name = "train", .kind = FIELD_MAP, .id = RECIPE_DATA_TRAIN, .required = true, .children = DATA_TRAIN_V1,
     .help = "the training split, e.g. {format: idx, inputs: PATH, labels: PATH}"},
    {.name = "test", .kind = FIELD_MAP, .id = RECIPE_DATA_TEST, .required = true, .children = DATA_TEST_V1,
     .help = "the test split, e.g. {format: idx, inputs: PATH, labels: PATH}"},
    {.name = "normalize", .kind = FIELD_MAP, .id = RECIPE_DATA_NORMALIZE, .children = DATA_NORMALIZE_V1,
     .help = "input scaling: {scale: S, mean: [M], std: [D]}"},
    {.name = "augment", .kind = FIELD_MAP, .id = RECIPE_DATA_AUGMENT, .children = DATA_AUGMENT_V1,
     .help = "random changes to training batches: {crop_padding: N, flip: B, mixup: A}"},
    {0},
};

/* Width (how many units), importance (which ones), depth (which blocks), and where the
 * weights start. */
static const SchemaField STUDENT_V1[] = {
    {.name = "width", .kind = FIELD_REAL, .id = RECIPE_STUDENT_WIDTH, .offset = AT(student.width), .def = 0.5,
     .range = RANGE_GT_LE(0, 1), .help = "the fraction of the teacher's channels the student keeps"},
    {.name = "params", .kind = FIELD_REAL, .id = RECIPE_STUDENT_PARAMS, .offset = AT(student.params), .def = 0,
     .range = RANGE_GT_LE(0, 1), .help = "a budget: the fraction of the teacher's parameters the student keeps"},
    {.name = "macs", .kind = FIELD_REAL, .id = RECIPE_STUDENT_MACS, .offset = AT(student.macs), .def = 0,
     .range = RANGE_GT_LE(0, 1), .help = "a budget: the fraction of the teacher's MACs the student keeps"},
    {.name = "importance", .kind = FIELD_ENUM, .id = RECIPE_STUDENT_IMPORTANCE, .offset = AT(student.importance),
     .def = IMPORTANCE_L1, .choices = IMPORTANCES, .help = "how the units to keep are ranked"},
    {.name = "round_to", .kind = FIELD_INT, .id = RECIPE_STUDENT_ROUND_TO, .offset = AT(student.round_to), .def = 0,
     .range = RANGE_GE(0), .help = "kept counts are rounded up to multiples of this"},
    {.name = "seed", .kind = FIELD_U64, .id = RECIPE_STUDENT_SEED, .offset = AT(student.seed), .def = 0,
     .help = "the seed of importance random"},
    {.name = "protect", .kind = FIELD_NAMES, .id = RECIPE_STUDENT_PROTECT, .offset = AT(student.protect),
     .count_offset = AT(student.n_protect), .help = "globs of node names whose channels keep full width"},
    {.name = "width_for", .kind = FIELD_GLOB_WIDTHS, .id = RECIPE_STUDENT_WIDTH_FOR, .offset = AT(student.overrides),
     .count_offset = AT(student.n_overrides), .range = RANGE_GT_LE(0, 1),
     .help = "widths for the channels of nodes whose name matches a glob"},
    {.name = "free_outputs", .kind = FIELD_NAMES, .id = RECIPE_STUDENT_FREE_OUTPUTS,
     .offset = AT(student.free_outputs), .count_offset = AT(student.n_free_outputs),
     .help = "graph outputs whose channels may shrink"},
    {.name = "calibration_samples", .kind = FIELD_INT, .id = RECIPE_STUDENT_CALIBRATION_SAMPLES,
     .offset = AT(calibration_samples), .def = CALIBRATION_SAMPLES_DEFAULT, .range = RANGE_GE(1),
     .help = "training samples depth and importance activation and taylor are measured on"},
        {.name = "depth", .kind = FIELD_INT, .id = RECIPE_STUDENT_DEPTH, .offset = AT(student.depth), .def = 0,
     .range = RANGE_GE(1), .help = "residual blocks/layers to keep, the most redundant dropped (on calibration samples)"},
    {.name = "drop", .kind = FIELD_NAMES, .id = RECIPE_STUDENT_DROP, .offset = AT(student.drop),
     .count_offset = AT(student.n_drop), .help = "blocks to drop by name (kdc shrink MODEL --list-blocks)"},
    {.name = "drop_alternate", .kind = FIELD_ENUM, .id = RECIPE_STUDENT_DROP_ALTERNATE,
     .offset = AT(student.drop_alternate), .def = 0, .choices = BOOLEANS,
     .help = "true: drop every other block, as DistilBERT initialises its student"},
    {.name = "init", .kind = FIELD_ENUM, .id = RECIPE_STUDENT_INIT, .offset = AT(init), .def = STUDENT_INIT_TEACHER,
     .choices = STUDENT_INITS, .help = "where the student's weights start: teacher (sliced) or random"},
    {.name = "train_norm", .kind = FIELD_ENUM, .id = RECIPE_STUDENT_TRAIN_NORM, .offset = AT(train_norm),
     .def = TRAIN_NORM_AUTO, .choices = TRAIN_NORMS,
     .help = "BatchNormalization added for training: auto (when the teacher has no normalization), batchnorm, "
             "none"},
    {.name = "train_norm_dense", .kind = FIELD_BOOL, .id = RECIPE_STUDENT_TRAIN_NORM_DENSE,
     .offset = AT(train_norm_dense), .def = 0,
     .help = "true: train_norm also after hidden Gemm/MatMul layers, not only Conv"},
    {0},
};

/* {teacher: NAME, student: NAME}: ONNX value names (or globs) of the two models. */
static const SchemaField PAIR_ENTRY_V1[] = {
    {.name = "teacher", .kind = FIELD_NAME, .id = RECIPE_DISTILL_LOSSES_PAIRS_TEACHER,
     .offset = IN(FeaturePair, teacher), .required = true, .help = "the teacher's value to imitate"},
    {.name = "student", .kind = FIELD_NAME, .id = RECIPE_DISTILL_LOSSES_PAIRS_STUDENT,
     .offset = IN(FeaturePair, student), .required = true, .help = "the student's value that imitates it"},
    {0},
};

/* One term of the loss. kind selects which of the other keys an entry may have (kinds). */
static const SchemaField LOSS_ENTRY_V1[] = {
    {.name = "kind", .kind = FIELD_ENUM, .id = RECIPE_DISTILL_LOSSES_KIND, .offset = IN(LossSpec, kind),
     .required = true, .choices = LOSS_KINDS,
     .help = "what the loss compares: kd, ce, hint, attention, similarity, relation, contrastive, pkt or correlation"},
    {.name = "weight", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_WEIGHT, .offset = IN(LossSpec, weight),
     .def = 1, .range = RANGE_GE(0), .help = "the loss's weight in the sum"},
    {.name = "teacher", .kind = FIELD_INT, .id = RECIPE_DISTILL_LOSSES_TEACHER, .offset = IN(LossSpec, teacher),
     .def = 0, .range = RANGE_GE(1), .help = "which teacher, 1-based; every teacher when left out"},
    {.name = "temperature", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_TEMPERATURE,
     .offset = IN(LossSpec, temperature), .inherits = true, .def_from = AT(distill.temperature),
     .range = RANGE_GT(0), .kinds = KIND(LOSS_KD), .help = "the softmax temperature; distill.temperature by default"},
    {.name = "smoothing", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_SMOOTHING, .offset = IN(LossSpec, smoothing),
     .def = 0, .range = RANGE_GE_LT(0, 1), .kinds = KIND(LOSS_CE), .help = "label smoothing"},
    {.name = "pairs", .kind = FIELD_AUTO_LIST, .id = RECIPE_DISTILL_LOSSES_PAIRS, .offset = IN(LossSpec, pairs),
     .count_offset = IN(LossSpec, n_pairs), .max_items = DISTILL_MAX_PAIRS, .flag_offset = IN(LossSpec, pairs_auto),
     .def = 1, .choices = AUTO_WORD, .children = PAIR_ENTRY_V1, .elem_size = sizeof(FeaturePair),
     .line_offset = IN(FeaturePair, line), .kinds = FEATURE_KINDS,
     .help = "the values compared: auto, or a list of {teacher: NAME, student: NAME}"},
    {.name = "p", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_P, .offset = IN(LossSpec, p), .def = 2,
     .range = RANGE_GT(0), .kinds = KIND(LOSS_ATTENTION), .help = "the exponent of the attention maps"},
    {.name = "distance_weight", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_DISTANCE_WEIGHT,
     .offset = IN(LossSpec, distance_weight), .def = 25, .range = RANGE_GE(0), .kinds = KIND(LOSS_RELATION),
     .help = "the weight of the distance term"},
    {.name = "angle_weight", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_ANGLE_WEIGHT,
     .offset = IN(LossSpec, angle_weight), .def = 50, .range = RANGE_GE(0), .kinds = KIND(LOSS_RELATION),
     .help = "the weight of the angle term"},
    {.name = "feat_dim", .kind = FIELD_INT, .id = RECIPE_DISTILL_LOSSES_FEAT_DIM,
     .offset = IN(LossSpec, contrast.feat_dim), .def = 128, .range = RANGE_GE(1), .kinds = KIND(LOSS_CONTRASTIVE),
     .help = "the size of the projections"},
    {.name = "negatives", .kind = FIELD_INT, .id = RECIPE_DISTILL_LOSSES_NEGATIVES,
     .offset = IN(LossSpec, contrast.negatives), .def = 4096, .range = RANGE_GE(1), .kinds = KIND(LOSS_CONTRASTIVE),
     .help = "negatives per sample from the memory bank"},
    {.name = "nce_temperature", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_NCE_TEMPERATURE,
     .offset = IN(LossSpec, contrast.temperature), .def = 0.07, .range = RANGE_GT(0),
     .kinds = KIND(LOSS_CONTRASTIVE), .help = "the NCE temperature"},
    {.name = "momentum", .kind = FIELD_REAL, .id = RECIPE_DISTILL_LOSSES_MOMENTUM,
     .offset = IN(LossSpec, contrast.momentum), .def = 0.5, .range = RANGE_GE_LT(0, 1),
     .kinds = KIND(LOSS_CONTRASTIVE), .help = "the memory bank's update momentum"},
    {0},
};

static const SchemaField STAGE_ENTRY_V1[] = {
    {.name = "stage", .kind = FIELD_ENUM, .id = RECIPE_DISTILL_STAGES_STAGE, .offset = IN(StageSpec, kind),
     .required = true, .choices = STAGE_KINDS, .help = "what the stage trains: hint"},
    {.name = "epochs", .kind = FIELD_INT, .id = RECIPE_DISTILL_STAGES_EPOCHS, .offset = IN(StageSpec, epochs),
     .required = true, .range = RANGE_GE(1), .help = "passes over the training split in this stage"},
    {0},
};

/* The teacher's own optimizer; train's settings unless written. */
static const SchemaField ONLINE_V1[] = {
    {.name = "lr", .kind = FIELD_REAL, .id = RECIPE_DISTILL_ONLINE_LR, .offset = AT(distill.online.lr),
     .inherits = true, .def_from = AT(train.lr), .range = RANGE_GT(0), .help = "the teacher's peak learning rate"},
    {.name = "momentum", .kind = FIELD_REAL, .id = RECIPE_DISTILL_ONLINE_MOMENTUM,
     .offset = AT(distill.online.momentum), .inherits = true, .def_from = AT(train.momentum),
     .range = RANGE_GE_LT(0, 1), .help = "the teacher's SGD momentum"},
    {.name = "weight_decay", .kind = FIELD_REAL, .id = RECIPE_DISTILL_ONLINE_WEIGHT_DECAY,
     .offset = AT(distill.online.weight_decay), .inherits = true, .def_from = AT(train.weight_decay),
     .range = RANGE_GE(0), .help = "the teacher's L2 weight decay"},
    {.name = "output", .kind = FIELD_FILE_OUT, .id = RECIPE_DISTILL_ONLINE_OUTPUT, .offset = AT(distill.online.output),
     .help = "where the trained teacher is written"},
    {0},
};

static const SchemaField DISTILL_V1[] = {
    {.name = "temperature", .kind = FIELD_REAL, .id = RECIPE_DISTILL_TEMPERATURE, .offset = AT(distill.temperature),
     .def = 4, .range = RANGE_GT(0), .help = "the softmax temperature of the distillation loss"},
    {.name = "alpha", .kind = FIELD_REAL, .id = RECIPE_DISTILL_ALPHA, .offset = AT(distill.alpha), .def = 0.9,
     .range = RANGE_CLOSED(0, 1), .help = "the weight of the distillation loss against the label loss"},
    {.name = "losses", .kind = FIELD_LIST, .id = RECIPE_DISTILL_LOSSES, .offset = AT(distill.losses),
     .count_offset = AT(distill.n_losses), .max_items = DISTILL_MAX_LOSSES, .children = LOSS_ENTRY_V1,
     .elem_size = sizeof(LossSpec), .line_offset = IN(LossSpec, line), .selector = "kind", .entry_noun = "loss",
     .help = "the terms of the loss, e.g. [{kind: kd, weight: 0.9}, {kind: ce, weight: 0.1}]"},
    {.name = "teacher_mix", .kind = FIELD_ENUM, .id = RECIPE_DISTILL_TEACHER_MIX, .offset = AT(distill.teacher_mix),
     .def = TEACHER_MIX_AVERAGE, .choices = TEACHER_MIXES, .help = "how kd combines several teachers"},
    {.name = "stages", .kind = FIELD_LIST, .id = RECIPE_DISTILL_STAGES, .offset = AT(distill.stages),
     .count_offset = AT(distill.n_stages), .max_items = DISTILL_MAX_STAGES, .children = STAGE_ENTRY_V1,
     .elem_size = sizeof(StageSpec), .line_offset = IN(StageSpec, line),
     .help = "stages before the main training, e.g. [{stage: hint, epochs: 2}]"},
    {.name = "cache_teacher", .kind = FIELD_ENUM, .id = RECIPE_DISTILL_CACHE_TEACHER,
     .offset = AT(distill.cache_teacher), .def = SWITCH_AUTO, .choices = SWITCHES, .choice_values = SWITCH_VALUES,
     .help = "keep the teacher's outputs in a file after the first epoch"},
    {.name = "online", .kind = FIELD_MAP_ENABLE, .id = RECIPE_DISTILL_ONLINE, .flag_offset = AT(distill.online.enabled),
     .children = ONLINE_V1, .help = "train the teacher too: {lr, momentum, weight_decay, output}"},
    {0},
};

static const SchemaField TRAIN_V1[] = {
    {.name = "epochs", .kind = FIELD_INT, .id = RECIPE_TRAIN_EPOCHS, .offset = AT(train.epochs), .def = 5,
     .range = RANGE_GE(1), .help = "passes over the training split"},
    {.name = "batch_size", .kind = FIELD_INT, .id = RECIPE_TRAIN_BATCH_SIZE, .offset = AT(train.batch_size),
     .def = 128, .range = RANGE_GE(1), .help = "examples per training step"},
    {.name = "lr", .kind = FIELD_REAL, .id = RECIPE_TRAIN_LR, .offset = AT(train.lr), .def = 0.05,
     .range = RANGE_GT(0), .help = "the peak learning rate"},
    {.name = "momentum", .kind = FIELD_REAL, .id = RECIPE_TRAIN_MOMENTUM, .offset = AT(train.momentum), .def = 0.9,
     .range = RANGE_GE_LT(0, 1), .help = "SGD momentum"},
    {.name = "weight_decay", .kind = FIELD_REAL, .id = RECIPE_TRAIN_WEIGHT_DECAY, .offset = AT(train.weight_decay),
     .def = 5e-4, .range = RANGE_GE(0), .help = "L2 weight decay"},
    {.name = "schedule", .kind = FIELD_ENUM, .id = RECIPE_TRAIN_SCHEDULE, .offset = AT(train.schedule),
     .def = TRAIN_SCHEDULE_COSINE, .choices = TRAIN_SCHEDULES, .help = "the learning-rate schedule"},
    {.name = "seed", .kind = FIELD_U64, .id = RECIPE_TRAIN_SEED, .offset = AT(train.seed), .def = 0,
     .help = "the random seed"},
    {0},
};

static const SchemaField TEACHER_ENTRY_V1[] = {
    {.name = "model", .kind = FIELD_FILE_IN, .id = RECIPE_TEACHERS_MODEL, .offset = IN(TeacherSpec, model),
     .required = true, .help = "the teacher .onnx model"},
    {.name = "weight", .kind = FIELD_REAL, .id = RECIPE_TEACHERS_WEIGHT, .offset = IN(TeacherSpec, weight), .def = 1,
     .range = RANGE_GT(0), .help = "its weight among the teachers"},
    {0},
};

/* Where the student goes and in what form ('output: PATH' is {path: PATH}). */
static const SchemaField OUTPUT_V1[] = {
    {.name = "path", .kind = FIELD_FILE_OUT, .id = RECIPE_OUTPUT, .offset = AT(output), .required = true,
     .help = "the student .onnx file to write"},
    {.name = "fold_norm", .kind = FIELD_BOOL, .id = RECIPE_OUTPUT_FOLD_NORM, .offset = AT(fold_norm), .def = 1,
     .help = "true: fold every inference BatchNormalization into the Conv/Gemm before it"},
    {0},
};

static const SchemaField TOP_V1[] = {
    {.name = "kdc", .kind = FIELD_INT, .id = RECIPE_VERSION, .offset = AT(version), .required = true,
     .help = "the recipe schema version; write 'kdc: 1' first"},
    /* teacher stores where the first of teachers goes: one string either way (the rules
     * point Recipe.teacher at it). */
    {.name = "teacher", .kind = FIELD_FILE_IN, .id = RECIPE_TEACHER, .offset = AT(teachers[0].model),
     .required = true, .alternative = "teachers",
     .help = "the teacher .onnx model to distill, or a list of {model: PATH, weight: W}"},
    {.name = "teachers", .kind = FIELD_LIST, .id = RECIPE_TEACHERS, .offset = AT(teachers),
     .count_offset = AT(n_teachers), .max_items = DISTILL_MAX_TEACHERS, .alternative = "teacher",
     .children = TEACHER_ENTRY_V1, .elem_size = sizeof(TeacherSpec), .line_offset = IN(TeacherSpec, pos.line),
     .help = "the teacher models, e.g. [{model: a.onnx, weight: 2}, {model: b.onnx}]"},
    {.name = "data", .kind = FIELD_MAP, .id = RECIPE_DATA, .required = true, .children = DATA_V1,
     .help = "the train and test splits"},
    {.name = "student", .kind = FIELD_MAP, .id = RECIPE_STUDENT, .children = STUDENT_V1,
     .help = "how to derive the student, e.g. {width: 0.5, importance: l1}"},
    {.name = "distill", .kind = FIELD_MAP, .id = RECIPE_DISTILL, .children = DISTILL_V1,
     .help = "the distillation loss, e.g. {temperature: 4, alpha: 0.9}"},
    {.name = "train", .kind = FIELD_MAP, .id = RECIPE_TRAIN, .children = TRAIN_V1,
     .help = "the optimizer, e.g. {epochs: 5, batch_size: 128, lr: 0.05}"},
    {.name = "output", .kind = FIELD_MAP, .id = RECIPE_OUTPUT_SPEC, .required = true, .children = OUTPUT_V1,
     .scalar_child = "path", .help = "the student .onnx file to write, or {path: PATH, fold_norm: B}"},
    {0},
};

static const struct {
    int version;
    const SchemaField *top;
} VERSIONS[] = {
    {1, TOP_V1},
};
enum { N_VERSIONS = sizeof VERSIONS / sizeof VERSIONS[0] };

const SchemaField *recipe_schema_top(int version)
{
    for (int i = 0; i < N_VERSIONS; i++)
        if (VERSIONS[i].version == version)
            return VERSIONS[i].top;
    return NULL;
}

int recipe_schema_oldest(void) { return VERSIONS[0].version; }

int recipe_schema_newest(void) { return VERSIONS[N_VERSIONS - 1].version; }

static const char *const FIELD_KEYS[] = {
    [RECIPE_VERSION] = "kdc",
    [RECIPE_TEACHER] = "teacher",
    [RECIPE_TEACHERS] = "teachers",
    [RECIPE_TEACHERS_MODEL] = "teachers.model",
    [RECIPE_TEACHERS_WEIGHT] = "teachers.weight",
    [RECIPE_DATA] = "data",
    [RECIPE_DATA_TRAIN] = "data.train",
    [RECIPE_DATA_TRAIN_FORMAT] = "data.train.format",
    [RECIPE_DATA_TRAIN_INPUTS] = "data.train.inputs",
    [RECIPE_DATA_TRAIN_LABELS] = "data.train.labels",
    [RECIPE_DATA_TEST] = "data.test",
    [RECIPE_DATA_TEST_FORMAT] = "data.test.format",
    [RECIPE_DATA_TEST_INPUTS] = "data.test.inputs",
    [RECIPE_DATA_TEST_LABELS] = "data.test.labels",
    [RECIPE_DATA_NORMALIZE] = "data.normalize",
    [RECIPE_DATA_NORMALIZE_SCALE] = "data.normalize.scale",
    [RECIPE_DATA_NORMALIZE_MEAN] = "data.normalize.mean",
    [RECIPE_DATA_NORMALIZE_STD] = "data.normalize.std",
    [RECIPE_DATA_AUGMENT] = "data.augment",
    [RECIPE_DATA_AUGMENT_CROP_PADDING] = "data.augment.crop_padding",
    [RECIPE_DATA_AUGMENT_FLIP] = "data.augment.flip",
    [RECIPE_DATA_AUGMENT_MIXUP] = "data.augment.mixup",
    [RECIPE_STUDENT] = "student",
    [RECIPE_STUDENT_WIDTH] = "student.width",
    [RECIPE_STUDENT_PARAMS] = "student.params",
    [RECIPE_STUDENT_MACS] = "student.macs",
    [RECIPE_STUDENT_IMPORTANCE] = "student.importance",
    [RECIPE_STUDENT_ROUND_TO] = "student.round_to",
    [RECIPE_STUDENT_SEED] = "student.seed",
    [RECIPE_STUDENT_PROTECT] = "student.protect",
    [RECIPE_STUDENT_WIDTH_FOR] = "student.width_for",
    [RECIPE_STUDENT_FREE_OUTPUTS] = "student.free_outputs",
    [RECIPE_STUDENT_CALIBRATION_SAMPLES] = "student.calibration_samples",
    [RECIPE_STUDENT_DEPTH] = "student.depth",
    [RECIPE_STUDENT_DROP] = "student.drop",
    [RECIPE_STUDENT_DROP_ALTERNATE] = "student.drop_alternate",
    [RECIPE_STUDENT_INIT] = "student.init",
    [RECIPE_DISTILL] = "distill",
    [RECIPE_DISTILL_TEMPERATURE] = "distill.temperature",
    [RECIPE_DISTILL_ALPHA] = "distill.alpha",
    [RECIPE_DISTILL_LOSSES] = "distill.losses",
    [RECIPE_DISTILL_LOSSES_KIND] = "distill.losses.kind",
    [RECIPE_DISTILL_LOSSES_WEIGHT] = "distill.losses.weight",
    [RECIPE_DISTILL_LOSSES_TEACHER] = "distill.losses.teacher",
    [RECIPE_DISTILL_LOSSES_TEMPERATURE] = "distill.losses.temperature",
    [RECIPE_DISTILL_LOSSES_SMOOTHING] = "distill.losses.smoothing",
    [RECIPE_DISTILL_LOSSES_PAIRS] = "distill.losses.pairs",
    [RECIPE_DISTILL_LOSSES_PAIRS_TEACHER] = "distill.losses.pairs.teacher",
    [RECIPE_DISTILL_LOSSES_PAIRS_STUDENT] = "distill.losses.pairs.student",
    [RECIPE_DISTILL_LOSSES_P] = "distill.losses.p",
    [RECIPE_DISTILL_LOSSES_DISTANCE_WEIGHT] = "distill.losses.distance_weight",
    [RECIPE_DISTILL_LOSSES_ANGLE_WEIGHT] = "distill.losses.angle_weight",
    [RECIPE_DISTILL_LOSSES_FEAT_DIM] = "distill.losses.feat_dim",
    [RECIPE_DISTILL_LOSSES_NEGATIVES] = "distill.losses.negatives",
    [RECIPE_DISTILL_LOSSES_NCE_TEMPERATURE] = "distill.losses.nce_temperature",
    [RECIPE_DISTILL_LOSSES_MOMENTUM] = "distill.losses.momentum",
    [RECIPE_DISTILL_TEACHER_MIX] = "distill.teacher_mix",
    [RECIPE_DISTILL_STAGES] = "distill.stages",
    [RECIPE_DISTILL_STAGES_STAGE] = "distill.stages.stage",
    [RECIPE_DISTILL_STAGES_EPOCHS] = "distill.stages.epochs",
    [RECIPE_DISTILL_CACHE_TEACHER] = "distill.cache_teacher",
    [RECIPE_DISTILL_ONLINE] = "distill.online",
    [RECIPE_DISTILL_ONLINE_LR] = "distill.online.lr",
    [RECIPE_DISTILL_ONLINE_MOMENTUM] = "distill.online.momentum",
    [RECIPE_DISTILL_ONLINE_WEIGHT_DECAY] = "distill.online.weight_decay",
    [RECIPE_DISTILL_ONLINE_OUTPUT] = "distill.online.output",
    [RECIPE_TRAIN] = "train",
    [RECIPE_TRAIN_EPOCHS] = "train.epochs",
    [RECIPE_TRAIN_BATCH_SIZE] = "train.batch_size",
    [RECIPE_TRAIN_LR] = "train.lr",
    [RECIPE_TRAIN_MOMENTUM] = "train.momentum",
    [RECIPE_TRAIN_WEIGHT_DECAY] = "train.weight_decay",
    [RECIPE_TRAIN_SCHEDULE] = "train.schedule",
    [RECIPE_TRAIN_SEED] = "train.seed",
    [RECIPE_STUDENT_TRAIN_NORM] = "student.train_norm",
    [RECIPE_STUDENT_TRAIN_NORM_DENSE] = "student.train_norm_dense",
    [RECIPE_OUTPUT_SPEC] = "output",
    [RECIPE_OUTPUT] = "output.path",
    [RECIPE_OUTPUT_FOLD_NORM] = "output.fold_norm",
};
_Static_assert(sizeof FIELD_KEYS / sizeof FIELD_KEYS[0] == RECIPE_FIELD_COUNT, "a RecipeField has no key");

const char *recipe_field_key(RecipeField f)
{
    if ((int)f < 0 || f >= RECIPE_FIELD_COUNT || !FIELD_KEYS[f])
        return "?";
    return FIELD_KEYS[f];
}

const char *recipe_importance_name(ImportanceKind k)
{
    if ((int)k < 0 || k >= (int)(sizeof IMPORTANCES / sizeof IMPORTANCES[0]) - 1)
        return "?";
    return IMPORTANCES[k];
}

const char *recipe_loss_kind_name(LossKind k)
{
    if ((int)k < 0 || k >= LOSS_KIND_COUNT)
        return "?";
    return LOSS_KINDS[k];
}
