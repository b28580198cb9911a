/* recipes/recipe_schema.c - the recipe schema, version 1, as tables.
 *
 * Owns the key names, kinds, defaults and valid ranges of every recipe key (and the
 * words of its choices), the list of schema versions this kdc reads, and the dotted key
 * name of each RecipeField. The
 * loader in recipe.c knows nothing about particular keys: to add a key, add its
 * RecipeField and one row here; to add a schema version, add its tables and one row in
 * VERSIONS.
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

/* Enum fields are stored through an int pointer. */
_Static_assert(sizeof(DataFormat) == sizeof(int) && sizeof(TrainSchedule) == sizeof(int) &&
                   sizeof(ImportanceKind) == sizeof(int) && sizeof(StudentInit) == sizeof(int),
               "enum size");

/* Enum texts in the order of their C enum values. */
static const char *const DATA_FORMATS[] = {"idx", "npy", NULL};
_Static_assert(DATA_FORMAT_IDX == 0 && DATA_FORMAT_NPY == 1, "DATA_FORMATS order");
static const char *const TRAIN_SCHEDULES[] = {"cosine", "constant", NULL};
_Static_assert(TRAIN_SCHEDULE_COSINE == 0 && TRAIN_SCHEDULE_CONSTANT == 1, "TRAIN_SCHEDULES order");
static const char *const IMPORTANCES[] = {"l1", "l2", "bn_scale", "activation", "taylor", "random", NULL};
static const char *const BOOLEANS[] = {"false", "true", NULL};
static const char *const STUDENT_INITS[] = {"teacher", "random", NULL};
_Static_assert(STUDENT_INIT_TEACHER == 0 && STUDENT_INIT_RANDOM == 1, "STUDENT_INITS order");
_Static_assert(IMPORTANCE_L1 == 0 && IMPORTANCE_L2 == 1 && IMPORTANCE_BN_SCALE == 2 && IMPORTANCE_ACTIVATION == 3 &&
                   IMPORTANCE_TAYLOR == 4 && IMPORTANCE_RANDOM == 5,
               "IMPORTANCES order");

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

static const SchemaField DATA_V1[] = {
    {.name = "train", .kind = FIELD_MAP, .id = RECIPE_DATA_TRAIN, .required = true, .children = DATA_TRAIN_V1,
     .help = "the training split, e.g. {format: idx, inputs: PATH, labels: PATH}"},
    {.name = "test", .kind = FIELD_MAP, .id = RECIPE_DATA_TEST, .required = true, .children = DATA_TEST_V1,
     .help = "the test split, e.g. {format: idx, inputs: PATH, labels: PATH}"},
    {.name = "normalize", .kind = FIELD_MAP, .id = RECIPE_DATA_NORMALIZE, .children = DATA_NORMALIZE_V1,
     .help = "input scaling: {scale: S, mean: [M], std: [D]}"},
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
    {0},
};

static const SchemaField DISTILL_V1[] = {
    {.name = "temperature", .kind = FIELD_REAL, .id = RECIPE_DISTILL_TEMPERATURE, .offset = AT(distill.temperature),
     .def = 4, .range = RANGE_GT(0), .help = "the softmax temperature of the distillation loss"},
    {.name = "alpha", .kind = FIELD_REAL, .id = RECIPE_DISTILL_ALPHA, .offset = AT(distill.alpha), .def = 0.9,
     .range = RANGE_CLOSED(0, 1), .help = "the weight of the distillation loss against the label loss"},
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

static const SchemaField TOP_V1[] = {
    {.name = "kdc", .kind = FIELD_INT, .id = RECIPE_VERSION, .offset = AT(version), .required = true,
     .help = "the recipe schema version; write 'kdc: 1' first"},
    {.name = "teacher", .kind = FIELD_FILE_IN, .id = RECIPE_TEACHER, .offset = AT(teacher), .required = true,
     .help = "the teacher .onnx model to distill"},
    {.name = "data", .kind = FIELD_MAP, .id = RECIPE_DATA, .required = true, .children = DATA_V1,
     .help = "the train and test splits"},
    {.name = "student", .kind = FIELD_MAP, .id = RECIPE_STUDENT, .children = STUDENT_V1,
     .help = "how to derive the student, e.g. {width: 0.5, importance: l1}"},
    {.name = "distill", .kind = FIELD_MAP, .id = RECIPE_DISTILL, .children = DISTILL_V1,
     .help = "the distillation loss, e.g. {temperature: 4, alpha: 0.9}"},
    {.name = "train", .kind = FIELD_MAP, .id = RECIPE_TRAIN, .children = TRAIN_V1,
     .help = "the optimizer, e.g. {epochs: 5, batch_size: 128, lr: 0.05}"},
    {.name = "output", .kind = FIELD_FILE_OUT, .id = RECIPE_OUTPUT, .offset = AT(output), .required = true,
     .help = "the student .onnx file to write"},
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
    [RECIPE_TRAIN] = "train",
    [RECIPE_TRAIN_EPOCHS] = "train.epochs",
    [RECIPE_TRAIN_BATCH_SIZE] = "train.batch_size",
    [RECIPE_TRAIN_LR] = "train.lr",
    [RECIPE_TRAIN_MOMENTUM] = "train.momentum",
    [RECIPE_TRAIN_WEIGHT_DECAY] = "train.weight_decay",
    [RECIPE_TRAIN_SCHEDULE] = "train.schedule",
    [RECIPE_TRAIN_SEED] = "train.seed",
    [RECIPE_OUTPUT] = "output",
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
