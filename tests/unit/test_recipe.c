/* tests/unit/test_recipe.c - unit tests of the recipe loader (recipes/).
 *
 * Each test works in a fresh temporary folder holding the files a recipe names (an empty
 * teacher.onnx, data files, an out/ folder). Good recipes come from tests/recipes/ (found
 * next to this source file); the error cases are a table of recipe text and the exact
 * one-line message, "file:line:col: problem", each must produce.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "recipes/recipe.h"
#include "recipes/recipe_schema.h"
#include "tests/unit/temp_dir.h"

typedef struct Fixture {
    char dir[64];        /* the temporary folder */
    char recipe[128];    /* dir/r.yaml, where recipe text is written */
    char src[PATH_MAX];  /* the source tree's root */
} Fixture;

/* ---- files ---- */

static void write_in(const Fixture *fx, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    temp_write_file(path, text, strlen(text));
}

/* The whole file, NUL-terminated; the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1 << 16, 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The source tree holding tests/recipes/: where this file was compiled from (the Makefile
 * compiles from the root), else up from the test binary (build/tests/, build/asan/tests/). */
static bool find_source_root(char *out)
{
    const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_recipe.c");
    char exe[PATH_MAX] = "", base[PATH_MAX], probe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (strrchr(exe, '/'))
        *strrchr(exe, '/') = '\0';
    for (int i = 0; i < 4; i++) {
        int len = i == 0   ? snprintf(base, sizeof base, "%.*s.", tail ? (int)(tail - me) : 0, me)
                  : i == 1 ? snprintf(base, sizeof base, "%s/../..", exe)
                  : i == 2 ? snprintf(base, sizeof base, "%s/../../..", exe)
                           : snprintf(base, sizeof base, ".");
        if (len < 0 || (size_t)len >= sizeof base)
            continue;
        len = snprintf(probe, sizeof probe, "%s/tests/recipes/full_block.yaml", base);
        if ((size_t)len < sizeof probe && !access(probe, R_OK) && realpath(base, out))
            return true;
    }
    return false;
}

/* The temporary folder and the files the test recipes name. */
static bool fixture_make(Fixture *fx)
{
    if (!find_source_root(fx->src)) {
        fprintf(stderr, "test_recipe: cannot find tests/recipes/; run from the source root\n");
        return false;
    }
    strcpy(fx->dir, "/tmp/kdc_recipe_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        fx->dir[0] = '\0';
        return false;
    }
    snprintf(fx->recipe, sizeof fx->recipe, "%s/r.yaml", fx->dir);
    char path[256];
    const char *sub[] = {"data", "out", "sub"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", fx->dir, sub[i]);
        if (mkdir(path, 0755))
            return false;
    }
    const char *files[] = {"teacher.onnx",        "teacher_b.onnx",       "data/train-images.gz", "data/train-labels.gz",
                           "data/test-images.gz", "data/test-labels.gz",  "data/test-images.npy",
                           "data/test-labels.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_in(fx, files[i], "x");
    return true;
}

static int teardown(void **state)
{
    Fixture *fx = *state;
    int rc = fx->dir[0] ? temp_remove_tree(fx->dir) : 0;
    free(fx);
    return rc;
}

static int setup(void **state)
{
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    if (fixture_make(fx))
        return 0;
    teardown(state); /* cmocka skips the teardown of a failed setup */
    return -1;
}

/* Copies tests/recipes/NAME into the temporary folder as r.yaml and loads it. */
static Status load_fixture(const Fixture *fx, const char *name, Recipe *r, Diag *d)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/tests/recipes/%s", fx->src, name);
    char *text = slurp(path);
    write_in(fx, "r.yaml", text);
    free(text);
    return recipe_load(fx->recipe, r, d);
}

static Status load_text(const Fixture *fx, const char *text, Recipe *r, Diag *d)
{
    write_in(fx, "r.yaml", text);
    return recipe_load(fx->recipe, r, d);
}

static void assert_path(const Fixture *fx, const char *got, const char *rel)
{
    char want[256];
    snprintf(want, sizeof want, "%s/%s", fx->dir, rel);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void assert_where(const Recipe *r, RecipeField f, const char *suffix)
{
    char got[256], want[256];
    snprintf(want, sizeof want, "%s%s", r->path, suffix);
    assert_string_equal(recipe_where(r, f, got, sizeof got), want);
}

/* ---- good recipes ---- */

/* The values of tests/recipes/full_block.yaml and full_flow.yaml. */
static void assert_full_values(const Fixture *fx, const Recipe *r)
{
    assert_int_equal(r->version, 1);
    assert_string_equal(r->path, fx->recipe);
    assert_path(fx, r->teacher, "teacher.onnx");
    assert_int_equal(r->data.train.format, DATA_FORMAT_IDX);
    assert_path(fx, r->data.train.inputs, "data/train-images.gz");
    assert_path(fx, r->data.train.labels, "data/train-labels.gz");
    assert_int_equal(r->data.test.format, DATA_FORMAT_NPY);
    assert_path(fx, r->data.test.inputs, "data/test-images.npy");
    assert_path(fx, r->data.test.labels, "data/test-labels.npy");
    const DataNormalize *nz = &r->data.normalize;
    assert_true(nz->scale == 0.5);
    assert_int_equal(nz->n_mean, 3);
    assert_int_equal(nz->n_std, 3);
    assert_true(nz->mean[0] == 0.1 && nz->mean[1] == 0.2 && nz->mean[2] == 0.3);
    assert_true(nz->std[0] == 0.4 && nz->std[1] == 0.5 && nz->std[2] == 0.6);
    assert_true(r->student.width == 0.25);
    assert_true(r->distill.temperature == 2.5 && r->distill.alpha == 0.75);
    assert_int_equal(r->train.epochs, 3);
    assert_int_equal(r->train.batch_size, 64);
    assert_true(r->train.lr == 0.1 && r->train.momentum == 0.8 && r->train.weight_decay == 1e-4);
    assert_int_equal(r->train.schedule, TRAIN_SCHEDULE_CONSTANT);
    assert_true(r->train.seed == 42);
    assert_path(fx, r->output, "out/student.onnx");
}

static void test_full_block(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    assert_int_equal(load_fixture(fx, "full_block.yaml", &r, &d), KDC_OK);
    assert_string_equal(d.msg, "");
    assert_full_values(fx, &r);
    /* Values' positions, as later stages report them. */
    assert_where(&r, RECIPE_VERSION, ":3:6");
    assert_where(&r, RECIPE_TEACHER, ":4:10");
    assert_where(&r, RECIPE_DATA, ":6:3");
    assert_where(&r, RECIPE_DATA_TRAIN_INPUTS, ":8:13");
    assert_where(&r, RECIPE_DATA_NORMALIZE_MEAN, ":16:11");
    assert_where(&r, RECIPE_DATA_NORMALIZE_STD, ":18:7");
    assert_where(&r, RECIPE_TRAIN_SEED, ":33:9");
    assert_where(&r, RECIPE_OUTPUT, ":34:9");
    recipe_free(&r);
}

static void test_full_flow(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    assert_int_equal(load_fixture(fx, "full_flow.yaml", &r, &d), KDC_OK);
    assert_full_values(fx, &r);
    assert_where(&r, RECIPE_TRAIN, ":3:9");
    assert_where(&r, RECIPE_TRAIN_EPOCHS, ":3:110");
    assert_where(&r, RECIPE_DATA_TEST_FORMAT, ":4:24");
    recipe_free(&r);
}

/* The keys of the distillation methods, none written: one teacher of weight 1, no
 * augmentation, the classic alpha/temperature pair, and so on. */
static void assert_new_defaults(const Fixture *fx, const Recipe *r)
{
    assert_int_equal(r->n_teachers, 1);
    assert_path(fx, r->teachers[0].model, "teacher.onnx");
    assert_ptr_equal(r->teacher, r->teachers[0].model);
    assert_true(r->teachers[0].weight == 1);
    assert_int_equal(r->teachers[0].pos.line, r->pos[RECIPE_TEACHER].line);
    assert_int_equal(r->teachers[0].pos.col, r->pos[RECIPE_TEACHER].col);
    const AugmentOptions *a = &r->data.augment;
    assert_true(a->crop_padding == 0 && !a->flip && a->mixup == 0);
    const DistillOptions *o = &r->distill;
    assert_int_equal(o->n_losses, 0);
    assert_int_equal(o->teacher_mix, TEACHER_MIX_AVERAGE);
    assert_int_equal(o->n_stages, 0);
    assert_int_equal(o->cache_teacher, SWITCH_AUTO);
    assert_false(o->online.enabled);
    assert_true(o->online.lr == r->train.lr && o->online.momentum == r->train.momentum);
    assert_true(o->online.weight_decay == r->train.weight_decay);
    assert_null(o->online.output);
    assert_where(r, RECIPE_TEACHERS, "");
    assert_where(r, RECIPE_DISTILL_LOSSES, "");
}

static void test_defaults(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    assert_int_equal(load_fixture(fx, "minimal.yaml", &r, &d), KDC_OK);
    const DataNormalize *nz = &r.data.normalize;
    assert_true(nz->scale == 1 && nz->n_mean == 1 && nz->mean[0] == 0 && nz->n_std == 1 && nz->std[0] == 1);
    assert_true(r.student.width == 0.5);
    assert_true(r.distill.temperature == 4 && r.distill.alpha == 0.9);
    assert_int_equal(r.train.epochs, 5);
    assert_int_equal(r.train.batch_size, 128);
    assert_true(r.train.lr == 0.05 && r.train.momentum == 0.9 && r.train.weight_decay == 5e-4);
    assert_int_equal(r.train.schedule, TRAIN_SCHEDULE_COSINE);
    assert_true(r.train.seed == 0);
    const StudentOptions *o = &r.student;
    assert_true(o->params == 0 && o->macs == 0);
    assert_int_equal(o->importance, IMPORTANCE_L1);
    assert_int_equal(o->round_to, 0);
    assert_true(o->seed == 0);
    assert_null(o->protect);
    assert_null(o->overrides);
    assert_null(o->free_outputs);
    assert_int_equal(o->n_protect + o->n_overrides + o->n_free_outputs, 0);
    assert_int_equal(r.calibration_samples, 256);
    assert_int_equal(r.init, STUDENT_INIT_TEACHER);
    /* Keys not written in the file have no position. */
    assert_where(&r, RECIPE_TRAIN_EPOCHS, "");
    assert_where(&r, RECIPE_STUDENT, "");
    assert_where(&r, RECIPE_DATA_TEST_LABELS, ":6:60");
    assert_new_defaults(fx, &r);
    recipe_free(&r);
}

/* Relative paths are taken from the recipe's folder; absolute ones are kept. */
static void test_path_resolution(void **state)
{
    Fixture *fx = *state;
    char text[1024], path[256], want[256];
    snprintf(text, sizeof text,
             "kdc: 1\nteacher: ../teacher.onnx\ndata:\n"
             "  train: {format: idx, inputs: %s/data/train-images.gz, labels: ../data/train-labels.gz}\n"
             "  test: {format: idx, inputs: ../data/test-images.gz, labels: ../data/test-labels.gz}\n"
             "output: ../out/s.onnx\n",
             fx->dir);
    snprintf(path, sizeof path, "%s/sub/r.yaml", fx->dir);
    temp_write_file(path, text, strlen(text));
    Recipe r;
    Diag d = {""};
    assert_int_equal(recipe_load(path, &r, &d), KDC_OK);
    snprintf(want, sizeof want, "%s/sub/../teacher.onnx", fx->dir);
    assert_string_equal(r.teacher, want);
    snprintf(want, sizeof want, "%s/data/train-images.gz", fx->dir);
    assert_string_equal(r.data.train.inputs, want);
    snprintf(want, sizeof want, "%s/sub/../out/s.onnx", fx->dir);
    assert_string_equal(r.output, want);
    recipe_free(&r);
}

static void test_set_output(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    char path[256], want[512];
    assert_int_equal(load_fixture(fx, "minimal.yaml", &r, &d), KDC_OK);
    snprintf(path, sizeof path, "%s/sub/other.onnx", fx->dir);
    assert_int_equal(recipe_set_output(&r, path, &d), KDC_OK);
    assert_string_equal(r.output, path);
    assert_where(&r, RECIPE_OUTPUT, "");
    snprintf(path, sizeof path, "%s/missing/s.onnx", fx->dir);
    assert_int_equal(recipe_set_output(&r, path, &d), KDC_ERR);
    snprintf(want, sizeof want, "output folder '%s/missing' does not exist; create it or choose another path",
             fx->dir);
    assert_string_equal(d.msg, want);
    snprintf(path, sizeof path, "%s/sub/other.onnx", fx->dir);
    assert_string_equal(r.output, path);
    assert_int_equal(recipe_set_output(&r, "", &d), KDC_ERR);
    recipe_free(&r);
    recipe_free(&r);
}

/* recipe_field_key matches the schema: every row's id names its dotted key, once (keys of
 * list entries under the list's key, e.g. distill.losses.kind). */
static void check_keys(const SchemaField *table, const char *prefix, int *seen)
{
    char key[128];
    for (const SchemaField *f = table; f->name; f++) {
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", f->name);
        assert_string_equal(recipe_field_key(f->id), key);
        seen[f->id]++;
        if (f->children)
            check_keys(f->children, key, seen);
    }
}

static void test_field_keys(void **state)
{
    (void)state;
    int seen[RECIPE_FIELD_COUNT] = {0};
    check_keys(recipe_schema_top(recipe_schema_newest()), "", seen);
    for (int i = 0; i < RECIPE_FIELD_COUNT; i++)
        assert_int_equal(seen[i], 1);
    assert_string_equal(recipe_field_key(RECIPE_FIELD_COUNT), "?");
}

/* The shipped demo recipes, loaded from a copy of recipes/ next to a link to tests/. */
static void test_demo_recipes(void **state)
{
    Fixture *fx = *state;
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK))
        skip();
    const char *names[] = {"fashion_mnist_cnn", "fashion_mnist_mlp"};
    char path[PATH_MAX + 64], link[256], want[256];
    snprintf(path, sizeof path, "%s/tests", fx->src);
    snprintf(link, sizeof link, "%s/tests", fx->dir);
    assert_int_equal(symlink(path, link), 0);
    snprintf(link, sizeof link, "%s/recipes", fx->dir);
    assert_int_equal(mkdir(link, 0755), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/recipes/%s.yaml", fx->src, names[i]);
        char *text = slurp(path);
        snprintf(path, sizeof path, "%s/recipes/%s.yaml", fx->dir, names[i]);
        temp_write_file(path, text, strlen(text));
        free(text);
        Recipe r;
        Diag d = {""};
        if (recipe_load(path, &r, &d))
            fail_msg("%s", d.msg);
        snprintf(want, sizeof want, "%s/recipes/../out/%s_student.onnx", fx->dir, names[i]);
        assert_string_equal(r.output, want);
        assert_string_equal(r.data.test.labels, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
        assert_true(r.data.normalize.scale == 1.0 / 255 && r.data.normalize.mean[0] == 0.2860);
        assert_true(r.data.normalize.std[0] == 0.3530 && r.student.width == 0.5);
        assert_int_equal(r.student.importance, IMPORTANCE_L1);
        assert_true(r.distill.temperature == 4 && r.distill.alpha == 0.9 && r.train.epochs == 5);
        assert_true(r.train.batch_size == 128 && r.train.lr == 0.01 && r.train.momentum == 0.9);
        assert_true(r.train.weight_decay == 5e-4 && r.train.schedule == TRAIN_SCHEDULE_COSINE && r.train.seed == 0);
        recipe_free(&r);
    }
}

/* ---- bad recipes ---- */

static void test_unreadable(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d;
    char path[256], want[512];
    snprintf(path, sizeof path, "%s/none.yaml", fx->dir);
    assert_int_equal(recipe_load(path, &r, &d), KDC_ERR);
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(d.msg, want);
    assert_null(r.path);
    assert_int_equal(recipe_load(fx->dir, &r, &d), KDC_ERR);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", fx->dir);
    assert_string_equal(d.msg, want);
    recipe_free(&r);
}

/* Six valid lines; cases append theirs from line 7. */
#define BASE                                                                                                           \
    "kdc: 1\n"                                                                                                         \
    "teacher: teacher.onnx\n"                                                                                          \
    "data:\n"                                                                                                          \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"                              \
    "output: out/student.onnx\n"

#define STUDENT_KEYS                                                                                                   \
    "width, params, macs, importance, round_to, seed, protect, width_for, free_outputs, calibration_samples, depth, "  \
    "drop, drop_alternate, init"
#define IMPORTANCES "one of l1, l2, bn_scale, activation, taylor, random"
#define DISTILL_KEYS "temperature, alpha, losses, teacher_mix, stages, cache_teacher, online"
#define TEACHER_HELP "(the teacher .onnx model to distill, or a list of {model: PATH, weight: W})"
#define LOSS_KEYS                                                                                                      \
    "kind, weight, teacher, temperature, smoothing, pairs, p, distance_weight, angle_weight, feat_dim, negatives, "    \
    "nce_temperature, momentum"
#define LOSS_KIND_WORDS "one of kd, ce, hint, attention, similarity, relation, contrastive, pkt, correlation"
#define FEATURE_KIND_WORDS "hint, attention, similarity, relation, contrastive, pkt, correlation"
#define ONLINE_KIND "online distillation trains both models on kd and ce; loss kind"
#define HINT_STAGE                                                                                                     \
    "a hint stage trains the student on the hint losses alone, but 'losses' has no loss of kind hint with a weight "   \
    "above 0; add one"
#define CACHE_AUGMENT "cache_teacher: true needs un-augmented data: the teacher must see each augmented batch"
#define ALPHA_LOSSES                                                                                                   \
    "distill.alpha weighs kd against ce when distill.losses is not given; with distill.losses give each loss its "     \
    "weight"

/* The two lines of data.train and data.test in BASE. */
#define SPLITS                                                                                                         \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"

/* BASE without its teacher: five lines; cases append theirs from line 6. */
#define BASE_NO_TEACHER                                                                                                \
    "kdc: 1\n"                                                                                                         \
    "data:\n"                                                                                                          \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"                              \
    "output: out/student.onnx\n"
#define ALIAS_HINT "; quote globs that start with '*' (YAML reads *name as an alias)"

typedef struct BadCase {
    const char *text;
    const char *want; /* after "PATH:"; "$D" stands for the temporary folder */
} BadCase;

static const BadCase BAD[] = {
    /* unknown keys */
    {BASE "student: {widht: 0.5}\n", "7:11: unknown key 'widht' in 'student' (did you mean 'width'?)"},
    {BASE "colour: red\n",
     "7:1: unknown key 'colour' (known keys: kdc, teacher, teachers, data, student, distill, train, output)"},
    {BASE "train:\n  epoch: 3\n", "8:3: unknown key 'epoch' in 'train' (did you mean 'epochs'?)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, input: x, labels: y}\n",
     "4:24: unknown key 'input' in 'data.train' (did you mean 'inputs'?)"},
    {BASE "distill: {x: 1}\n", "7:11: unknown key 'x' in 'distill' (known keys: " DISTILL_KEYS ")"},
    {BASE "? [a, b]\n: 1\n", "7:3: keys must be names, got a list"},
    /* wrong types */
    {BASE "train:\n  epochs: five\n", "8:11: 'epochs' must be an integer, got 'five'"},
    {BASE "train: {epochs: 2.5}\n", "7:17: 'epochs' must be an integer, got '2.5'"},
    {BASE "train: {epochs: [1]}\n", "7:17: 'epochs' must be an integer, got a list"},
    {BASE "train: {epochs: }\n", "7:17: 'epochs' must be an integer, got nothing"},
    {BASE "train: {lr: fast}\n", "7:13: 'lr' must be a number, got 'fast'"},
    {BASE "train: {lr: .inf}\n", "7:13: 'lr' must be a number, got '.inf'"},
    {BASE "train: {lr: 1e999}\n", "7:13: 'lr' must be a finite number, got '1e999'"},
    {BASE "train: {seed: 1.5}\n", "7:15: 'seed' must be a non-negative integer, got '1.5'"},
    {BASE "data: &d {train: *d}\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata: &d {train: *d}\n",
     "3:11: unknown key 'train' in 'data.train' (known keys: format, inputs, labels)"},
    {BASE "train: {seed: -1}\n", "7:15: 'seed' must be a non-negative integer, got '-1'"},
    {BASE "train: {schedule: linear}\n", "7:19: 'schedule' must be one of cosine, constant, got 'linear'"},
    {BASE "train: {schedule: cosin}\n",
     "7:19: 'schedule' must be one of cosine, constant, got 'cosin' (did you mean 'cosine'?)"},
    {BASE "student: 0.5\n", "7:10: 'student' must be a mapping with keys " STUDENT_KEYS ", got '0.5'"},
    {BASE "student:\n", "7:9: 'student' must be a mapping with keys " STUDENT_KEYS ", got nothing"},
    {BASE "data2: 1\n", "7:1: unknown key 'data2' (did you mean 'data'?)"},
    {"kdc: 1\nteacher:\n", "2:9: 'teacher' must be a file path, got nothing"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: csv}\n",
     "4:19: 'format' must be one of idx, npy, got 'csv'"},
    {BASE "data: 3\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {BASE "data:\n  normalize: {mean: {a: 1}}\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    /* out of range */
    {BASE "train: {epochs: 0}\n", "7:17: 'epochs' must be >= 1, got 0"},
    {BASE "train: {batch_size: -5}\n", "7:21: 'batch_size' must be >= 1, got -5"},
    {BASE "train: {epochs: 99999999999}\n", "7:17: 'epochs' must be at most 2147483647, got 99999999999"},
    {BASE "train: {epochs: 99999999999999999999}\n",
     "7:17: 'epochs' must be at most 2147483647, got 99999999999999999999"},
    {BASE "train: {epochs: -99999999999999999999}\n", "7:17: 'epochs' must be >= 1, got -99999999999999999999"},
    {BASE "train: {lr: 0}\n", "7:13: 'lr' must be > 0, got 0"},
    {BASE "train: {momentum: 1}\n", "7:19: 'momentum' must be in [0, 1), got 1"},
    {BASE "train: {weight_decay: -0.1}\n", "7:23: 'weight_decay' must be >= 0, got -0.1"},
    {BASE "train: {seed: 18446744073709551616}\n",
     "7:15: 'seed' must be at most 18446744073709551615, got 18446744073709551616"},
    {BASE "student: {width: 0}\n", "7:18: 'width' must be in (0, 1], got 0"},
    {BASE "student: {width: 1.5}\n", "7:18: 'width' must be in (0, 1], got 1.5"},
    {BASE "distill: {temperature: 0}\n", "7:24: 'temperature' must be > 0, got 0"},
    {BASE "distill: {alpha: -0.1}\n", "7:18: 'alpha' must be in [0, 1], got -0.1"},
    /* student: unknown keys, numbers and choices */
    {BASE "student: {roundto: 8}\n", "7:11: unknown key 'roundto' in 'student' (did you mean 'round_to'?)"},
    {BASE "student: {calibration_sample: 8}\n",
     "7:11: unknown key 'calibration_sample' in 'student' (did you mean 'calibration_samples'?)"},
    {BASE "student: {free_output: [y]}\n",
     "7:11: unknown key 'free_output' in 'student' (did you mean 'free_outputs'?)"},
    {BASE "student: {dropp: [block1]}\n", "7:11: unknown key 'dropp' in 'student' (did you mean 'drop'?)"},
    {BASE "student: {shrink: 1}\n", "7:11: unknown key 'shrink' in 'student' (known keys: " STUDENT_KEYS ")"},
    {BASE "student: {depth: 0}\n", "7:18: 'depth' must be >= 1, got 0"},
    {BASE "student: {depth: 2, drop: [layer1.1]}\n", "7:27: 'drop' and 'depth' (7:18) both choose blocks; give one of them"},
    {BASE "student: {drop_alternate: yes}\n",
     "7:27: 'drop_alternate' must be one of false, true, got 'yes'"},
    {BASE "student: {drop: a, drop_alternate: true}\n",
     "7:36: 'drop_alternate' and 'drop' (7:17) both choose blocks; give one of them"},
    {BASE "student: {calibration_samples: 8}\n",
     "7:32: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use "
     "one of them"},
    {BASE "student: {init: zeros}\n", "7:17: 'init' must be one of teacher, random, got 'zeros'"},
    {BASE "student: {init: Random}\n",
     "7:17: 'init' must be one of teacher, random, got 'Random' (did you mean 'random'?)"},
    {BASE "student: {init: }\n", "7:17: 'init' must be one of teacher, random, got nothing"},
    {BASE "student: {params: 0}\n", "7:19: 'params' must be in (0, 1], got 0"},
    {BASE "student: {params: 1.01}\n", "7:19: 'params' must be in (0, 1], got 1.01"},
    {BASE "student: {params: quarter}\n", "7:19: 'params' must be a number, got 'quarter'"},
    {BASE "student: {macs: -0.5}\n", "7:17: 'macs' must be in (0, 1], got -0.5"},
    {BASE "student: {macs: [0.5]}\n", "7:17: 'macs' must be a number, got a list"},
    {BASE "student: {importance: tayler}\n",
     "7:23: 'importance' must be " IMPORTANCES ", got 'tayler' (did you mean 'taylor'?)"},
    {BASE "student: {importance: L1}\n", "7:23: 'importance' must be " IMPORTANCES ", got 'L1' (did you mean 'l1'?)"},
    {BASE "student: {importance: fisher}\n", "7:23: 'importance' must be " IMPORTANCES ", got 'fisher'"},
    {BASE "student: {importance: }\n", "7:23: 'importance' must be " IMPORTANCES ", got nothing"},
    {BASE "student: {round_to: -8}\n", "7:21: 'round_to' must be >= 0, got -8"},
    {BASE "student: {round_to: 8.5}\n", "7:21: 'round_to' must be an integer, got '8.5'"},
    {BASE "student: {seed: -1}\n", "7:17: 'seed' must be a non-negative integer, got '-1'"},
    {BASE "student: {importance: taylor, calibration_samples: 0}\n",
     "7:52: 'calibration_samples' must be >= 1, got 0"},
    {BASE "student: {importance: activation, calibration_samples: all}\n",
     "7:56: 'calibration_samples' must be an integer, got 'all'"},
    /* student: lists of names */
    {BASE "student: {protect: }\n", "7:20: 'protect' must be a name or a list of names, got nothing"},
    {BASE "student: {protect: {conv: 1}}\n", "7:20: 'protect' must be a name or a list of names, got a mapping"},
    {BASE "student: {protect: ''}\n", "7:20: 'protect' must be a name, got ''"},
    {BASE "student: {protect: [conv1, [a]]}\n", "7:28: 'protect' entries must be a name, got a list"},
    {BASE "student: {protect: [conv1, \"\"]}\n", "7:28: 'protect' entries must be a name, got ''"},
    {BASE "student:\n  protect:\n    - conv1\n    -\n", "10:6: 'protect' entries must be a name, got nothing"},
    {BASE "student: {protect: [\"a\\0b\"]}\n", "7:21: 'protect' entries must be a name, got 'a b'"},
    {BASE "student: {free_outputs: [logits, {a: 1}]}\n", "7:34: 'free_outputs' entries must be a name, got a mapping"},
    {BASE "student: {protect: [*conv]}\n", "7:21: YAML syntax error: found undefined alias" ALIAS_HINT},
    {BASE "student:\n  protect: *.weight\n",
     "8:13: YAML syntax error: did not find expected alphabetic or numeric character (while scanning an alias at "
     "8:12)" ALIAS_HINT},
    {BASE "student: {protect: [a], protect: [b]}\n",
     "7:25: duplicate key 'protect' in 'student' (first given at 7:11)"},
    /* student: glob widths */
    {BASE "student: {width_for: 0.5}\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got '0.5'"},
    {BASE "student: {width_for: [conv, 0.5]}\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got a list"},
    {BASE "student: {width_for: }\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got nothing"},
    {BASE "student: {width_for: {conv*: 0.5, fc: 0}}\n", "7:39: 'width_for' entry 'fc' must be in (0, 1], got 0"},
    {BASE "student: {width_for: {conv*: half}}\n", "7:30: 'width_for' entry 'conv*' must be a number, got 'half'"},
    {BASE "student: {width_for: {conv*: }}\n", "7:30: 'width_for' entry 'conv*' must be a number, got nothing"},
    {BASE "student: {width_for: {[a]: 0.5}}\n", "7:23: each 'width_for' key must be a name, got a list"},
    {BASE "student: {width_for: {'': 0.5}}\n", "7:23: each 'width_for' key must be a name, got ''"},
    {BASE "student:\n  width_for:\n    conv*: 0.5\n    fc: 0.5\n    conv*: 0.25\n",
     "11:5: duplicate glob 'conv*' in 'width_for' (first given at 9:5)"},
    /* student: keys that exclude each other; the message points at the later one */
    {BASE "student: {params: 0.5, macs: 0.25}\n",
     "7:30: 'macs' and 'params' (7:19) are both budgets; give one of them"},
    {BASE "student:\n  macs: 0.25\n  params: 0.5\n",
     "9:11: 'params' and 'macs' (8:9) are both budgets; give one of them"},
    {BASE "student: {width: 0.5, params: 0.25}\n",
     "7:31: 'params' and 'width' (7:18) both size the student; give a width or a budget, not both"},
    {BASE "student:\n  macs: 0.3\n  width: 1\n",
     "9:10: 'width' and 'macs' (8:9) both size the student; give a width or a budget, not both"},
    {BASE "student: {calibration_samples: 64}\n",
     "7:32: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use one "
     "of them"},
    {BASE "student: {importance: random, calibration_samples: 64}\n",
     "7:52: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use one "
     "of them"},
    /* normalize lists */
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {scale: 0}\n", "4:22: 'scale' must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: []}\n",
     "4:21: 'mean' must have 1 to 16 numbers, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}\n",
     "4:21: 'mean' must have 1 to 16 numbers, got 17"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {std: [0.5, 0]}\n",
     "4:26: 'std' entries must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {std: 0}\n", "4:20: 'std' must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [a]}\n",
     "4:22: 'mean' entries must be a number, got 'a'"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: {a: 1}}\n",
     "4:21: 'mean' must be a number or a list of 1 to 16 numbers, got a mapping"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [1, 2, 3], std: [1, 2]}\n"
     "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"
     "  test: {format: idx, inputs: data/test-images.gz, labels: data/test-labels.gz}\n"
     "output: out/s.onnx\n",
     "4:37: 'std' has 2 entries but 'mean' has 3; give one per channel, or one for all"},
    /* duplicates */
    {BASE "teacher: teacher.onnx\n", "7:1: duplicate key 'teacher' (first given at 2:1)"},
    {BASE "train: {epochs: 1, epochs: 2}\n", "7:20: duplicate key 'epochs' in 'train' (first given at 7:9)"},
    /* missing keys, at the enclosing mapping */
    {"kdc: 1\nstudent: {}\n", "1:1: missing required key 'teacher' or 'teachers' " TEACHER_HELP},
    {"# comment\n\nkdc: 1\nteacher: teacher.onnx\n",
     "3:1: missing required key 'data' (the train and test splits)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, inputs: data/train-images.gz, labels: "
     "data/train-labels.gz}\n",
     "4:3: missing required key 'test' in 'data' (the test split, e.g. {format: idx, inputs: PATH, labels: PATH})"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, labels: data/train-labels.gz}\n",
     "4:10: missing required key 'inputs' in 'data.train' (the file of input examples)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train:\n    inputs: data/train-images.gz\n",
     "5:5: missing required key 'format' in 'data.train' (the file format: idx or npy)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, inputs: data/train-images.gz, labels: "
     "data/train-labels.gz}\n  test: {format: idx, inputs: data/test-images.gz, labels: data/test-labels.gz}\n",
     "1:1: missing required key 'output' (the student .onnx file to write)"},
    /* files */
    {"kdc: 1\nteacher: nope.onnx\n",
     "2:10: cannot read 'teacher' file 'nope.onnx' (that is '$D/nope.onnx', relative to the recipe's folder): "
     "No such file or directory"},
    {"kdc: 1\nteacher: data\n",
     "2:10: cannot read 'teacher' file 'data' (that is '$D/data', relative to the recipe's folder): Is a directory"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  test: {format: idx, inputs: data/test-images.gz, labels: "
     "/nonexistent/l.gz}\n",
     "4:60: cannot read 'labels' file '/nonexistent/l.gz': No such file or directory"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: nowhere/s.onnx\n",
     "3:9: output folder '$D/nowhere' does not exist; create it or choose another path"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out\n",
     "3:9: output path '$D/out' is a folder; name the .onnx file to write in it"},
    /* version */
    {"kdc: 2\nteacher: teacher.onnx\n", "1:6: unsupported recipe version 2; this kdc reads version 1"},
    {"teacher: teacher.onnx\nkdc: 0\n", "2:6: unsupported recipe version 0; this kdc reads version 1"},
    {"kdc: one\n", "1:6: 'kdc' must be an integer (the recipe schema version), got 'one'"},
    {"kdc: 1.0\n", "1:6: 'kdc' must be an integer (the recipe schema version), got '1.0'"},
    {"teacher: teacher.onnx\n", "1:1: missing required key 'kdc' (the recipe schema version; write 'kdc: 1' first)"},
    {"kdc: 1\nkdc: 1\n", "2:1: duplicate key 'kdc' (first given at 1:1)"},
    /* teachers */
    {BASE "teachers: [{model: teacher.onnx}]\n", "7:1: 'teachers' and 'teacher' (2:1) are alternatives; give one of them"},
    {BASE_NO_TEACHER "teachers:\n  - model: teacher.onnx\nteacher: teacher.onnx\n",
     "8:1: 'teacher' and 'teachers' (6:1) are alternatives; give one of them"},
    {BASE_NO_TEACHER "student: {}\n", "1:1: missing required key 'teacher' or 'teachers' " TEACHER_HELP},
    {BASE_NO_TEACHER "teachers: []\n", "6:11: 'teachers' must have 1 to 8 entries, got 0"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, "
                     "{model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, "
                     "{model: teacher.onnx}, {model: teacher.onnx}]\n",
     "6:11: 'teachers' must have 1 to 8 entries, got 9"},
    {BASE_NO_TEACHER "teachers: teacher.onnx\n",
     "6:11: 'teachers' must be a list of 1 to 8 mappings with keys model, weight, got 'teacher.onnx'"},
    {BASE_NO_TEACHER "teachers: [teacher.onnx]\n",
     "6:12: 'teachers' entries must be mappings with keys model, weight, got 'teacher.onnx'"},
    {BASE_NO_TEACHER "teachers:\n  - weight: 2\n",
     "7:5: missing required key 'model' in 'teachers' (the teacher .onnx model)"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx, weight: 0}]\n", "6:42: 'weight' must be > 0, got 0"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: nope.onnx}]\n",
     "6:43: cannot read 'model' file 'nope.onnx' (that is '$D/nope.onnx', relative to the recipe's folder): "
     "No such file or directory"},
    {BASE_NO_TEACHER "teachers: [{modle: teacher.onnx}]\n",
     "6:13: unknown key 'modle' in 'teachers' (did you mean 'model'?)"},
    /* data.augment */
    {BASE "data:\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {crop_padding: -1}\n",
     "4:27: 'crop_padding' must be >= 0, got -1"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {flip: yes}\n",
     "4:19: 'flip' must be one of false, true, got 'yes'"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {mixup: -0.5}\n", "4:20: 'mixup' must be >= 0, got -0.5"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {crop: 4}\n",
     "4:13: unknown key 'crop' in 'data.augment' (known keys: crop_padding, flip, mixup)"},
    /* distill.losses: the list and its entries */
    {BASE "distill: {losses: []}\n", "7:19: 'losses' must have 1 to 16 entries, got 0"},
    {BASE "distill: {losses: [{kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, "
          "{kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, "
          "{kind: kd}]}\n",
     "7:19: 'losses' must have 1 to 16 entries, got 17"},
    {BASE "distill: {losses: kd}\n",
     "7:19: 'losses' must be a list of 1 to 16 mappings with keys " LOSS_KEYS ", got 'kd'"},
    {BASE "distill: {losses: [kd, ce]}\n",
     "7:20: 'losses' entries must be mappings with keys " LOSS_KEYS ", got 'kd'"},
    {BASE "distill:\n  losses:\n    - weight: 1\n",
     "9:7: missing required key 'kind' in 'distill.losses' (what the loss compares: kd, ce, hint, attention, "
     "similarity, relation, contrastive, pkt or correlation)"},
    {BASE "distill: {losses: [{kind: fitnet}]}\n", "7:27: 'kind' must be " LOSS_KIND_WORDS ", got 'fitnet'"},
    {BASE "distill: {losses: [{kind: hnt}]}\n",
     "7:27: 'kind' must be " LOSS_KIND_WORDS ", got 'hnt' (did you mean 'hint'?)"},
    {BASE "distill: {losses: [{kind: kd, kind: ce}]}\n",
     "7:31: duplicate key 'kind' in 'distill.losses' (first given at 7:21)"},
    {BASE "distill: {losses: [{kind: kd, temprature: 2}]}\n",
     "7:31: unknown key 'temprature' in 'distill.losses' (did you mean 'temperature'?)"},
    {BASE "distill: {losses: [{kind: kd, weight: -1}]}\n", "7:39: 'weight' must be >= 0, got -1"},
    {BASE "distill: {losses: [{kind: kd, teacher: 0}]}\n", "7:40: 'teacher' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: ce}, {kind: kd, teacher: 2}]}\n",
     "7:52: 'teacher' must be at most 1, the number of teachers, got 2"},
    {BASE "distill: {losses: [{kind: kd, temperature: 0}]}\n", "7:44: 'temperature' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: ce, smoothing: 1}]}\n", "7:42: 'smoothing' must be in [0, 1), got 1"},
    {BASE "distill: {losses: [{kind: attention, p: 0}]}\n", "7:41: 'p' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: relation, distance_weight: -1}]}\n",
     "7:54: 'distance_weight' must be >= 0, got -1"},
    {BASE "distill: {losses: [{kind: relation, angle_weight: x}]}\n", "7:51: 'angle_weight' must be a number, got 'x'"},
    {BASE "distill: {losses: [{kind: contrastive, feat_dim: 0}]}\n", "7:50: 'feat_dim' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, negatives: 0}]}\n", "7:51: 'negatives' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, nce_temperature: 0}]}\n",
     "7:57: 'nce_temperature' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, momentum: 1}]}\n", "7:50: 'momentum' must be in [0, 1), got 1"},
    /* distill.losses: keys of other kinds */
    {BASE "distill: {losses: [{kind: kd, smoothing: 0.1}]}\n",
     "7:31: key 'smoothing' does not apply to a loss of kind kd (it is an option of ce)"},
    {BASE "distill: {losses: [{pairs: auto, kind: ce}]}\n",
     "7:21: key 'pairs' does not apply to a loss of kind ce (it is an option of " FEATURE_KIND_WORDS ")"},
    {BASE "distill:\n  losses:\n    - kind: hint\n      p: 4\n",
     "10:7: key 'p' does not apply to a loss of kind hint (it is an option of attention)"},
    {BASE "distill: {losses: [{kind: ce, temperature: 2}]}\n",
     "7:31: key 'temperature' does not apply to a loss of kind ce (it is an option of kd)"},
    {BASE "distill: {losses: [{kind: pkt, momentum: 0.5}]}\n",
     "7:32: key 'momentum' does not apply to a loss of kind pkt (it is an option of contrastive)"},
    {BASE "distill: {losses: [{kind: attention, angle_weight: 1}]}\n",
     "7:38: key 'angle_weight' does not apply to a loss of kind attention (it is an option of relation)"},
    /* distill.losses: pairs */
    {BASE "distill: {losses: [{kind: hint, pairs: []}]}\n", "7:40: 'pairs' must have 1 to 8 entries, got 0"},
    {BASE "distill: {losses: [{kind: hint, pairs: manual}]}\n",
     "7:40: 'pairs' must be auto or a list of 1 to 8 mappings with keys teacher, student, got 'manual'"},
    {BASE "distill: {losses: [{kind: hint, pairs: [relu1]}]}\n",
     "7:41: 'pairs' entries must be mappings with keys teacher, student, got 'relu1'"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a}]}]}\n",
     "7:41: missing required key 'student' in 'distill.losses.pairs' (the student's value that imitates it)"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: '', student: b}]}]}\n",
     "7:51: 'teacher' must be a name, got ''"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a, student: [b]}]}]}\n",
     "7:63: 'student' must be a name, got a list"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a, student: b, studnet: c}]}]}\n",
     "7:66: unknown key 'studnet' in 'distill.losses.pairs' (did you mean 'student'?)"},
    /* distill.losses with alpha; weights */
    {BASE "distill:\n  alpha: 0.5\n  losses: [{kind: kd}]\n", "8:10: " ALPHA_LOSSES},
    {BASE "distill:\n  losses: [{kind: kd}]\n  alpha: 0.5\n", "9:10: " ALPHA_LOSSES},
    {BASE "distill:\n  losses: [{kind: kd, weight: 0}, {kind: ce, weight: 0}]\n",
     "8:11: every loss in 'losses' has weight 0; give at least one a weight > 0"},
    /* distill.teacher_mix, stages, cache_teacher */
    {BASE "distill: {teacher_mix: mean}\n", "7:24: 'teacher_mix' must be one of average, separate, got 'mean'"},
    {BASE "distill: {stages: [{stage: hint, epochs: 1}]}\n", "7:20: " HINT_STAGE},
    {BASE "distill:\n  losses: [{kind: kd}, {kind: attention}]\n  stages:\n    - {stage: hint, epochs: 2}\n",
     "10:7: " HINT_STAGE},
    {BASE "distill:\n  losses: [{kind: kd}, {kind: hint, weight: 0}]\n  stages:\n    - {stage: hint, epochs: 2}\n",
     "10:7: " HINT_STAGE},
    {BASE "distill: {stages: [{stage: hint}]}\n",
     "7:20: missing required key 'epochs' in 'distill.stages' (passes over the training split in this stage)"},
    {BASE "distill: {stages: [{epochs: 1}]}\n",
     "7:20: missing required key 'stage' in 'distill.stages' (what the stage trains: hint)"},
    {BASE "distill: {stages: [{stage: hint, epochs: 0}]}\n", "7:42: 'epochs' must be >= 1, got 0"},
    {BASE "distill: {stages: [{stage: warmup, epochs: 1}]}\n", "7:28: 'stage' must be one of hint, got 'warmup'"},
    {BASE "distill: {stages: [{stage: hint, epochs: 1}, {stage: hint, epochs: 1}, {stage: hint, epochs: 1}, "
          "{stage: hint, epochs: 1}, {stage: hint, epochs: 1}]}\n",
     "7:19: 'stages' must have 1 to 4 entries, got 5"},
    {BASE "distill: {cache_teacher: maybe}\n", "7:26: 'cache_teacher' must be one of auto, true, false, got 'maybe'"},
    {BASE "distill: {cache_teacher: true}\ndata:\n", "8:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndata:\n  augment: {flip: true}\n" SPLITS
     "distill: {cache_teacher: true}\n",
     "8:26: " CACHE_AUGMENT},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndistill:\n  cache_teacher: true\ndata:\n"
     "  augment: {crop_padding: 2}\n" SPLITS,
     "5:18: " CACHE_AUGMENT},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndistill:\n  cache_teacher: true\ndata:\n"
     "  augment: {mixup: 0.4, crop_padding: 0, flip: false}\n" SPLITS,
     "5:18: " CACHE_AUGMENT},
    {BASE "distill: {cache_teacher: true, online: {}}\n",
     "7:26: cache_teacher: true cannot be used with online: the teacher changes as it trains"},
    /* distill.online */
    {BASE "distill: {online: true}\n",
     "7:19: 'online' must be a mapping with keys lr, momentum, weight_decay, output, got 'true'"},
    {BASE "distill: {online: {lr: 0}}\n", "7:24: 'lr' must be > 0, got 0"},
    {BASE "distill: {online: {momentum: 1}}\n", "7:30: 'momentum' must be in [0, 1), got 1"},
    {BASE "distill: {online: {weight_decay: -1}}\n", "7:34: 'weight_decay' must be >= 0, got -1"},
    {BASE "distill: {online: {output: nowhere/t.onnx}}\n",
     "7:28: output folder '$D/nowhere' does not exist; create it or choose another path"},
    {BASE "distill: {online: {epochs: 2}}\n",
     "7:20: unknown key 'epochs' in 'distill.online' (known keys: lr, momentum, weight_decay, output)"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: teacher_b.onnx}]\ndistill:\n  online: {}\n",
     "8:11: online distillation trains one teacher with the student; 'teachers' (6:11) names 2"},
    {BASE "distill:\n  online: {}\n  losses:\n    - {kind: kd}\n    - {kind: hint}\n", "11:7: " ONLINE_KIND " 'hint' "
     "is not supported with it"},
    {BASE "distill:\n  losses: [{kind: ce}, {kind: relation}]\n  online: {lr: 0.1}\n",
     "8:24: " ONLINE_KIND " 'relation' is not supported with it"},
    {BASE "distill:\n  online: {}\n  stages: [{stage: hint, epochs: 1}]\n",
     "9:11: 'stages' and 'online' (8:11) cannot be combined: online distillation has no stages"},
    /* document shape and YAML syntax */
    {"", "1:1: the recipe is empty; it needs at least 'kdc: 1', 'teacher', 'data' and 'output'"},
    {"# nothing but a comment\n",
     "1:1: the recipe is empty; it needs at least 'kdc: 1', 'teacher', 'data' and 'output'"},
    {"- kdc: 1\n", "1:1: a recipe must be a mapping of keys (kdc, teacher, data, ...), got a list"},
    {"hello\n", "1:1: a recipe must be a mapping of keys (kdc, teacher, data, ...), got 'hello'"},
    {BASE "---\nkdc: 1\n", "8:1: a recipe is one YAML document; remove the '---' and what follows it"},
    {"kdc: 1\n\tteacher: x\n",
     "2:1: YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar at "
     "1:6); indent with spaces, not tabs"},
    {"kdc: 1\nstudent: {width: 0.5\n",
     "3:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:10)"},
    {"kdc: 1\n  teacher: x\n",
     "2:10: YAML syntax error: mapping values are not allowed in this context; check the indentation, and quote "
     "values that contain ': '"},
    {"kdc: 1\nteacher: *t\n", "2:10: YAML syntax error: found undefined alias" ALIAS_HINT},
    {"kdc: 1\nteacher: \"x\xff\"\n", "2:12: not UTF-8 text: invalid leading UTF-8 octet (byte 0xff)"},
};

/* ---- student options ---- */

/* Every student key but width (a budget replaces it), block style. */
static const char STUDENT_BLOCK[] = BASE /* lines 1-6 */
    "student:\n"
    "  params: 0.25\n"
    "  importance: taylor\n"
    "  round_to: 8\n" /* line 10 */
    "  seed: 18446744073709551615\n"
    "  protect:\n"
    "    - \"*conv1*\"\n"
    "    - fc\n"
    "    - 12\n" /* line 15 */
    "  width_for:\n"
    "    \"layer2.*\": 0.75\n"
    "    '*': 1\n"
    "  free_outputs: hidden\n"
    "  calibration_samples: 64\n"; /* line 20 */

static void test_student_block(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    char buf[256];
    if (load_text(fx, STUDENT_BLOCK, &r, &d))
        fail_msg("%s", d.msg);
    const StudentOptions *o = &r.student;
    assert_true(o->width == 0.5 && o->params == 0.25 && o->macs == 0);
    assert_int_equal(o->importance, IMPORTANCE_TAYLOR);
    assert_int_equal(o->round_to, 8);
    assert_true(o->seed == UINT64_MAX);
    assert_int_equal(o->n_protect, 3);
    assert_string_equal(o->protect[0], "*conv1*");
    assert_string_equal(o->protect[1], "fc");
    assert_string_equal(o->protect[2], "12");
    /* In the file's order: the first matching glob wins. */
    assert_int_equal(o->n_overrides, 2);
    assert_string_equal(o->overrides[0].pattern, "layer2.*");
    assert_true(o->overrides[0].width == 0.75);
    assert_string_equal(o->overrides[1].pattern, "*");
    assert_true(o->overrides[1].width == 1);
    assert_int_equal(o->n_free_outputs, 1);
    assert_string_equal(o->free_outputs[0], "hidden");
    assert_int_equal(r.calibration_samples, 64);
    assert_where(&r, RECIPE_STUDENT, ":8:3");
    assert_where(&r, RECIPE_STUDENT_PARAMS, ":8:11");
    assert_where(&r, RECIPE_STUDENT_IMPORTANCE, ":9:15");
    assert_where(&r, RECIPE_STUDENT_SEED, ":11:9");
    assert_where(&r, RECIPE_STUDENT_PROTECT, ":13:5");
    assert_where(&r, RECIPE_STUDENT_WIDTH_FOR, ":17:5");
    assert_where(&r, RECIPE_STUDENT_FREE_OUTPUTS, ":19:17");
    assert_where(&r, RECIPE_STUDENT_CALIBRATION_SAMPLES, ":20:24");
    assert_where(&r, RECIPE_STUDENT_WIDTH, "");
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf),
                        "params 0.25 (width searched), importance taylor on the first 64 training samples, "
                        "round_to 8, 3 protect globs, 2 width_for globs, 1 free output");
    recipe_free(&r);
    assert_null(r.student.protect);
    assert_int_equal(r.student.n_overrides, 0);
}

/* Flow style; empty lists mean none; a list may hold one name. */
static void test_student_flow(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    char buf[256];
    if (load_text(fx,
                  BASE "student: {macs: 1, importance: activation, protect: [], width_for: {}, "
                       "free_outputs: [out_a, 'out b'], round_to: 1}\n",
                  &r, &d))
        fail_msg("%s", d.msg);
    const StudentOptions *o = &r.student;
    assert_true(o->macs == 1 && o->params == 0);
    assert_int_equal(o->importance, IMPORTANCE_ACTIVATION);
    assert_null(o->protect);
    assert_int_equal(o->n_protect, 0);
    assert_null(o->overrides);
    assert_int_equal(o->n_overrides, 0);
    assert_int_equal(o->n_free_outputs, 2);
    assert_string_equal(o->free_outputs[1], "out b");
    assert_int_equal(r.calibration_samples, 256);
    assert_where(&r, RECIPE_STUDENT_PROTECT, ":7:53");
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf),
                        "macs 1 (width searched), importance activation on the first 256 training samples, "
                        "2 free outputs");
    recipe_free(&r);
    if (load_text(fx, BASE "student: {width: 0.25, importance: random, seed: 3, protect: conv1}\n", &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.student.n_protect, 1);
    assert_string_equal(r.student.protect[0], "conv1");
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf),
                        "width 0.25, importance random (seed 3), 1 protect glob");
    /* A short buffer is cut, never overrun. */
    assert_string_equal(recipe_describe_student(&r, buf, 12), "width 0.25,");
    recipe_free(&r);
}

/* student.init: the teacher's sliced weights (the default) or drawn afresh. */
static void test_student_init(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    char buf[256];
    if (load_text(fx, BASE "student: {width: 0.5, init: random}\n", &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.init, STUDENT_INIT_RANDOM);
    assert_where(&r, RECIPE_STUDENT_INIT, ":7:29");
    assert_string_equal(recipe_field_key(RECIPE_STUDENT_INIT), "student.init");
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf),
                        "width 0.5, importance l1, weights initialised at random");
    recipe_free(&r);
    if (load_text(fx, BASE "student:\n  init: teacher\n", &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.init, STUDENT_INIT_TEACHER);
    assert_where(&r, RECIPE_STUDENT_INIT, ":8:9");
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf), "width 0.5, importance l1");
    recipe_free(&r);
}

static void test_importance_names(void **state)
{
    (void)state;
    const char *want[] = {"l1", "l2", "bn_scale", "activation", "taylor", "random"};
    for (int k = IMPORTANCE_L1; k <= IMPORTANCE_RANDOM; k++)
        assert_string_equal(recipe_importance_name((ImportanceKind)k), want[k]);
    assert_string_equal(recipe_importance_name((ImportanceKind)(IMPORTANCE_RANDOM + 1)), "?");
    assert_string_equal(recipe_importance_name((ImportanceKind)-1), "?");
}

/* ---- distillation methods ---- */

static void assert_pair(const FeaturePair *p, const char *teacher, const char *student, int line, int col)
{
    assert_string_equal(p->teacher, teacher);
    assert_string_equal(p->student, student);
    assert_int_equal(p->line, line);
    assert_int_equal(p->col, col);
}

static void assert_loss(const LossSpec *l, LossKind kind, double weight, int teacher, int line, int col)
{
    assert_int_equal(l->kind, kind);
    assert_true(l->weight == weight);
    assert_int_equal(l->teacher, teacher);
    assert_int_equal(l->line, line);
    assert_int_equal(l->col, col);
}

/* The options a loss entry of tests/recipes/full_distill.yaml did not write. */
static void assert_loss_defaults(const LossSpec *l, bool pairs_auto)
{
    assert_true(l->temperature == 3 && l->smoothing == 0 && l->p == 2);
    assert_true(l->distance_weight == 25 && l->angle_weight == 50);
    assert_int_equal(l->contrast.feat_dim, 128);
    assert_int_equal(l->contrast.negatives, 4096);
    assert_true(l->contrast.temperature == 0.07 && l->contrast.momentum == 0.5);
    assert_int_equal(l->pairs_auto, pairs_auto);
    if (pairs_auto)
        assert_int_equal(l->n_pairs, 0);
}

static void assert_full_distill_losses(const DistillOptions *o)
{
    const LossSpec *l = o->losses;
    assert_int_equal(o->n_losses, 10);
    assert_loss(&l[0], LOSS_KD, 0.5, 2, 21, 7);
    assert_true(l[0].temperature == 6);
    assert_loss(&l[1], LOSS_KD, 0.25, 0, 25, 7);
    assert_loss_defaults(&l[1], true); /* its temperature: distill.temperature, written after it */
    assert_loss(&l[2], LOSS_CE, 0.1, 0, 27, 7);
    assert_true(l[2].smoothing == 0.1);
    assert_loss(&l[3], LOSS_HINT, 2, 1, 28, 7);
    assert_false(l[3].pairs_auto);
    assert_int_equal(l[3].n_pairs, 2);
    assert_pair(&l[3].pairs[0], "/layer1/relu", "/layer1/relu_s", 32, 11);
    assert_pair(&l[3].pairs[1], "/layer2/*", "/layer2/*", 33, 11);
    assert_loss(&l[4], LOSS_ATTENTION, 1, 0, 35, 7);
    assert_true(l[4].p == 3 && l[4].pairs_auto && l[4].n_pairs == 0);
    assert_loss(&l[5], LOSS_SIMILARITY, 3, 0, 36, 7);
    assert_loss_defaults(&l[5], true);
    assert_loss(&l[6], LOSS_RELATION, 1, 0, 37, 7);
    assert_true(l[6].distance_weight == 10 && l[6].angle_weight == 20);
    assert_int_equal(l[6].n_pairs, 1);
    assert_false(l[6].pairs_auto);
    assert_pair(&l[6].pairs[0], "fc1_out", "fc1_out", 40, 15);
    assert_loss(&l[7], LOSS_CONTRASTIVE, 0.8, 0, 41, 7);
    assert_int_equal(l[7].contrast.feat_dim, 64);
    assert_int_equal(l[7].contrast.negatives, 1024);
    assert_true(l[7].contrast.temperature == 0.1 && l[7].contrast.momentum == 0.9);
    assert_loss(&l[8], LOSS_PKT, 1, 0, 42, 7);
    assert_loss_defaults(&l[8], true);
    assert_loss(&l[9], LOSS_CORRELATION, 0.02, 0, 43, 7);
}

static void test_full_distill(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    if (load_fixture(fx, "full_distill.yaml", &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.n_teachers, 2);
    assert_path(fx, r.teachers[0].model, "teacher.onnx");
    assert_ptr_equal(r.teacher, r.teachers[0].model);
    assert_true(r.teachers[0].weight == 2);
    assert_true(r.teachers[0].pos.line == 7 && r.teachers[0].pos.col == 5);
    assert_path(fx, r.teachers[1].model, "teacher_b.onnx");
    assert_true(r.teachers[1].weight == 0.5);
    assert_true(r.teachers[1].pos.line == 9 && r.teachers[1].pos.col == 5);
    const AugmentOptions *a = &r.data.augment;
    assert_true(a->crop_padding == 4 && a->flip && a->mixup == 0.2);
    const DistillOptions *o = &r.distill;
    assert_true(o->temperature == 3 && o->alpha == 0.9);
    assert_full_distill_losses(o);
    assert_int_equal(o->teacher_mix, TEACHER_MIX_SEPARATE);
    assert_int_equal(o->cache_teacher, SWITCH_OFF);
    assert_int_equal(o->n_stages, 1);
    assert_int_equal(o->stages[0].kind, STAGE_HINT);
    assert_int_equal(o->stages[0].epochs, 2);
    assert_true(o->stages[0].line == 45 && o->stages[0].col == 7);
    assert_false(o->online.enabled);
    assert_int_equal(r.train.epochs, 3);
    /* Keys of list entries: where they are first written. */
    assert_where(&r, RECIPE_TEACHERS, ":7:3");
    assert_where(&r, RECIPE_TEACHERS_WEIGHT, ":8:13");
    assert_where(&r, RECIPE_DATA_AUGMENT_FLIP, ":15:11");
    assert_where(&r, RECIPE_DISTILL_LOSSES, ":21:5");
    assert_where(&r, RECIPE_DISTILL_LOSSES_KIND, ":21:13");
    assert_where(&r, RECIPE_DISTILL_LOSSES_TEMPERATURE, ":24:20");
    assert_where(&r, RECIPE_DISTILL_LOSSES_PAIRS, ":32:9");
    assert_where(&r, RECIPE_DISTILL_LOSSES_PAIRS_STUDENT, ":32:44");
    assert_where(&r, RECIPE_DISTILL_LOSSES_MOMENTUM, ":41:103");
    assert_where(&r, RECIPE_DISTILL_STAGES_EPOCHS, ":46:15");
    assert_where(&r, RECIPE_TEACHER, "");
    assert_string_equal(recipe_field_key(RECIPE_DISTILL_LOSSES_PAIRS_TEACHER), "distill.losses.pairs.teacher");
    recipe_free(&r);
    assert_null(r.teacher);
    assert_int_equal(r.n_teachers, 0);
}

/* distill.online, every key written; and present but empty, taking train's settings
 * (given after it). */
static void test_online(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    if (load_fixture(fx, "online.yaml", &r, &d))
        fail_msg("%s", d.msg);
    const OnlineOptions *on = &r.distill.online;
    assert_true(on->enabled);
    assert_true(on->lr == 0.01 && on->momentum == 0.5 && on->weight_decay == 0);
    assert_path(fx, on->output, "out/teacher.onnx");
    assert_int_equal(r.distill.n_losses, 2);
    assert_loss(&r.distill.losses[0], LOSS_KD, 1, 0, 11, 7);
    assert_true(r.distill.losses[0].temperature == 2);
    assert_loss(&r.distill.losses[1], LOSS_CE, 0.5, 0, 12, 7);
    assert_int_equal(r.distill.cache_teacher, SWITCH_AUTO);
    assert_where(&r, RECIPE_DISTILL_ONLINE, ":14:5");
    assert_where(&r, RECIPE_DISTILL_ONLINE_OUTPUT, ":17:13");
    recipe_free(&r);
    assert_null(r.distill.online.output);
    if (load_text(fx, BASE "distill: {online: {}, cache_teacher: false}\ntrain: {lr: 0.2, momentum: 0.7, weight_decay: 0.01}\n",
                  &r, &d))
        fail_msg("%s", d.msg);
    on = &r.distill.online;
    assert_true(on->enabled);
    assert_true(on->lr == 0.2 && on->momentum == 0.7 && on->weight_decay == 0.01);
    assert_null(on->output);
    assert_int_equal(r.distill.cache_teacher, SWITCH_OFF);
    assert_int_equal(r.distill.n_losses, 0);
    recipe_free(&r);
}

/* A kd loss's temperature defaults to distill.temperature; teacher indexes the list. */
static void test_losses_flow(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    if (load_text(fx,
                  BASE "distill: {losses: [{kind: kd, teacher: 1}, {kind: ce, weight: 0}], cache_teacher: true}\n",
                  &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.distill.n_losses, 2);
    assert_loss(&r.distill.losses[0], LOSS_KD, 1, 1, 7, 20);
    assert_true(r.distill.losses[0].temperature == 4);
    assert_loss(&r.distill.losses[1], LOSS_CE, 0, 0, 7, 44);
    assert_int_equal(r.distill.cache_teacher, SWITCH_ON);
    recipe_free(&r);
}

static void test_loss_kind_names(void **state)
{
    (void)state;
    const char *want[] = {"kd",       "ce",          "hint", "attention",  "similarity",
                          "relation", "contrastive", "pkt",  "correlation"};
    for (int k = 0; k < LOSS_KIND_COUNT; k++)
        assert_string_equal(recipe_loss_kind_name((LossKind)k), want[k]);
    assert_string_equal(recipe_loss_kind_name(LOSS_KIND_COUNT), "?");
    assert_string_equal(recipe_loss_kind_name((LossKind)-1), "?");
}

/* want with "$D" replaced by the temporary folder, after "PATH:". */
static void expected_message(const Fixture *fx, const char *want, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s:", fx->recipe);
    for (const char *p = want; *p && used + 1 < size; p++) {
        if (p[0] == '$' && p[1] == 'D') {
            used += (size_t)snprintf(out + used, size - used, "%s", fx->dir);
            p++;
        } else {
            out[used++] = *p;
            out[used] = '\0';
        }
    }
}

static void test_bad_recipes(void **state)
{
    Fixture *fx = *state;
    int failures = 0;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        Recipe r;
        Diag d = {""};
        char want[1024];
        expected_message(fx, BAD[i].want, want, sizeof want);
        Status st = load_text(fx, BAD[i].text, &r, &d);
        if (st == KDC_OK || strcmp(d.msg, want)) {
            print_error("case %zu:\n  text: %s\n  want: %s\n  got:  %s\n", i, BAD[i].text, want,
                        st == KDC_OK ? "(loaded)" : d.msg);
            failures++;
        }
        /* A failed load leaves nothing to free. */
        assert_null(r.path);
        assert_null(r.teacher);
        recipe_free(&r);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_output, setup, teardown),
        cmocka_unit_test(test_field_keys),
        cmocka_unit_test_setup_teardown(test_demo_recipes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_recipes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_student_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_student_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_student_init, setup, teardown),
        cmocka_unit_test(test_importance_names),
        cmocka_unit_test_setup_teardown(test_full_distill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losses_flow, setup, teardown),
        cmocka_unit_test(test_loss_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
