/* cmd_compress.c - `kdc compress RECIPE [-o OUT]`: the whole pipeline.
 *
 *   recipe -> teacher.onnx -> IR -> normalize passes -> student = shrink(teacher)
 *   -> data -> distill (interpreter) -> student.onnx, and a summary table.
 */
#include "cli/cli.h"
#include "cli/progress.h"

#include "backend/onnx_export.h"
#include "ir/stats.h"
#include "passes/passes.h"
#include "recipes/recipe.h"
#include "train/trainer.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct Job {
    Recipe recipe;
    Model *teacher, *student;
    WidthReport width;
    Dataset train, test;
    int64_t classes;
    DistillResult result;
} Job;

static const char compress_help[] =
    "usage: kdc compress RECIPE [-o OUT]\n"
    "\n"
    "Reads the recipe, derives a narrower student from its teacher (weights sliced from the\n"
    "teacher), distills it on the recipe's data and writes it as ONNX to the recipe's output\n"
    "(or OUT). Progress goes to stderr, the final summary to stdout.\n";

static Status derive_student(Job *j, Diag *d)
{
    Graph *g = j->student->graph;
    if (pass_shrink_width_report(g, &j->recipe.student, &j->width, d) || pass_infer_shapes(g, d) ||
        ir_verify(j->student, d))
        return diag_prefix(d, "%s", j->recipe.teacher);
    for (int i = 0; i < j->width.n_layers; i++) {
        const WidthLayer *l = &j->width.layers[i];
        fprintf(stderr, "  %-24s %-6s %5lld -> %lld %s\n", l->name, l->op_type, (long long)l->units,
                (long long)l->kept_units, l->hidden ? (l->units == l->kept_units ? "(kept)" : "") : "(output)");
    }
    return KDC_OK;
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
    if (trainer_check_samples(j->teacher->graph, ds, split->inputs, d))
        return diag_prefix(d, "%s", recipe_where(&j->recipe, inputs_f, where, sizeof where));
    if (trainer_check_labels(ds, j->classes, split->labels, d))
        return diag_prefix(d, "%s", recipe_where(&j->recipe, labels_f, where, sizeof where));
    return KDC_OK;
}

static Status load_data(Job *j, Diag *d)
{
    if (trainer_classes(j->teacher->graph, &j->classes, d))
        return diag_prefix(d, "%s", j->recipe.teacher);
    return load_split(j, &j->recipe.data.train, &j->train, RECIPE_DATA_TRAIN_INPUTS, RECIPE_DATA_TRAIN_LABELS, d) ||
                   load_split(j, &j->recipe.data.test, &j->test, RECIPE_DATA_TEST_INPUTS, RECIPE_DATA_TEST_LABELS, d)
               ? KDC_ERR
               : KDC_OK;
}

static void stamp_metadata(Job *j)
{
    Model *m = j->student;
    char width[32];
    snprintf(width, sizeof width, "%g", j->recipe.student.width);
    const char *base = strrchr(j->recipe.teacher, '/');
    StringPair add[2] = {{"kdc.teacher", base ? base + 1 : j->recipe.teacher}, {"kdc.width", width}};
    StringPair *md = arena_alloc(m->arena, (size_t)(m->n_metadata + 2) * sizeof *md);
    memcpy(md, m->metadata, (size_t)m->n_metadata * sizeof *md);
    for (int i = 0; i < 2; i++)
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
    printf("%-18s %13.2f%% %13.2f%% %+7.2f\n", "test accuracy", 100 * r->teacher_accuracy, 100 * r->student_accuracy,
           100 * (r->student_accuracy - r->teacher_accuracy));
    printf("%-18s %14s %13.2f%%\n", "top-1 agreement", "", 100 * r->agreement);
    printf("\nwrote %s (%.1f s)\n", j->recipe.output, r->seconds);
}

static Status compress(Job *j, Diag *d)
{
    Progress prog;
    progress_init(&prog);
    TrainHooks hooks = progress_hooks(&prog);
    fprintf(stderr, "teacher %s\n", j->recipe.teacher);
    if (cli_load_model(j->recipe.teacher, &j->teacher, d) || cli_load_model(j->recipe.teacher, &j->student, d))
        return KDC_ERR;
    fprintf(stderr, "student: width %g\n", j->recipe.student.width);
    if (derive_student(j, d) || load_data(j, d))
        return KDC_ERR;
    fprintf(stderr, "data: %lld train, %lld test samples, %lld classes\n", (long long)j->train.n,
            (long long)j->test.n, (long long)j->classes);
    if (trainer_distill(j->teacher->graph, j->student->graph, &j->train, &j->test, &j->recipe.distill,
                        &j->recipe.train, &hooks, &j->result, d))
        return KDC_ERR;
    stamp_metadata(j);
    if (ir_verify(j->student, d) || onnx_export_file(j->student, j->recipe.output, d))
        return KDC_ERR;
    print_summary(j);
    return KDC_OK;
}

int cmd_compress(int argc, char **argv)
{
    const char *recipe_path = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(compress_help, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-' || recipe_path) {
            return cli_usage("compress", "unexpected argument '%s'", argv[i]);
        } else {
            recipe_path = argv[i];
        }
    }
    if (!recipe_path)
        return cli_usage("compress", "missing RECIPE");
    Job j = {0};
    Diag d = {{0}};
    Status st = recipe_load(recipe_path, &j.recipe, &d);
    if (!st && out)
        st = recipe_set_output(&j.recipe, out, &d);
    if (!st)
        st = compress(&j, &d);
    dataset_free(&j.train);
    dataset_free(&j.test);
    model_free(j.teacher);
    model_free(j.student);
    recipe_free(&j.recipe);
    return st ? cli_fail(&d) : EXIT_OK;
}
