/* cmd_run.c - `kdc run MODEL -i FILE... -o DIR`: runs a model in the
 * interpreter on tensors from files and writes its outputs. String tensors
 * (which the interpreter computes) are refused as inputs and outputs: the
 * files here hold numbers. */
#include "cli/cli.h"

#include "backend/tensor_file.h"
#include "frontend/container_file.h"
#include "frontend/tensor_file.h"
#include "ir/container.h"
#include "runtime/clock.h"
#include "runtime/plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

enum { RUN_MAX_INPUTS = 64 };

typedef struct RunArgs {
    const char *model, *out_dir;
    const char *inputs[RUN_MAX_INPUTS];
    int n_inputs;
    bool npy, profile;
    int repeat; /* timed forward runs after the first */
} RunArgs;

static const char run_help[] =
    "usage: kdc run MODEL -i FILE... -o DIR [--npy] [--profile] [--repeat N]\n"
    "\n"
    "Runs MODEL on the given inputs, bound in graph-input order; each FILE is an ONNX\n"
    "TensorProto (.pb) or a NumPy array (.npy), or for an input the model declares a\n"
    "sequence or optional, a SequenceProto / OptionalProto (.pb). Writes DIR/output_K.pb\n"
    "for each graph output K (and DIR/output_K.npy with --npy); outputs must be tensors.\n"
    "--profile prints time per op type.\n"
    "--repeat N runs the forward pass N more times and prints the mean and best time\n"
    "per run on stderr (the plan is built once, as in a server).\n";

static int parse_args(int argc, char **argv, RunArgs *a)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(run_help, stdout);
            return -1;
        } else if (!strcmp(argv[i], "-i")) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if (a->n_inputs == RUN_MAX_INPUTS)
                    return cli_usage("run", "at most %d inputs", RUN_MAX_INPUTS);
                a->inputs[a->n_inputs++] = argv[++i];
            }
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            a->out_dir = argv[++i];
        } else if (!strcmp(argv[i], "--npy")) {
            a->npy = true;
        } else if (!strcmp(argv[i], "--profile")) {
            a->profile = true;
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1000000)
                return cli_usage("run", "--repeat takes a count from 1 to 1000000, got '%s'", argv[i]);
            a->repeat = (int)n;
        } else if (argv[i][0] == '-' || a->model) {
            return cli_usage("run", "unexpected argument '%s'", argv[i]);
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model || !a->out_dir)
        return cli_usage("run", "need MODEL and -o DIR");
    return 0;
}

static Status bind_inputs(Model *m, const RunArgs *a, Tensor **tensors, Shape *shapes, Diag *d)
{
    const Graph *g = m->graph;
    int k = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (v->init)
            continue;
        if (k >= a->n_inputs)
            return diag_error(d, "%s: the model has more inputs than the %d given; next is '%s'", a->model,
                              a->n_inputs, v->name);
        Holds holds;
        if (container_declared_holds(v, &holds)) { /* a SequenceProto / OptionalProto file */
            if (container_file_read(a->inputs[k], m, holds, &tensors[k], d))
                return KDC_ERR;
            shapes[k++] = (Shape){.rank = 0};
            continue;
        }
        if (tensor_file_read(a->inputs[k], m, &tensors[k], d))
            return KDC_ERR;
        if (tensors[k]->dtype == DT_STRING)
            return diag_error(d, "%s: holds strings; kdc run reads numeric tensors only", a->inputs[k]);
        if (v->kind == TYPE_TENSOR && tensors[k]->dtype != v->dtype)
            return diag_error(d, "%s: holds %s but input '%s' takes %s", a->inputs[k], dtype_name(tensors[k]->dtype),
                              v->name, dtype_name(v->dtype));
        shapes[k] = shape_from_dims(tensors[k]->rank, tensors[k]->dims);
        k++;
    }
    if (k != a->n_inputs)
        return diag_error(d, "%s: the model has %d inputs but %d files were given", a->model, k, a->n_inputs);
    return KDC_OK;
}

/* Checked before running, so that no output is left half written. */
static Status check_outputs_numeric(const Plan *p, const Model *m, const RunArgs *a, Diag *d)
{
    for (int k = 0; k < plan_n_outputs(p); k++) {
        Shape s;
        DType dt;
        plan_output_info(p, k, &dt, &s);
        if (plan_output_holds(p, k) != HOLDS_TENSOR)
            return diag_error(d, "%s: output '%s' is %s; kdc run writes tensors only", a->model,
                              m->graph->outputs[k]->name, holds_name(plan_output_holds(p, k)));
        if (dt == DT_STRING)
            return diag_error(d, "%s: output '%s' is a string tensor; kdc run writes numeric tensors only", a->model,
                              m->graph->outputs[k]->name);
    }
    return KDC_OK;
}

static Status write_outputs(const Plan *p, Model *m, const RunArgs *a, Diag *d)
{
    for (int k = 0; k < plan_n_outputs(p); k++) {
        Shape s;
        DType dt;
        plan_output_info(p, k, &dt, &s);
        int64_t dims[IR_MAX_RANK];
        for (int i = 0; i < s.rank; i++)
            dims[i] = s.dims[i].value;
        Tensor t = {.dtype = dt, .rank = s.rank, .data = (void *)plan_output(p, k)};
        memcpy(t.dims, dims, sizeof dims);
        t.nbytes = (size_t)tensor_numel(&t) * dtype_size(dt);
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", a->out_dir, k);
        if (tensor_file_write_pb(path, &t, m->graph->outputs[k]->name, d))
            return KDC_ERR;
        snprintf(path, sizeof path, "%s/output_%d.npy", a->out_dir, k);
        if (a->npy && tensor_file_write_npy(path, &t, d))
            return KDC_ERR;
    }
    return KDC_OK;
}

/* mkdir -p: creates the folder and any missing parents. */
static Status make_dirs(const char *path, Diag *d)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return diag_error(d, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return diag_error(d, "%s: cannot create output folder: %s", buf, strerror(errno));
        buf[i] = c;
    }
    return KDC_OK;
}

/* Runs the forward pass a->repeat more times and prints mean and best. */
static Status time_forward(Plan *p, const RunArgs *a, Diag *d)
{
    double total = 0, best = 1e300;
    for (int r = 0; r < a->repeat; r++) {
        double t0 = clock_seconds();
        if (plan_forward(p, d))
            return KDC_ERR;
        double t = clock_seconds() - t0;
        total += t;
        best = t < best ? t : best;
    }
    fprintf(stderr, "forward: mean %.3f ms, best %.3f ms over %d runs\n", 1e3 * total / a->repeat, 1e3 * best,
            a->repeat);
    return KDC_OK;
}

static Status run(const RunArgs *a, Diag *d)
{
    Model *m = NULL;
    Plan *p = NULL;
    Tensor *tensors[RUN_MAX_INPUTS];
    Shape shapes[RUN_MAX_INPUTS];
    Status st = KDC_ERR;
    if (cli_load_model(a->model, &m, d) || bind_inputs(m, a, tensors, shapes, d))
        goto fail;
    if (plan_build_with_values(m->graph, PLAN_INFERENCE, shapes, (const Tensor *const *)tensors, 0, &p, d)) {
        diag_prefix(d, "%s", a->model);
        goto fail;
    }
    if (check_outputs_numeric(p, m, a, d))
        goto fail;
    for (int k = 0; k < plan_n_inputs(p); k++)
        if (plan_input_holds(p, k) == HOLDS_TENSOR) /* sequences and optionals are bound when planning */
            memcpy(plan_input(p, k), tensors[k]->data, tensors[k]->nbytes);
    if (plan_inputs_bound(p) && (a->profile || a->repeat))
        fprintf(stderr, "note: shapes in %s depend on input values; the plan was specialized to these inputs, "
                        "so most work ran while building it and times below understate a real run\n", a->model);
    plan_set_profiling(p, a->profile);
    if (plan_forward(p, d) || (a->repeat && time_forward(p, a, d)) || make_dirs(a->out_dir, d) ||
        write_outputs(p, m, a, d))
        goto fail;
    if (a->profile)
        plan_print_profile(p, stderr);
    st = KDC_OK;
fail:
    plan_free(p);
    model_free(m);
    return st;
}

int cmd_run(int argc, char **argv)
{
    RunArgs a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    Diag d = {{0}};
    return run(&a, &d) ? cli_fail(&d) : EXIT_OK;
}
