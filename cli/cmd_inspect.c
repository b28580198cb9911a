/* cmd_inspect.c - `kdc inspect MODEL [--ir]`: what a model is made of. */
#include "cli/cli.h"

#include "frontend/onnx_import.h"
#include "ir/stats.h"

#include <stdio.h>
#include <string.h>

static void print_type(const Value *v)
{
    if (v->kind != TYPE_TENSOR) {
        printf("%s", v->kind == TYPE_OPAQUE ? "(non-tensor)" : "(untyped)");
        return;
    }
    printf("%s[", dtype_name(v->dtype));
    for (int i = 0; v->shape.rank >= 0 && i < v->shape.rank; i++) {
        const Dim *d = &v->shape.dims[i];
        if (d->value >= 0)
            printf("%s%lld", i ? "," : "", (long long)d->value);
        else
            printf("%s%s", i ? "," : "", d->param ? d->param : "?");
    }
    printf("%s]", v->shape.rank < 0 ? "?" : "");
}

static void print_summary(const char *path, const Model *m)
{
    const Graph *g = m->graph;
    GraphStats s;
    graph_stats(g, &s);
    printf("model      %s\n", path);
    printf("producer   %s %s, ir_version %lld, opset %lld\n", m->producer_name ? m->producer_name : "?",
           m->producer_version ? m->producer_version : "", (long long)m->ir_version, (long long)model_opset(m, ""));
    for (int i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i]->init)
            continue;
        printf("input      %s : ", g->inputs[i]->name);
        print_type(g->inputs[i]);
        putchar('\n');
    }
    for (int i = 0; i < g->n_outputs; i++) {
        printf("output     %s : ", g->outputs[i]->name);
        print_type(g->outputs[i]);
        putchar('\n');
    }
    printf("nodes      %d\n", s.n_nodes);
    for (int i = 0; i < s.n_op_types; i++)
        printf("  %-24s %d\n", s.op_types[i], s.op_counts[i]);
    printf("parameters %lld (%.3f MB of initializers)\n", (long long)s.params, (double)s.param_bytes / 1e6);
    printf("MACs       %lld per sample\n", (long long)s.macs);
    for (int i = 0; i < m->n_metadata; i++)
        printf("metadata   %s = %s\n", m->metadata[i].key, m->metadata[i].value);
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool ir = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: kdc inspect MODEL [--ir]\n\nPrints inputs, outputs, op counts, parameters and MACs per sample\n"
                 "(after shape inference and constant folding). --ir prints the model's IR as\n"
                 "imported, unchanged.");
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--ir"))
            ir = true;
        else if (argv[i][0] == '-' || path)
            return cli_usage("inspect", "unexpected argument '%s'", argv[i]);
        else
            path = argv[i];
    }
    if (!path)
        return cli_usage("inspect", "missing MODEL");
    Diag d = {{0}};
    Model *m = NULL;
    if (ir ? onnx_import_file(path, &m, &d) : cli_load_model(path, &m, &d))
        return cli_fail(&d);
    if (ir)
        ir_print(m, stdout);
    else
        print_summary(path, m);
    model_free(m);
    return EXIT_OK;
}
