/* cmd_shrink.c - `kdc shrink MODEL ... -o OUT`: derives an untrained student
 * from a teacher (width: channel groups; weights sliced from the teacher)
 * and prints a per-layer table of teacher vs student units, parameters and
 * MACs. The same options exist under `student:` in recipes.
 */
#include "cli/cli.h"
#include "cli/shrink_scores.h"

#include "frontend/tensor_file.h"
#include "ir/stats.h"
#include "passes/passes.h"
#include "passes/shrink_depth.h"
#include "train/calibrate.h"
#include "train/norm_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SHRINK_MAX_LIST = 64 };

typedef struct ShrinkArgs {
    const char *model, *out;
    StudentOptions student;
    const char *protect[SHRINK_MAX_LIST];
    WidthOverride overrides[SHRINK_MAX_LIST];
    const char *free_outputs[SHRINK_MAX_LIST];
    const char *calib[SHRINK_MAX_LIST]; /* one .npy/.pb per graph input */
    int n_calib;
    int64_t calib_batch;
    const char *drop[SHRINK_MAX_LIST]; /* --drop NAME,... */
    bool list_blocks;
    bool recalibrate_bn; /* --recalibrate-bn: BatchNormalization statistics measured anew */
    bool quiet;
} ShrinkArgs;

static const char shrink_help[] =
    "usage: kdc shrink MODEL [--width R | --params F | --macs F] [--importance KIND]\n"
    "                  [--round-to N] [--protect GLOB]... [--width-for GLOB=R]... [--seed N]\n"
    "                  [--free-output NAME]... [--calib FILE...] [--calib-batch N]\n"
    "                  [--depth N | --drop NAME,... | --drop-alternate] [--recalibrate-bn]\n"
    "                  [--list-blocks] [-q] -o OUT\n"
    "\n"
    "Derives an untrained student from the teacher MODEL and writes it to OUT (ONNX).\n"
    "Channels that must stay in step (residual additions, concatenations, depthwise and\n"
    "grouped convolutions, gates, channel shuffles, attention heads) are shrunk together;\n"
    "whatever kdc cannot follow, and everything that reaches a graph output, keeps full\n"
    "width. Prints a table: per layer, teacher vs student units, parameters and MACs.\n"
    "\n"
    "  --width R          keep this fraction of every prunable channel group (default 0.5)\n"
    "  --params F         instead, search the width for F of the teacher's parameters\n"
    "  --macs F           instead, search the width for F of the teacher's MACs\n"
    "  --importance KIND  which units to keep: l1 (default), l2, bn_scale, random, and with\n"
    "                     --calib: activation (mean |activation|), taylor (|weight x gradient|)\n"
    "  --round-to N       kept counts are multiples of N (e.g. 8)\n"
    "  --protect GLOB     groups created by nodes whose name matches keep full width\n"
    "  --width-for GLOB=R a width for the groups created by matching nodes\n"
    "  --seed N           seed of --importance random (default 0)\n"
    "  --free-output NAME the graph output NAME may change width (e.g. the hidden states of\n"
    "                     an encoder distilled on its logits); by default outputs keep their shape\n"
    "  --calib FILE...    calibration inputs, one .npy (or .pb) per graph input, samples on\n"
    "                     the first axis; run through the teacher for activation, taylor and\n"
    "                     --depth, through the student for --recalibrate-bn\n"
    "  --calib-batch N    samples per calibration batch (default 16)\n"
    "  --depth N          keep N residual blocks / transformer layers, dropping those whose\n"
    "                     output is most like their input (lowest 1 - cosine on --calib)\n"
    "  --drop NAME,...    drop these blocks (names as --list-blocks prints them)\n"
    "  --drop-alternate   drop every other block (as DistilBERT initialises its student)\n"
    "  --recalibrate-bn   after shrinking, measure the running mean and variance of the\n"
    "                     BatchNormalization nodes anew on --calib, running the student (the\n"
    "                     sliced layers before them no longer give the teacher's statistics);\n"
    "                     one pass over --calib per node in the longest chain of them. Left as\n"
    "                     they are: nodes whose statistics are no float initializers of their\n"
    "                     own, with training_mode=1, with a non-float input or no fixed channel\n"
    "                     count, inside subgraphs\n"
    "  --list-blocks      print the blocks of MODEL (removable or why not) and exit\n"
    "  -q                 no table\n"
    "\n"
    "Depth goes first, then width, then --recalibrate-bn. Blocks that change the shape are\n"
    "never dropped.\n";

static int parse_fraction(const char *flag, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0 && v <= 1))
        return cli_usage("shrink", "%s takes a fraction in (0, 1], got '%s'", flag, s);
    *out = v;
    return 0;
}

static int parse_importance(const char *s, ImportanceKind *out)
{
    static const char *const names[] = {"l1", "l2", "bn_scale", "activation", "taylor", "random"};
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
        if (!strcmp(s, names[k])) {
            *out = (ImportanceKind)k;
            return 0;
        }
    return cli_usage("shrink", "unknown --importance '%s' (l1, l2, bn_scale, activation, taylor, random)", s);
}

static int parse_override(ShrinkArgs *a, char *s)
{
    char *eq = strrchr(s, '=');
    if (!eq || eq == s)
        return cli_usage("shrink", "--width-for takes GLOB=R, got '%s'", s);
    if (a->student.n_overrides == SHRINK_MAX_LIST)
        return cli_usage("shrink", "at most %d --width-for", SHRINK_MAX_LIST);
    *eq = '\0';
    WidthOverride *w = &a->overrides[a->student.n_overrides++];
    w->pattern = s;
    return parse_fraction("--width-for", eq + 1, &w->width);
}

static int parse_count(const char *flag, const char *s, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0 || v > max)
        return cli_usage("shrink", "%s takes a number from 0 to %lld, got '%s'", flag, (long long)max, s);
    *out = v;
    return 0;
}

static int parse_option(int argc, char **argv, int *i, ShrinkArgs *a)
{
    const char *flag = argv[*i];
    if (*i + 1 >= argc)
        return cli_usage("shrink", "%s needs a value", flag);
    char *v = argv[++*i];
    int64_t n;
    if (!strcmp(flag, "-o"))
        a->out = v;
    else if (!strcmp(flag, "--width"))
        return parse_fraction(flag, v, &a->student.width);
    else if (!strcmp(flag, "--params"))
        return parse_fraction(flag, v, &a->student.params);
    else if (!strcmp(flag, "--macs"))
        return parse_fraction(flag, v, &a->student.macs);
    else if (!strcmp(flag, "--importance"))
        return parse_importance(v, &a->student.importance);
    else if (!strcmp(flag, "--depth")) {
        if (parse_count(flag, v, 1 << 20, &n))
            return EXIT_USAGE;
        if (n < 1)
            return cli_usage("shrink", "--depth takes a count of blocks to keep, at least 1");
        a->student.depth = (int)n;
    } else if (!strcmp(flag, "--drop")) {
        for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
            if (a->student.n_drop == SHRINK_MAX_LIST)
                return cli_usage("shrink", "--drop takes at most %d block names", SHRINK_MAX_LIST);
            a->drop[a->student.n_drop++] = tok;
        }
    } else if (!strcmp(flag, "--calib-batch"))
        return parse_count(flag, v, 1 << 16, &a->calib_batch);
    else if (!strcmp(flag, "--round-to")) {
        if (parse_count(flag, v, 1 << 20, &n))
            return EXIT_USAGE;
        a->student.round_to = (int)n;
    } else if (!strcmp(flag, "--seed")) {
        if (parse_count(flag, v, INT64_MAX, &n))
            return EXIT_USAGE;
        a->student.seed = (uint64_t)n;
    } else if (!strcmp(flag, "--width-for"))
        return parse_override(a, v);
    else if (!strcmp(flag, "--free-output")) {
        if (a->student.n_free_outputs == SHRINK_MAX_LIST)
            return cli_usage("shrink", "at most %d --free-output", SHRINK_MAX_LIST);
        a->free_outputs[a->student.n_free_outputs++] = v;
    } else if (!strcmp(flag, "--protect")) {
        if (a->student.n_protect == SHRINK_MAX_LIST)
            return cli_usage("shrink", "at most %d --protect", SHRINK_MAX_LIST);
        a->protect[a->student.n_protect++] = v;
    } else
        return cli_usage("shrink", "unknown option '%s'", flag);
    return 0;
}

static int parse_args(int argc, char **argv, ShrinkArgs *a)
{
    a->student.width = 0.5;
    a->student.protect = a->protect;
    a->student.overrides = a->overrides;
    a->student.free_outputs = a->free_outputs;
    a->student.drop = a->drop;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(shrink_help, stdout);
            return -1;
        }
        if (!strcmp(argv[i], "-q")) {
            a->quiet = true;
        } else if (!strcmp(argv[i], "--drop-alternate")) {
            a->student.drop_alternate = 1;
        } else if (!strcmp(argv[i], "--list-blocks")) {
            a->list_blocks = true;
        } else if (!strcmp(argv[i], "--recalibrate-bn")) {
            a->recalibrate_bn = true;
        } else if (!strcmp(argv[i], "--calib")) {
            while (i + 1 < argc && argv[i + 1][0] != '-' && a->n_calib < SHRINK_MAX_LIST)
                a->calib[a->n_calib++] = argv[++i];
            if (!a->n_calib)
                return cli_usage("shrink", "--calib needs a file per graph input");
        } else if (argv[i][0] == '-') {
            int rc = parse_option(argc, argv, &i, a);
            if (rc)
                return rc;
        } else if (a->model) {
            return cli_usage("shrink", "unexpected argument '%s'", argv[i]);
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model || (!a->out && !a->list_blocks))
        return cli_usage("shrink", "need MODEL and -o OUT");
    if (a->student.params > 0 && a->student.macs > 0)
        return cli_usage("shrink", "give one budget: --params or --macs");
    if ((a->student.depth > 0) + (a->student.n_drop > 0) + a->student.drop_alternate > 1)
        return cli_usage("shrink", "choose blocks one way: --depth, --drop or --drop-alternate");
    bool measured = a->student.importance == IMPORTANCE_ACTIVATION || a->student.importance == IMPORTANCE_TAYLOR;
    if ((measured || a->student.depth > 0 || a->recalibrate_bn) && !a->n_calib)
        return cli_usage("shrink", "%s needs calibration inputs: --calib FILE...",
                         measured               ? "--importance activation or taylor"
                         : a->student.depth > 0 ? "--depth"
                                                : "--recalibrate-bn");
    if (a->n_calib && !measured && !a->student.depth && !a->recalibrate_bn)
        return cli_usage("shrink",
                         "--calib is used by --depth, --recalibrate-bn and --importance activation or taylor only");
    if (a->calib_batch == 0)
        a->calib_batch = 16;
    return 0;
}

static void print_count(const char *label, int64_t teacher, int64_t student)
{
    printf("%-13s %12lld -> %12lld  (%.1f%%)\n", label, (long long)teacher, (long long)student,
           teacher ? 100.0 * (double)student / (double)teacher : 100.0);
}

static void print_table(const WidthReport *r)
{
    printf("%-40s %-14s %13s %21s %23s\n", "layer", "op", "units", "params", "MACs");
    for (int i = 0; i < r->n_layers; i++) {
        const WidthLayer *l = &r->layers[i];
        printf("%-40.40s %-14s %5lld -> %-5lld %9lld -> %-9lld %10lld -> %-10lld%s\n", l->name, l->op_type,
               (long long)l->units, (long long)l->kept_units, (long long)l->params, (long long)l->kept_params,
               (long long)l->macs, (long long)l->kept_macs, l->hidden ? "" : "  full width");
        if (!l->hidden && l->why)
            printf("%-40s   because %s\n", "", l->why);
    }
    printf("width %g\n", r->width);
}

static void print_norm_stats(const NormStatsReport *r, int64_t samples)
{
    if (!r->set) {
        if (r->kept)
            printf("no BatchNormalization recalibrated: %d found, none eligible (see --help)\n", r->kept);
        else
            printf("no BatchNormalization to recalibrate\n");
        return;
    }
    printf("recalibrated %d BatchNormalization on %lld samples (%d pass%s)", r->set, (long long)samples, r->rounds,
           r->rounds == 1 ? "" : "es");
    if (r->kept)
        printf("; %d left as they were (not eligible: see --help)", r->kept);
    printf("\n");
}

/* ---- the command ---- */

static Status shrink_width(Graph *g, const ShrinkArgs *a, const CalibData *data, WidthReport *report, Diag *d)
{
    bool measured = a->student.importance == IMPORTANCE_ACTIVATION || a->student.importance == IMPORTANCE_TAYLOR;
    if (!measured)
        return pass_shrink_width_report(g, &a->student, report, d);
    return cli_shrink_width_measured(g, &a->student, data, report, d);
}

static Status recalibrate(Graph *g, const CalibData *data, NormStatsReport *r, Diag *d)
{
    return calib_norm_stats(g, data, r, d) ? diag_prefix(d, "--recalibrate-bn") : KDC_OK;
}

typedef struct ShrinkReports {
    DepthReport depth;
    WidthReport width;
    NormStatsReport norm;
    int64_t samples; /* calibration samples */
} ShrinkReports;

static Status shrink(Model *m, const ShrinkArgs *a, ShrinkReports *r, Diag *d)
{
    CalibFiles files = {0};
    Graph *g = m->graph;
    if (a->n_calib &&
        calib_files_load(g, (const char *const *)a->calib, a->n_calib, a->calib_batch, tensor_file_read, &files, d))
        return KDC_ERR;
    const CalibData *data = a->n_calib ? &files.data : NULL;
    r->samples = files.data.n_samples;
    Status st = cli_shrink_depth(g, &a->student, data, &r->depth, d) || shrink_width(g, a, &files.data, &r->width, d) ||
                (a->recalibrate_bn && recalibrate(g, data, &r->norm, d)) || ir_verify(m, d);
    calib_files_free(&files);
    return st;
}

static int list_blocks(Model *m)
{
    Diag d = {{0}};
    DepthReport r = {0};
    DepthOptions none = {0};
    if (pass_shrink_depth(m->graph, &none, &r, &d))
        return cli_fail(&d);
    depth_report_print(&r, stdout);
    return EXIT_OK;
}

int cmd_shrink(int argc, char **argv)
{
    ShrinkArgs a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    Diag d = {{0}};
    Model *m = NULL;
    ShrinkReports r = {0};
    if (cli_load_model(a.model, &m, &d))
        return cli_fail(&d);
    GraphStats teacher, student;
    graph_stats(m->graph, &teacher);
    if (a.list_blocks) {
        rc = list_blocks(m);
        model_free(m);
        return rc;
    }
    Status st = shrink(m, &a, &r, &d);
    if (st)
        diag_prefix(&d, "%s", a.model);
    else
        st = cli_write_model(m, a.out, &d);
    if (!st && !a.quiet && r.depth.n_dropped)
        depth_report_print(&r.depth, stdout);
    if (!st && !a.quiet) {
        print_table(&r.width);
        if (a.recalibrate_bn)
            print_norm_stats(&r.norm, r.samples);
        graph_stats(m->graph, &student);
        print_count("parameters", teacher.params, student.params);
        print_count("MACs/sample", teacher.macs, student.macs);
    }
    model_free(m);
    return st ? cli_fail(&d) : EXIT_OK;
}
