/* recipes/recipe.h - a kdc recipe: what to distill, from which data, into what.
 *
 * recipe_load() reads a YAML recipe file (schema version 1; recipes/fashion_mnist_cnn.yaml
 * is a commented example), checks every key, type, range and referenced file, applies
 * defaults and fills the option structs of passes/ and train/. Paths in the file are
 * relative to the recipe's folder; the Recipe holds them resolved (absolute, or relative
 * to the current folder). Each field remembers where it was written so later stages can
 * point their errors at the recipe line (recipe_where).
 */
#ifndef KDC_RECIPE_H
#define KDC_RECIPE_H

#include <stddef.h>

#include "ir/diag.h"
#include "passes/options.h"
#include "train/options.h"

/* A position in the recipe file, 1-based. line == 0: not from the file (a default, or
 * set by the command line). */
typedef struct SrcPos {
    int line;
    int col;
} SrcPos;

/* Every key of the recipe, for recipe_where(). A key inside the entries of a list (e.g.
 * RECIPE_DISTILL_LOSSES_KIND, distill.losses[].kind) is where it is first written; the
 * entries themselves carry their own line and column. */
typedef enum RecipeField {
    RECIPE_VERSION, /* kdc */
    RECIPE_TEACHER,
    RECIPE_TEACHERS,
    RECIPE_TEACHERS_MODEL,
    RECIPE_TEACHERS_WEIGHT,
    RECIPE_DATA,
    RECIPE_DATA_TRAIN,
    RECIPE_DATA_TRAIN_FORMAT,
    RECIPE_DATA_TRAIN_INPUTS,
    RECIPE_DATA_TRAIN_LABELS,
    RECIPE_DATA_TEST,
    RECIPE_DATA_TEST_FORMAT,
    RECIPE_DATA_TEST_INPUTS,
    RECIPE_DATA_TEST_LABELS,
    RECIPE_DATA_NORMALIZE,
    RECIPE_DATA_NORMALIZE_SCALE,
    RECIPE_DATA_NORMALIZE_MEAN,
    RECIPE_DATA_NORMALIZE_STD,
    RECIPE_DATA_AUGMENT,
    RECIPE_DATA_AUGMENT_CROP_PADDING,
    RECIPE_DATA_AUGMENT_FLIP,
    RECIPE_DATA_AUGMENT_MIXUP,
    RECIPE_STUDENT,
    RECIPE_STUDENT_WIDTH,
    RECIPE_STUDENT_PARAMS,
    RECIPE_STUDENT_MACS,
    RECIPE_STUDENT_IMPORTANCE,
    RECIPE_STUDENT_ROUND_TO,
    RECIPE_STUDENT_SEED,
    RECIPE_STUDENT_PROTECT,
    RECIPE_STUDENT_WIDTH_FOR,
    RECIPE_STUDENT_FREE_OUTPUTS,
    RECIPE_STUDENT_CALIBRATION_SAMPLES,
    RECIPE_STUDENT_DEPTH,
    RECIPE_STUDENT_DROP,
    RECIPE_STUDENT_DROP_ALTERNATE,
    RECIPE_STUDENT_INIT,
    RECIPE_STUDENT_TRAIN_NORM,
    RECIPE_STUDENT_TRAIN_NORM_DENSE,
    RECIPE_DISTILL,
    RECIPE_DISTILL_TEMPERATURE,
    RECIPE_DISTILL_ALPHA,
    RECIPE_DISTILL_LOSSES,
    RECIPE_DISTILL_LOSSES_KIND,
    RECIPE_DISTILL_LOSSES_WEIGHT,
    RECIPE_DISTILL_LOSSES_TEACHER,
    RECIPE_DISTILL_LOSSES_TEMPERATURE,
    RECIPE_DISTILL_LOSSES_SMOOTHING,
    RECIPE_DISTILL_LOSSES_PAIRS,
    RECIPE_DISTILL_LOSSES_PAIRS_TEACHER,
    RECIPE_DISTILL_LOSSES_PAIRS_STUDENT,
    RECIPE_DISTILL_LOSSES_P,
    RECIPE_DISTILL_LOSSES_DISTANCE_WEIGHT,
    RECIPE_DISTILL_LOSSES_ANGLE_WEIGHT,
    RECIPE_DISTILL_LOSSES_FEAT_DIM,
    RECIPE_DISTILL_LOSSES_NEGATIVES,
    RECIPE_DISTILL_LOSSES_NCE_TEMPERATURE,
    RECIPE_DISTILL_LOSSES_MOMENTUM,
    RECIPE_DISTILL_TEACHER_MIX,
    RECIPE_DISTILL_STAGES,
    RECIPE_DISTILL_STAGES_STAGE,
    RECIPE_DISTILL_STAGES_EPOCHS,
    RECIPE_DISTILL_CACHE_TEACHER,
    RECIPE_DISTILL_ONLINE,
    RECIPE_DISTILL_ONLINE_LR,
    RECIPE_DISTILL_ONLINE_MOMENTUM,
    RECIPE_DISTILL_ONLINE_WEIGHT_DECAY,
    RECIPE_DISTILL_ONLINE_OUTPUT,
    RECIPE_TRAIN,
    RECIPE_TRAIN_EPOCHS,
    RECIPE_TRAIN_BATCH_SIZE,
    RECIPE_TRAIN_LR,
    RECIPE_TRAIN_MOMENTUM,
    RECIPE_TRAIN_WEIGHT_DECAY,
    RECIPE_TRAIN_SCHEDULE,
    RECIPE_TRAIN_SEED,
    RECIPE_OUTPUT_SPEC, /* the 'output' key, a path or a mapping */
    RECIPE_OUTPUT,      /* the path */
    RECIPE_OUTPUT_FOLD_NORM,
    RECIPE_FIELD_COUNT
} RecipeField;

/* Where the student's weights start (student.init): sliced from the teacher, or drawn
 * afresh (passes/reinit.c), the baseline that shows what the teacher's weights are worth. */
typedef enum { STUDENT_INIT_TEACHER = 0, STUDENT_INIT_RANDOM } StudentInit;

/* Normalization added to the student for training (student.train_norm,
 * passes/insert_norm.c): auto adds BatchNormalization when the teacher has no
 * normalization layer at all (an export that folded it), batchnorm after every hidden
 * layer that lacks one, none never. */
typedef enum { TRAIN_NORM_AUTO = 0, TRAIN_NORM_BATCHNORM, TRAIN_NORM_NONE } TrainNorm;

/* One teacher: its resolved .onnx path and its weight among the teachers (> 0). */
typedef struct TeacherSpec {
    char *model;
    double weight;
    SrcPos pos; /* of the entry (the 'teacher' value for the single form) */
} TeacherSpec;

typedef struct Recipe {
    int version; /* the file's 'kdc:' schema version */
    char *path;  /* the recipe file, as given to recipe_load */
    /* 'teacher: PATH' or 'teachers: [{model, weight}, ...]': always 1..DISTILL_MAX_TEACHERS
     * entries (the single form gives one of weight 1). The student is derived from the
     * first. teacher is teachers[0].model (the same string, owned by teachers[0]). */
    char *teacher;
    int n_teachers;
    TeacherSpec teachers[DISTILL_MAX_TEACHERS];
    DataOptions data;
    /* Its protect, overrides and free_outputs arrays (and their strings) belong to the
     * Recipe. */
    StudentOptions student;
    /* How many of the first training samples the activation and taylor importances are
     * measured on (unused by the other importances). */
    int calibration_samples;
    StudentInit init;
    TrainNorm train_norm;
    bool train_norm_dense; /* also after hidden Gemm/MatMul layers, not only Conv */
    /* Its feature-pair names and online.output belong to the Recipe. Entries past
     * n_losses, n_pairs and n_stages hold defaults. */
    DistillOptions distill;
    TrainOptions train;
    char *output; /* resolved path of the student .onnx to write */
    bool fold_norm; /* output.fold_norm: fold inference BatchNormalization into its layer */
    /* Where each key's value was written (for a mapping, where the mapping starts). */
    SrcPos pos[RECIPE_FIELD_COUNT];
} Recipe;

/* Reads and checks the recipe at path (relative to the current folder or absolute).
 * On failure fills d with one line "PATH:LINE:COL: problem" (or "PATH: cannot read:
 * reason") and leaves *out empty; recipe_free(out) is safe either way. */
Status recipe_load(const char *path, Recipe *out, Diag *d);

/* Frees what the recipe owns and empties it. */
void recipe_free(Recipe *r);

/* Replaces the output path with path (relative to the current folder, as given on the
 * command line with -o); its folder must exist. Its position becomes "not from the file". */
Status recipe_set_output(Recipe *r, const char *path, Diag *d);

/* Writes "recipe.yaml:12:14" (or just "recipe.yaml" when the field was not written in the
 * file) into buf and returns buf, for messages of later stages. */
const char *recipe_where(const Recipe *r, RecipeField f, char *buf, size_t n);

/* The field's dotted key, e.g. "data.train.inputs". */
const char *recipe_field_key(RecipeField f);

/* The recipe's word for a loss kind, e.g. "attention"; "?" for none. */
const char *recipe_loss_kind_name(LossKind k);

/* The recipe's word for an importance kind, e.g. "bn_scale". */
const char *recipe_importance_name(ImportanceKind k);

/* The student options on one line, e.g. "params 0.25 (width searched), importance taylor
 * on 256 training samples, round_to 8, 2 protect globs", into buf; returns buf. */
const char *recipe_describe_student(const Recipe *r, char *buf, size_t n);

#endif
