/* tests/unit/test_recipe.c - unit tests of the recipe loader (recipes/) on good recipes.
 *
 * Each test works in a fresh temporary folder holding the files a recipe names
 * (recipe_fixture.h). Good recipes come from tests/recipes/ (found next to this source
 * file) or are written inline; every value and recorded position they give is asserted.
 * The error cases are in test_recipe_errors.c.
 */
#include "tests/unit/recipe_fixture.h"

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

/* student.train_norm and output: a path, or {path, fold_norm}. */
static void test_norm_keys(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d = {""};
    if (load_text(fx, BASE, &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.train_norm, TRAIN_NORM_AUTO);
    assert_false(r.train_norm_dense);
    assert_true(r.fold_norm);
    assert_where(&r, RECIPE_OUTPUT, ":6:9");
    recipe_free(&r);
    const char *text = "kdc: 1\nteacher: teacher.onnx\n"
                       "output: {path: out/s.onnx, fold_norm: false}\n"
                       "student: {train_norm: none, train_norm_dense: true}\n"
                       "data:\n"
                       "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"
                       "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n";
    if (load_text(fx, text, &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.train_norm, TRAIN_NORM_NONE);
    assert_true(r.train_norm_dense);
    assert_false(r.fold_norm);
    assert_path(fx, r.output, "out/s.onnx");
    assert_where(&r, RECIPE_OUTPUT, ":3:16");
    assert_where(&r, RECIPE_OUTPUT_FOLD_NORM, ":3:39");
    assert_string_equal(recipe_field_key(RECIPE_OUTPUT_FOLD_NORM), "output.fold_norm");
    recipe_free(&r);
    if (load_text(fx, BASE "student: {train_norm: batchnorm}\n", &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.train_norm, TRAIN_NORM_BATCHNORM);
    char buf[256];
    assert_string_equal(recipe_describe_student(&r, buf, sizeof buf), "width 0.5, importance l1, train_norm batchnorm");
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
        cmocka_unit_test_setup_teardown(test_student_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_student_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_student_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norm_keys, setup, teardown),
        cmocka_unit_test(test_importance_names),
        cmocka_unit_test_setup_teardown(test_full_distill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losses_flow, setup, teardown),
        cmocka_unit_test(test_loss_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
