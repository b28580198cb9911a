/* main.c - the kdc command: dispatches to one subcommand per user task. */
#include "cli/cli.h"

#include "backend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "passes/passes.h"
#include "runtime/threads.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef KDC_VERSION
#define KDC_VERSION "dev"
#endif

static const char usage_text[] =
    "kdc " KDC_VERSION " - a knowledge-distillation compiler for ONNX models\n"
    "\n"
    "usage: kdc COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  compress RECIPE [-o OUT]   derive a smaller student from the recipe's teacher, distill it,\n"
    "                             write it as ONNX (OUT overrides the recipe's output)\n"
    "  shrink MODEL [--width R | --params F | --macs F] -o OUT\n"
    "                             derive an untrained student (weights sliced from the teacher)\n"
    "                             and print what shrank (kdc shrink --help for every option)\n"
    "  check RECIPE               validate a recipe and the files it names, without running it\n"
    "  inspect MODEL [--ir]       inputs, outputs, op counts, parameters, MACs; --ir prints the IR\n"
    "  run MODEL -i FILE... -o DIR [--npy] [--profile] [--repeat N]\n"
    "                             run a model on inputs (.pb TensorProto or .npy, in graph-input\n"
    "                             order); writes DIR/output_K.pb (and .npy with --npy); --profile\n"
    "                             and --repeat time it\n"
    "\n"
    "options:\n"
    "  -h, --help                 this help (also: kdc COMMAND --help)\n"
    "  --version                  print the version\n"
    "\n"
    "environment:\n"
    "  KDC_THREADS                worker threads for kernels (default 2)\n"
    "\n"
    "Exit status: 0 success, 1 bad input (model, recipe, data), 2 bad command line.\n";

int cli_fail(const Diag *d)
{
    fprintf(stderr, "kdc: error: %s\n", d->msg);
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kdc%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'kdc %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

Status cli_load_model(const char *path, Model **out, Diag *d)
{
    Model *m = NULL;
    if (onnx_import_file(path, &m, d))
        return KDC_ERR;
    Graph *g = m->graph;
    int fused;
    /* fusing needs the inferred shapes; the constants it leaves unused go with the second dead-code pass */
    if (pass_infer_shapes(g, d) || pass_fold_constants(g, d) || pass_eliminate_dead(g, d) || pass_infer_shapes(g, d) ||
        pass_fuse_layernorm(g, &fused, d) || pass_eliminate_dead(g, d) || ir_verify(m, d)) {
        diag_prefix(d, "%s", path);
        model_free(m);
        return KDC_ERR;
    }
    *out = m;
    return KDC_OK;
}

Status cli_write_model(Model *m, const char *path, Diag *d)
{
    /* the expansion types each node it writes, so no whole-graph inference is needed */
    if (pass_lower_layernorm(m->graph, model_opset(m, ""), d) || ir_verify(m, d))
        return diag_prefix(d, "%s", path);
    return onnx_export_file(m, path, d);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(NULL, "missing command");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("kdc %s\n", KDC_VERSION);
        return EXIT_OK;
    }
    Diag d = {{0}};
    if (threads_init(0, &d))
        return cli_fail(&d);
    int rc;
    if (!strcmp(cmd, "compress"))
        rc = cmd_compress(argc - 1, argv + 1);
    else if (!strcmp(cmd, "shrink"))
        rc = cmd_shrink(argc - 1, argv + 1);
    else if (!strcmp(cmd, "check"))
        rc = cmd_check(argc - 1, argv + 1);
    else if (!strcmp(cmd, "inspect"))
        rc = cmd_inspect(argc - 1, argv + 1);
    else if (!strcmp(cmd, "run"))
        rc = cmd_run(argc - 1, argv + 1);
    else
        rc = cli_usage(NULL, "unknown command '%s'", cmd);
    threads_shutdown();
    return rc;
}
