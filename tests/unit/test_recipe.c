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
    const char *files[] = {"teacher.onnx",        "data/train-images.gz", "data/train-labels.gz",
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

/* recipe_field_key matches the schema: every row's id names its dotted key, once. */
static void check_keys(const SchemaField *table, const char *prefix, int *seen)
{
    char key[128];
    for (const SchemaField *f = table; f->name; f++) {
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", f->name);
        assert_string_equal(recipe_field_key(f->id), key);
        seen[f->id]++;
        if (f->kind == FIELD_MAP)
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
#define ALIAS_HINT "; quote globs that start with '*' (YAML reads *name as an alias)"

typedef struct BadCase {
    const char *text;
    const char *want; /* after "PATH:"; "$D" stands for the temporary folder */
} BadCase;

static const BadCase BAD[] = {
    /* unknown keys */
    {BASE "student: {widht: 0.5}\n", "7:11: unknown key 'widht' in 'student' (did you mean 'width'?)"},
    {BASE "colour: red\n",
     "7:1: unknown key 'colour' (known keys: kdc, teacher, data, student, distill, train, output)"},
    {BASE "train:\n  epoch: 3\n", "8:3: unknown key 'epoch' in 'train' (did you mean 'epochs'?)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, input: x, labels: y}\n",
     "4:24: unknown key 'input' in 'data.train' (did you mean 'inputs'?)"},
    {BASE "distill: {x: 1}\n", "7:11: unknown key 'x' in 'distill' (known keys: temperature, alpha)"},
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
    {"kdc: 1\nstudent: {}\n", "1:1: missing required key 'teacher' (the teacher .onnx model to distill)"},
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
