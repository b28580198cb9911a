/* cmd_compress.c - `kdc compress RECIPE [-o OUT]`: the whole pipeline.
 *
 *   recipe -> teacher.onnx -> IR -> normalize passes -> data -> student = shrink(teacher)
 *   (units ranked from the weights, or measured on the first training samples; weights
 *   sliced, or drawn afresh with student.init: random) -> its test accuracy untrained
 *   ("epoch 0") -> distill (interpreter) -> student.onnx, and a summary table.
 *
 * Also checks what only the teacher can tell about the recipe's student options: that
 * every glob matches a node and every free output exists, naming the recipe line.
 */
#include "cli/cli.h"
#include "cli/distill_wiring.h"
#include "cli/progress.h"
#include "cli/shrink_scores.h"

#include "ir/stats.h"
#include "passes/passes.h"
#include "recipes/recipe.h"
#include "cli/train_norm.h"
#include "train/calibrate.h"
#include "train/trainer.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct Job {
    Recipe recipe;
    int64_t train_samples, test_samples; /* > 0: use only that many */
    Model *teacher, *student; /* teacher: the first of teachers */
    int n_teachers;
    Model *teachers[DISTILL_MAX_TEACHERS];
    DistillWiring wiring;
    WidthReport width;
    Dataset train, test;
    int64_t classes;
    DistillResult result;
} Job;

static const char compress_help[] =
    "usage: kdc compress RECIPE [-o OUT] [--epochs N] [--train-samples N] [--test-samples N]\n"
    "\n"
    "Reads the recipe, derives a narrower student from its (first) teacher (weights sliced\n"
    "from the teacher, the units kept ranked as the recipe's student.importance says),\n"
    "distills it on the recipe's data with the recipe's losses and writes it as ONNX to the\n"
    "recipe's output (or OUT). Progress goes to stderr, the final summary to stdout.\n"
    "\n"
    "For a quick trial of a recipe:\n"
    "  --epochs N          train N epochs instead of train.epochs (stages: at most N each)\n"
    "  --train-samples N   use only the first N training samples\n"
    "  --test-samples N    evaluate on the first N test samples only\n";

/* Command-line overrides of the recipe, for quick trials. 0: not given. */
typedef struct Overrides {
    int epochs;
    int64_t train_samples, test_samples;
} Overrides;

/* ---- the recipe's names, checked against the teacher ---- */

/* As the width shrink matches globs: a node's name, or its first output's name. */
static bool node_matches(const Node *n, const char *glob)
{
    const char *out = n->n_outputs && n->outputs[0] ? n->outputs[0]->name : NULL;
    return (n->name && *n->name && !fnmatch(glob, n->name, 0)) || (out && !fnmatch(glob, out, 0));
}

/* "'conv1', 'relu1', 'fc'": the first few node names, for messages. */
static const char *example_nodes(const Graph *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0, shown = 0; i < g->n_nodes && shown < 3 && used < size; i++) {
        const Node *n = g->nodes[i];
        const char *name = n->name && *n->name ? n->name : n->n_outputs && n->outputs[0] ? n->outputs[0]->name : NULL;
        if (!name)
            continue;
        snprintf(buf + used, size - used, "%s'%s'", shown++ ? ", " : "", name);
        used += strlen(buf + used);
    }
    return buf;
}

/* A glob that matches nothing is surely a typo: better said now than after training. */
static Status check_glob(const Job *j, RecipeField f, const char *glob, Diag *d)
{
    const Graph *g = j->teacher->graph;
    for (int i = 0; i < g->n_nodes; i++)
        if (node_matches(g->nodes[i], glob))
            return KDC_OK;
    char where[512], examples[256];
    return diag_error(d, "%s: %s glob '%s' matches no node of the teacher (its nodes are named like %s)",
                      recipe_where(&j->recipe, f, where, sizeof where), recipe_field_key(f), glob,
                      example_nodes(g, examples, sizeof examples));
}

static Status check_free_output(const Job *j, const char *name, Diag *d)
{
    const Graph *g = j->teacher->graph;
    char where[512], outputs[512] = "";
    size_t used = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        if (!strcmp(g->outputs[i]->name, name))
            return KDC_OK;
        if (used < sizeof outputs) {
            snprintf(outputs + used, sizeof outputs - used, "%s'%s'", i ? ", " : "", g->outputs[i]->name);
            used += strlen(outputs + used);
        }
    }
    return diag_error(d, "%s: %s names '%s', which is not an output of the teacher (its outputs: %s)",
                      recipe_where(&j->recipe, RECIPE_STUDENT_FREE_OUTPUTS, where, sizeof where),
                      recipe_field_key(RECIPE_STUDENT_FREE_OUTPUTS), name, outputs);
}

static Status check_student_names(const Job *j, Diag *d)
{
    const StudentOptions *o = &j->recipe.student;
    for (int k = 0; k < o->n_protect; k++)
        if (check_glob(j, RECIPE_STUDENT_PROTECT, o->protect[k], d))
            return KDC_ERR;
    for (int k = 0; k < o->n_overrides; k++)
        if (check_glob(j, RECIPE_STUDENT_WIDTH_FOR, o->overrides[k].pattern, d))
            return KDC_ERR;
    for (int k = 0; k < o->n_free_outputs; k++)
        if (check_free_output(j, o->free_outputs[k], d))
            return KDC_ERR;
    return KDC_OK;
}

/* ---- the student ---- */

static bool measured_importance(const StudentOptions *o)
{
    return o->importance == IMPORTANCE_ACTIVATION || o->importance == IMPORTANCE_TAYLOR;
}

/* The first calibration_samples training samples (all of them when there are fewer) as the
 * teacher's one input: *t points into the loaded, normalized Dataset. */
static void calibration_data(const Job *j, Tensor *t, const Tensor **inputs, CalibData *data)
{
    const Dataset *ds = &j->train;
    int64_t n = ds->n < j->recipe.calibration_samples ? ds->n : j->recipe.calibration_samples;
    *t = (Tensor){.dtype = DT_FLOAT, .rank = ds->rank + 1, .data = ds->x};
    t->nbytes = (size_t)n * (size_t)ds->sample_size * sizeof *ds->x;
    t->dims[0] = n;
    for (int i = 0; i < ds->rank; i++)
        t->dims[i + 1] = ds->dims[i];
    inputs[0] = t;
    *data = (CalibData){.inputs = inputs, .n_inputs = 1, .n_samples = n, .batch = j->recipe.train.batch_size};
}

static Status shrink_student(Job *j, Diag *d)
{
    const StudentOptions *o = &j->recipe.student;
    Graph *g = j->student->graph;
    Tensor t;
    const Tensor *inputs[1];
    CalibData data;
    calibration_data(j, &t, inputs, &data);
    if (o->depth > 0)
        fprintf(stderr, "scoring blocks by 1 - cosine(input, output) on %lld training samples\n",
                (long long)data.n_samples);
    DepthReport depth = {0};
    if (cli_shrink_depth(g, o, &data, &depth, d))
        return KDC_ERR;
    if (depth.n_dropped)
        depth_report_print(&depth, stderr);
    if (!measured_importance(o))
        return pass_shrink_width_report(g, o, &j->width, d);
    fprintf(stderr, "measuring %s importance on %lld training samples\n", recipe_importance_name(o->importance),
            (long long)data.n_samples);
    return cli_shrink_width_measured(g, o, &data, &j->width, d);
}

/* student.init: random keeps the architecture and forgets the sliced weights: the
 * baseline that measures what the teacher's weights are worth. Seeded by train.seed so
 * one seed reproduces the whole run. */
static Status start_weights(Job *j, Diag *d)
{
    if (j->recipe.init != STUDENT_INIT_RANDOM)
        return KDC_OK;
    if (pass_reinit_weights(j->student->graph, j->recipe.train.seed, d))
        return diag_prefix(d, "%s", j->recipe.teacher);
    fprintf(stderr, "  weights initialised at random (seed %llu), not sliced from the teacher\n",
            (unsigned long long)j->recipe.train.seed);
    return KDC_OK;
}

/* BatchNormalization for training where student.train_norm asks for it, the identity on
 * the calibration samples, so training starts from the derived student's function. */
static Status add_train_norm(Job *j, Diag *d)
{
    Tensor t;
    const Tensor *inputs[1];
    CalibData data;
    int added;
    calibration_data(j, &t, inputs, &data);
    if (cli_train_norm(j->student->graph, j->teacher->graph, &j->recipe, &data, &added, d) ||
        (added && ir_verify(j->student, d)))
        return diag_prefix(d, "%s", j->recipe.teacher);
    return KDC_OK;
}

static Status derive_student(Job *j, Diag *d)
{
    char plan[256];
    fprintf(stderr, "student: %s\n", recipe_describe_student(&j->recipe, plan, sizeof plan));
    if (check_student_names(j, d))
        return KDC_ERR;
    Graph *g = j->student->graph;
    if (shrink_student(j, d) || pass_infer_shapes(g, d) || ir_verify(j->student, d))
        return diag_prefix(d, "%s", j->recipe.teacher);
    for (int i = 0; i < j->width.n_layers; i++) {
        const WidthLayer *l = &j->width.layers[i];
        fprintf(stderr, "  %-24s %-6s %5lld -> %lld %s\n", l->name, l->op_type, (long long)l->units,
                (long long)l->kept_units, l->hidden ? "" : "(full width)");
    }
    fprintf(stderr, "  width %g: %lld -> %lld parameters, %lld -> %lld MACs per sample\n", j->width.width,
            (long long)j->width.params, (long long)j->width.kept_params, (long long)j->width.macs,
            (long long)j->width.kept_macs);
    return start_weights(j, d) || add_train_norm(j, d) ? KDC_ERR : KDC_OK;
}

static Status load_split(Job *j, const DataSplit *split, Dataset *ds, RecipeField inputs_f, RecipeField labels_f,
                         Diag *d)
{
    const DataNormalize *nz = &j->recipe.data.normalize;
    char where[512];
    Status st = split->format == DATA_FORMAT_NPY ? dataset_load_npy(split->inputs, split->labels, ds, d)
                                                 : dataset_load_idx(split->inputs, split->labels, ds, d);
    if (st || dataset_normalize(ds, nz->scale, nz->mean, nz->n_mean, nz->std, nz->n_std, d))
        return diag_prefix(d, "%s", recipe_where(&j->recipe, inputs_f, where, sizeof where));
    int64_t limit = split == &j->recipe.data.train ? j->train_samples : j->test_samples;
    if (limit > 0 && ds->n > limit)
        ds->n = limit; /* the rest stays allocated until dataset_free */
    for (int i = 0; i < j->n_teachers; i++)
        if (trainer_check_samples(j->teachers[i]->graph, ds, split->inputs, d))
            return diag_prefix(d, "%s", recipe_where(&j->recipe, inputs_f, where, sizeof where));
    if (trainer_check_labels(ds, j->classes, split->labels, d))
        return diag_prefix(d, "%s", recipe_where(&j->recipe, labels_f, where, sizeof where));
    return KDC_OK;
}

/* Every teacher: a classifier with the first one's classes. */
static Status check_teachers(Job *j, Diag *d)
{
    for (int i = 0; i < j->n_teachers; i++) {
        const char *path = j->recipe.teachers[i].model;
        int64_t classes;
        if (trainer_classes(j->teachers[i]->graph, &classes, d))
            return diag_prefix(d, "%s", path);
        if (i == 0)
            j->classes = classes;
        else if (classes != j->classes)
            return diag_error(d, "%s: the teacher has %lld classes, the first teacher %lld", path,
                              (long long)classes, (long long)j->classes);
    }
    return KDC_OK;
}

static Status load_data(Job *j, Diag *d)
{
    if (check_teachers(j, d))
        return KDC_ERR;
    return load_split(j, &j->recipe.data.train, &j->train, RECIPE_DATA_TRAIN_INPUTS, RECIPE_DATA_TRAIN_LABELS, d) ||
                   load_split(j, &j->recipe.data.test, &j->test, RECIPE_DATA_TEST_INPUTS, RECIPE_DATA_TEST_LABELS, d)
               ? KDC_ERR
               : KDC_OK;
}

static void stamp_metadata(Job *j)
{
    Model *m = j->student;
    char width[32];
    snprintf(width, sizeof width, "%g", j->width.width);
    const char *base = strrchr(j->recipe.teacher, '/');
    StringPair add[] = {{"kdc.teacher", base ? base + 1 : j->recipe.teacher},
                        {"kdc.width", width},
                        {"kdc.importance", recipe_importance_name(j->recipe.student.importance)}};
    enum { N_ADD = sizeof add / sizeof add[0] };
    StringPair *md = arena_alloc(m->arena, (size_t)(m->n_metadata + N_ADD) * sizeof *md);
    memcpy(md, m->metadata, (size_t)m->n_metadata * sizeof *md);
    for (int i = 0; i < N_ADD; i++)
        md[m->n_metadata++] = (StringPair){arena_strdup(m->arena, add[i].key), arena_strdup(m->arena, add[i].value)};
    m->metadata = md;
}

static double file_mb(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
}

static void print_summary(const Job *j)
{
    GraphStats t, s;
    graph_stats(j->teacher->graph, &t);
    graph_stats(j->student->graph, &s);
    const DistillResult *r = &j->result;
    printf("\n%-18s %14s %14s %8s\n", "", "teacher", "student", "ratio");
    printf("%-18s %14lld %14lld %7.3fx\n", "parameters", (long long)t.params, (long long)s.params,
           t.params ? (double)s.params / (double)t.params : 0);
    printf("%-18s %14lld %14lld %7.3fx\n", "MACs per sample", (long long)t.macs, (long long)s.macs,
           t.macs ? (double)s.macs / (double)t.macs : 0);
    double tm = file_mb(j->recipe.teacher), sm = file_mb(j->recipe.output);
    printf("%-18s %11.3f MB %11.3f MB %7.3fx\n", "file size", tm, sm, tm > 0 ? sm / tm : 0);
    if (j->n_teachers > 1)
        printf("(teacher: the first teacher's size, the ensemble's accuracy)\n");
    printf("%-18s %13.2f%% %13.2f%% %+7.2f\n", "test accuracy", 100 * r->teacher_accuracy, 100 * r->student_accuracy,
           100 * (r->student_accuracy - r->teacher_accuracy));
    printf("%-18s %14s %13.2f%%\n", "top-1 agreement", "", 100 * r->agreement);
    printf("\nwrote %s (%.1f s)\n", j->recipe.output, r->seconds);
}

/* Where training starts from: the derived student's test accuracy before any step. */
static Status print_untrained_accuracy(Job *j, Diag *d)
{
    double accuracy;
    if (trainer_predict(j->student->graph, &j->test, j->classes, NULL, &accuracy, d))
        return KDC_ERR;
    fprintf(stderr, "epoch 0/%d  test acc %.2f%%  (the derived student, before training)\n", j->recipe.train.epochs,
            100 * accuracy);
    return KDC_OK;
}

static Status load_teachers(Job *j, Diag *d)
{
    j->n_teachers = j->recipe.n_teachers;
    for (int i = 0; i < j->n_teachers; i++) {
        const TeacherSpec *t = &j->recipe.teachers[i];
        if (j->n_teachers > 1)
            fprintf(stderr, "teacher %d: %s (weight %g)\n", i + 1, t->model, t->weight);
        else
            fprintf(stderr, "teacher %s\n", t->model);
        if (cli_load_model(t->model, &j->teachers[i], d))
            return KDC_ERR;
    }
    j->teacher = j->teachers[0];
    /* The student starts as a second copy of the first teacher. */
    return cli_load_model(j->recipe.teacher, &j->student, d);
}

/* Probes in, training, probes out: the student is then exactly the derived one. */
static Status distill(Job *j, Diag *d)
{
    Progress prog;
    progress_init(&prog);
    TrainHooks hooks = progress_hooks(&prog);
    DistillModels m = {.n_teachers = j->n_teachers, .student = j->student->graph};
    for (int i = 0; i < j->n_teachers; i++) {
        m.teachers[i] = j->teachers[i]->graph;
        m.teacher_weights[i] = j->recipe.teachers[i].weight;
    }
    if (distill_wire(&j->recipe, m.teachers, m.n_teachers, m.student, &j->wiring, d))
        return KDC_ERR;
    distill_wiring_print(&j->wiring, m.teachers, m.student, stderr);
    m.n_terms = j->wiring.n_terms;
    m.terms = j->wiring.terms;
    if (trainer_distill(&m, &j->train, &j->test, &j->recipe.distill, &j->recipe.data.augment, &j->recipe.train,
                        &hooks, &j->result, d))
        return KDC_ERR;
    if (distill_unwire(&j->wiring, m.student, d))
        return KDC_ERR;
    return j->recipe.fold_norm ? cli_fold_norm(m.student, d) : KDC_OK;
}

/* The student, and with online distillation the trained teacher when asked for. */
static Status write_models(Job *j, Diag *d)
{
    stamp_metadata(j);
    if (cli_write_model(j->student, j->recipe.output, d))
        return KDC_ERR;
    const char *teacher_out = j->recipe.distill.online.enabled ? j->recipe.distill.online.output : NULL;
    if (!teacher_out)
        return KDC_OK;
    if (cli_write_model(j->teacher, teacher_out, d))
        return KDC_ERR;
    fprintf(stderr, "wrote the trained teacher to %s\n", teacher_out);
    return KDC_OK;
}

/* Same path, or the same existing file under two names. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, b))
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* What kdc writes must not overwrite a teacher, nor the student the trained teacher. */
static Status check_outputs(const Job *j, Diag *d)
{
    const Recipe *r = &j->recipe;
    const char *teacher_out = r->distill.online.enabled ? r->distill.online.output : NULL;
    for (int i = 0; i < r->n_teachers; i++)
        if (same_file(r->output, r->teachers[i].model) || (teacher_out && same_file(teacher_out, r->teachers[i].model)))
            return diag_error(d, "%s: the output would overwrite the teacher %s", r->path, r->teachers[i].model);
    if (teacher_out && same_file(teacher_out, r->output))
        return diag_error(d, "%s: distill.online.output and the student's output are the same file %s", r->path,
                          r->output);
    return KDC_OK;
}

static Status compress(Job *j, Diag *d)
{
    if (check_outputs(j, d) || load_teachers(j, d))
        return KDC_ERR;
    /* The data comes first: measured importances run the teacher on training samples. */
    if (load_data(j, d))
        return KDC_ERR;
    fprintf(stderr, "data: %lld train, %lld test samples, %lld classes\n", (long long)j->train.n,
            (long long)j->test.n, (long long)j->classes);
    if (derive_student(j, d) || print_untrained_accuracy(j, d) || distill(j, d) || write_models(j, d))
        return KDC_ERR;
    print_summary(j);
    return KDC_OK;
}

/* A positive integer option value, or 0 after printing the usage error. */
static long long positive_arg(const char *opt, const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 1 || v > 1000000000LL) {
        cli_usage("compress", "%s takes a positive integer, got '%s'", opt, text);
        return 0;
    }
    return v;
}

static bool is_override(const char *arg)
{
    return !strcmp(arg, "--epochs") || !strcmp(arg, "--train-samples") || !strcmp(arg, "--test-samples");
}

/* Parses argv; returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, const char **recipe_path, const char **out, Overrides *o)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(compress_help, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            *out = argv[++i];
        } else if (is_override(argv[i]) && i + 1 < argc) {
            long long v = positive_arg(argv[i], argv[i + 1]);
            if (!v)
                return EXIT_USAGE;
            if (!strcmp(argv[i], "--epochs"))
                o->epochs = v > 100000 ? 100000 : (int)v;
            else if (!strcmp(argv[i], "--train-samples"))
                o->train_samples = v;
            else
                o->test_samples = v;
            i++;
        } else if (argv[i][0] == '-' || *recipe_path) {
            return cli_usage("compress", "unexpected argument '%s'", argv[i]);
        } else {
            *recipe_path = argv[i];
        }
    }
    if (!*recipe_path)
        return cli_usage("compress", "missing RECIPE");
    return -1;
}

static void apply_overrides(Job *j, const Overrides *o)
{
    j->train_samples = o->train_samples;
    j->test_samples = o->test_samples;
    if (!o->epochs)
        return;
    j->recipe.train.epochs = o->epochs;
    for (int i = 0; i < j->recipe.distill.n_stages; i++)
        if (j->recipe.distill.stages[i].epochs > o->epochs)
            j->recipe.distill.stages[i].epochs = o->epochs;
}

int cmd_compress(int argc, char **argv)
{
    const char *recipe_path = NULL, *out = NULL;
    Overrides over = {0};
    int rc = parse_args(argc, argv, &recipe_path, &out, &over);
    if (rc >= 0)
        return rc;
    Job j = {0};
    Diag d = {{0}};
    Status st = recipe_load(recipe_path, &j.recipe, &d);
    if (!st && out)
        st = recipe_set_output(&j.recipe, out, &d);
    if (!st) {
        apply_overrides(&j, &over);
        st = compress(&j, &d);
    }
    dataset_free(&j.train);
    dataset_free(&j.test);
    for (int i = 0; i < j.n_teachers; i++)
        model_free(j.teachers[i]);
    model_free(j.student);
    recipe_free(&j.recipe);
    return st ? cli_fail(&d) : EXIT_OK;
}
