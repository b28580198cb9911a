/* runner.c - the ONNX backend conformance runner over Debian's libonnx-testdata.
 *
 *   conformance [--data DIR] [--expected FILE] [--timeout SEC] [--no-fork] [SUITE/TEST...]
 *
 * Walks every test folder of the suites node, simple, pytorch-converted and
 * pytorch-operator under DIR (default /usr/share/libonnx-testdata/data). For
 * each: imports model.onnx and normalizes it as `kdc` does (cli_load_model:
 * infer shapes, fold constants, drop dead code, infer again, verify), then for
 * every test_data_set_* binds input_K.pb to the graph's K-th non-initializer
 * input, plans inference for those shapes, runs it and compares every
 * output_K.pb with the plan's K-th output: same name, dtype and shape; floats
 * within |got - want| <= 1e-5 + 1e-3 * |want| (NaN equals NaN), integers,
 * bools and strings exact. (The ONNX 1.12 data stores bfloat16 tensors as
 * uint16: they are taken as the same bits.) A string input is bound as Bytes
 * entries pointing at the tensor read from input_K.pb, which lives in the
 * model's arena until the test is over. Inputs and outputs declared
 * sequences or optionals are read from SequenceProto / OptionalProto files;
 * such inputs are bound when the plan is built, and such outputs must match
 * in kind, length and presence, each element tensor compared as above
 * ("output 0 'seq' element 2: ..."). Maps and sparse tensors are refused.
 *
 * Prints one line per test folder and a closing "N passed, N failed, N skipped":
 *   PASS  suite/test
 *   FAIL  suite/test: <one-line reason>    an unexpected failure
 *   XFAIL suite/test: <one-line reason>    a failure listed in FILE (counted as skipped)
 *   XPASS suite/test: ...                  listed in FILE but passes (counted as failed)
 * A listed name with no test folder is a FAIL too (full runs only). Each test
 * runs in a forked child with its own thread pool (unless --no-fork), killed
 * after --timeout seconds (default 20, 0 for none), so a crashing or hanging
 * kernel costs one "crashed:" FAIL line, not the run; crashes and timeouts
 * are never expected failures. Exits 0 when every result was expected, 1
 * otherwise, 2 on a bad command line. Used by tests/conformance.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strsignal */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend/container_file.h"
#include "frontend/onnx_import.h"
#include "frontend/tensor_file.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "runtime/threads.h"
#include "tests/conformance/compare.h"

enum { MAX_IO = 64, REASON_MAX = 1200, PATH_LEN = 4096 };

static const char *const suites[] = {"node", "simple", "pytorch-converted", "pytorch-operator"};

typedef struct StrList {
    char **items;
    size_t n, cap;
} StrList;

typedef struct Options {
    const char *data_dir;
    const char *expected_path;
    unsigned timeout;
    bool no_fork;
    StrList only; /* SUITE/TEST names to run; empty: all */
} Options;

/* ---- small helpers ---- */

static int strlist_add(StrList *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    if (!(l->items[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static void strlist_free(StrList *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    *l = (StrList){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qsort and bsearch must not see the NULL items of an empty list. */
static void strlist_sort(StrList *l, int (*cmp)(const void *, const void *))
{
    if (l->n)
        qsort(l->items, l->n, sizeof *l->items, cmp);
}

static bool strlist_has(const StrList *sorted, const char *s, size_t *at)
{
    if (!sorted->n)
        return false;
    char *const *hit = bsearch(&s, sorted->items, sorted->n, sizeof *sorted->items, cmp_str);
    if (hit && at)
        *at = (size_t)(hit - sorted->items);
    return hit != NULL;
}

/* Formats a path into buf (PATH_LEN bytes). A path too long to fit comes
 * out truncated, names no file, and fails as a missing file would. */
static void path_fmt(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_fmt(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, PATH_LEN, fmt, ap);
    va_end(ap);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Subfolder names of dir starting with prefix, sorted by strcmp. */
static int list_subdirs(const char *dir, const char *prefix, StrList *out)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return -1;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dh));) {
        char path[PATH_LEN];
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        path_fmt(path, "%s/%s", dir, e->d_name);
        if (is_dir(path))
            rc = strlist_add(out, e->d_name);
    }
    closedir(dh);
    strlist_sort(out, cmp_str);
    return rc;
}

/* test_data_set_2 before test_data_set_10. */
static int cmp_data_set(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long nx = strtol(x + strlen("test_data_set_"), NULL, 10), ny = strtol(y + strlen("test_data_set_"), NULL, 10);
    return nx < ny ? -1 : nx > ny ? 1 : strcmp(x, y);
}

/* ---- one data set ---- */

/* What a non-tensor graph input or output is, from the first field of its
 * packed onnx.TypeProto (sequence_type = 4, map_type = 5, sparse = 8, optional = 9). */
static const char *opaque_kind(const Value *v)
{
    if (v->opaque_type.len == 0)
        return "not a tensor";
    switch (v->opaque_type.data[0] >> 3) {
    case 4:
        return "a sequence";
    case 5:
        return "a map";
    case 8:
        return "a sparse tensor";
    case 9:
        return "an optional";
    default:
        return "not a tensor";
    }
}

/* What a graph input or output carries, as declared; false for what kdc
 * does not compute (maps, sparse tensors, values without a type). */
static bool declared_holds(const Value *v, Holds *out)
{
    *out = HOLDS_TENSOR;
    return v->kind == TYPE_TENSOR || container_declared_holds(v, out);
}

/* Reads input_K.pb for graph input v: a tensor, or a sequence or optional
 * as v is declared (bound at build time, so its shape entry is rank 0). */
static Status read_input(Model *m, const Value *v, int k, const char *path, Tensor **value, Shape *shape, Diag *d)
{
    Holds holds;
    if (!declared_holds(v, &holds))
        return diag_error(d, "input %d '%s' is %s: kdc computes tensors, sequences and optionals only", k, v->name,
                          opaque_kind(v));
    if (!is_file(path))
        return diag_error(d, "input %d '%s': the data set has no input_%d.pb", k, v->name, k);
    if (holds != HOLDS_TENSOR) {
        *shape = (Shape){.rank = 0};
        return container_file_read(path, m, holds, value, d);
    }
    if (tensor_file_read(path, m, value, d))
        return KDC_ERR;
    if (!same_bits((*value)->dtype, v->dtype))
        return diag_error(d, "input %d '%s': input_%d.pb holds %s but the input takes %s", k, v->name, k,
                          dtype_name((*value)->dtype), dtype_name(v->dtype));
    *shape = shape_from_dims((*value)->rank, (*value)->dims);
    return KDC_OK;
}

static Status read_inputs(Model *m, const char *set_dir, Tensor **tensors, Shape *shapes, int *n, Diag *d)
{
    const Graph *g = m->graph;
    *n = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (v->init)
            continue;
        char path[PATH_LEN];
        path_fmt(path, "%s/input_%d.pb", set_dir, *n);
        if (*n == MAX_IO)
            return diag_error(d, "the model has more than %d inputs", MAX_IO);
        if (read_input(m, v, *n, path, &tensors[*n], &shapes[*n], d))
            return KDC_ERR;
        (*n)++;
    }
    char extra[PATH_LEN];
    path_fmt(extra, "%s/input_%d.pb", set_dir, *n);
    if (is_file(extra))
        return diag_error(d, "the data set has more input files than the model's %d inputs", *n);
    return KDC_OK;
}

/* A string input's buffer takes one Bytes entry per element. */
static Status copy_strings(Plan *p, int k, const Tensor *t, int64_t numel, Diag *d)
{
    if (tensor_numel(t) != numel)
        return diag_error(d, "input %d: the plan takes %lld strings, input_%d.pb holds %lld", k, (long long)numel, k,
                          (long long)tensor_numel(t));
    if (numel)
        memcpy(plan_input(p, k), t->strings, (size_t)numel * sizeof(Bytes));
    return KDC_OK;
}

static Status copy_inputs(Plan *p, Tensor **tensors, int n, Diag *d)
{
    if (plan_n_inputs(p) != n)
        return diag_error(d, "the plan has %d inputs, the data set %d", plan_n_inputs(p), n);
    for (int k = 0; k < n; k++) {
        DType dt;
        Shape s;
        if (plan_input_holds(p, k) != HOLDS_TENSOR)
            continue; /* sequences and optionals are bound when the plan is built */
        plan_input_info(p, k, &dt, &s);
        if (dt == DT_STRING) {
            if (copy_strings(p, k, tensors[k], shape_numel(&s), d))
                return KDC_ERR;
            continue;
        }
        size_t need = (size_t)shape_numel(&s) * dtype_size(dt);
        if (need != tensors[k]->nbytes)
            return diag_error(d, "input %d: the plan takes %zu bytes, input_%d.pb holds %zu", k, need, k,
                              tensors[k]->nbytes);
        if (need)
            memcpy(plan_input(p, k), tensors[k]->data, need);
    }
    return KDC_OK;
}

static Status check_outputs(const Plan *p, Model *m, const char *set_dir, Diag *d)
{
    const Graph *g = m->graph;
    for (int k = 0; k < g->n_outputs; k++) {
        char path[PATH_LEN];
        Tensor *want = NULL;
        Holds holds;
        path_fmt(path, "%s/output_%d.pb", set_dir, k);
        if (!declared_holds(g->outputs[k], &holds))
            return diag_error(d, "output %d '%s' is %s: kdc computes tensors, sequences and optionals only", k,
                              g->outputs[k]->name, opaque_kind(g->outputs[k]));
        if (!is_file(path))
            return diag_error(d, "output %d '%s': the data set has no output_%d.pb", k, g->outputs[k]->name, k);
        if ((holds == HOLDS_TENSOR ? tensor_file_read(path, m, &want, d)
                                   : container_file_read(path, m, holds, &want, d)) ||
            compare_output(p, k, g->outputs[k], want, d))
            return KDC_ERR;
    }
    char extra[PATH_LEN];
    path_fmt(extra, "%s/output_%d.pb", set_dir, g->n_outputs);
    if (is_file(extra))
        return diag_error(d, "the data set has more output files than the graph's %d outputs", g->n_outputs);
    return KDC_OK;
}

static Status run_data_set(Model *m, const char *set_dir, Diag *d)
{
    Tensor *tensors[MAX_IO];
    Shape shapes[MAX_IO];
    int n = 0;
    Plan *p = NULL;
    Status st = KDC_ERR;
    if (read_inputs(m, set_dir, tensors, shapes, &n, d) ||
        plan_build_with_values(m->graph, PLAN_INFERENCE, shapes, (const Tensor *const *)tensors, 0, &p, d) ||
        copy_inputs(p, tensors, n, d) ||
        plan_forward(p, d))
        goto fail;
    if (plan_n_outputs(p) != m->graph->n_outputs) {
        diag_error(d, "the plan has %d outputs, the graph %d", plan_n_outputs(p), m->graph->n_outputs);
        goto fail;
    }
    st = check_outputs(p, m, set_dir, d);
fail:
    plan_free(p);
    return st;
}

/* ---- one test folder ---- */

/* As cli_load_model (cli/main.c) does for every kdc command. */
static Status load_model(const char *path, Model **out, Diag *d)
{
    Model *m = NULL;
    if (onnx_import_file(path, &m, d))
        return KDC_ERR;
    Graph *g = m->graph;
    if (pass_infer_shapes(g, d) || pass_fold_constants(g, d) || pass_eliminate_dead(g, d) ||
        pass_infer_shapes(g, d) || ir_verify(m, d)) {
        diag_prefix(d, "model.onnx");
        model_free(m);
        return KDC_ERR;
    }
    *out = m;
    return KDC_OK;
}

static Status run_test(const char *test_dir, Diag *d)
{
    char path[PATH_LEN];
    Model *m = NULL;
    StrList sets = {0};
    Status st = KDC_ERR;
    path_fmt(path, "%s/model.onnx", test_dir);
    if (!is_file(path)) {
        diag_error(d, "no model.onnx in the folder");
        goto fail;
    }
    if (list_subdirs(test_dir, "test_data_set_", &sets)) {
        diag_error(d, "cannot list the data sets: %s", strerror(errno));
        goto fail;
    }
    strlist_sort(&sets, cmp_data_set);
    if (sets.n == 0) {
        diag_error(d, "no test_data_set_* folder");
        goto fail;
    }
    if (load_model(path, &m, d))
        goto fail;
    for (size_t i = 0; i < sets.n; i++) {
        path_fmt(path, "%s/%s", test_dir, sets.items[i]);
        if (run_data_set(m, path, d)) {
            if (sets.n > 1)
                diag_prefix(d, "%s", sets.items[i]);
            goto fail;
        }
    }
    st = KDC_OK;
fail:
    model_free(m);
    strlist_free(&sets);
    return st;
}

/* One line: newlines become spaces, "<test_dir>/" is dropped from paths. */
static void tidy_reason(char *msg, const char *test_dir)
{
    size_t cut = strlen(test_dir);
    for (char *p = msg; (p = strstr(p, test_dir));) {
        size_t skip = cut + (p[cut] == '/');
        memmove(p, p + skip, strlen(p + skip) + 1);
    }
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

/* Runs the test in this process; reason gets "" on a pass. */
static void run_inline(const char *test_dir, char *reason)
{
    Diag d = {{0}};
    if (run_test(test_dir, &d) == KDC_OK) {
        reason[0] = 0;
        return;
    }
    tidy_reason(d.msg, test_dir);
    snprintf(reason, REASON_MAX, "%s", d.msg[0] ? d.msg : "failed without a message");
}

/* The child's side: its own thread pool, the test, the result down the pipe. */
static void child_main(const char *test_dir, int fd, unsigned timeout)
{
    char reason[REASON_MAX];
    Diag d = {{0}};
    alarm(timeout);
    if (threads_init(0, &d)) {
        snprintf(reason, sizeof reason, "threads: %s", d.msg);
    } else {
        run_inline(test_dir, reason);
        threads_shutdown();
    }
    size_t len = strlen(reason) + 1, off = 0;
    while (off < len) {
        ssize_t w = write(fd, reason + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
}

static void describe_status(int status, unsigned timeout, bool got_result, char *reason)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(reason, REASON_MAX, "crashed: timed out after %u s", timeout);
    else if (WIFSIGNALED(status))
        snprintf(reason, REASON_MAX, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (!got_result)
        snprintf(reason, REASON_MAX, "crashed: exited with status %d before reporting (see stderr)",
                 WEXITSTATUS(status));
    else
        snprintf(reason, REASON_MAX, "crashed: exited with status %d after reporting (sanitizer report on stderr?)",
                 WEXITSTATUS(status));
}

/* Runs the test in a forked child so that a crash or a hang fails one test. */
static void run_isolated(const char *test_dir, unsigned timeout, char *reason)
{
    int fds[2];
    if (pipe(fds)) {
        snprintf(reason, REASON_MAX, "crashed: cannot create a pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(test_dir, fds[1], timeout);
        exit(0); /* exit, not _exit: LeakSanitizer checks the child at exit */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r = 0;
    while (pid > 0 && len < REASON_MAX - 1 && (r = read(fds[0], reason + len, REASON_MAX - 1 - len)) > 0)
        len += (size_t)r;
    close(fds[0]);
    reason[len] = 0;
    bool got_result = len > 0 && reason[len - 1] == 0;
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        snprintf(reason, REASON_MAX, "crashed: cannot fork or wait: %s", strerror(errno));
    else if (!got_result || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        describe_status(status, timeout, got_result, reason);
}

/* ---- the list of expected failures ---- */

static int read_expected(const char *path, StrList *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char name[1024];
        if (line[0] == '#' || sscanf(line, "%1023s", name) != 1)
            continue;
        rc = strlist_add(out, name);
    }
    fclose(f);
    strlist_sort(out, cmp_str);
    return rc;
}

/* ---- main ---- */

typedef struct Tally {
    int passed, failed, skipped;
} Tally;

static void report(const char *name, const char *reason, const StrList *expected, bool *listed_seen, Tally *t)
{
    size_t at = 0;
    bool listed = strlist_has(expected, name, &at);
    if (listed)
        listed_seen[at] = true;
    bool crashed = !strncmp(reason, "crashed:", 8);
    if (!reason[0] && !listed) {
        printf("PASS %s\n", name);
        t->passed++;
    } else if (!reason[0]) {
        printf("XPASS %s: listed as an expected failure, now passes: remove it from the list\n", name);
        t->failed++;
    } else if (listed && !crashed) {
        printf("XFAIL %s: %s\n", name, reason);
        t->skipped++;
    } else {
        printf("FAIL %s: %s\n", name, reason);
        t->failed++;
    }
    fflush(stdout);
}

static int parse_options(int argc, char **argv, Options *o)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            o->data_dir = argv[++i];
        else if (!strcmp(argv[i], "--expected") && i + 1 < argc)
            o->expected_path = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            o->timeout = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-fork"))
            o->no_fork = true;
        else if (argv[i][0] != '-' && strchr(argv[i], '/')) {
            if (strlist_add(&o->only, argv[i]))
                return -1;
        } else {
            fprintf(stderr,
                    "usage: %s [--data DIR] [--expected FILE] [--timeout SEC] [--no-fork] [SUITE/TEST...]\n",
                    argv[0]);
            return -1;
        }
    }
    strlist_sort(&o->only, cmp_str);
    return 0;
}

/* Notes the folders that hold no model (data/real only names downloads). */
static void note_real(const char *data_dir)
{
    char dir[PATH_LEN];
    StrList real = {0};
    path_fmt(dir, "%s/real", data_dir);
    if (list_subdirs(dir, "", &real) == 0 && real.n)
        printf("note: %s: %zu folders hold no model.onnx (only a data.json naming a download): not run\n", dir,
               real.n);
    strlist_free(&real);
}

static void run_suite(const Options *o, const char *suite, const StrList *expected, bool *seen, Tally *t,
                      int *n_run)
{
    char dir[PATH_LEN], reason[REASON_MAX];
    StrList tests = {0};
    path_fmt(dir, "%s/%s", o->data_dir, suite);
    if (list_subdirs(dir, "", &tests)) {
        printf("FAIL %s: cannot list the suite: %s\n", suite, strerror(errno));
        t->failed++;
    }
    for (size_t i = 0; i < tests.n; i++) {
        char name[PATH_LEN], test_dir[PATH_LEN];
        path_fmt(name, "%s/%s", suite, tests.items[i]);
        if (o->only.n && !strlist_has(&o->only, name, NULL))
            continue;
        path_fmt(test_dir, "%s/%s", dir, tests.items[i]);
        if (o->no_fork)
            run_inline(test_dir, reason);
        else
            run_isolated(test_dir, o->timeout, reason);
        report(name, reason, expected, seen, t);
        (*n_run)++;
    }
    strlist_free(&tests);
}

int main(int argc, char **argv)
{
    Options o = {.data_dir = "/usr/share/libonnx-testdata/data", .timeout = 20};
    StrList expected = {0};
    bool *seen = NULL;
    Tally t = {0};
    int n_run = 0, rc = 2;
    Diag d = {{0}};
    if (parse_options(argc, argv, &o) || (o.expected_path && read_expected(o.expected_path, &expected)))
        goto done;
    if (!(seen = calloc(expected.n + 1, sizeof *seen)))
        goto done;
    if (o.no_fork && threads_init(0, &d)) {
        fprintf(stderr, "conformance: %s\n", d.msg);
        goto done;
    }
    if (!o.only.n)
        note_real(o.data_dir);
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
        run_suite(&o, suites[s], &expected, seen, &t, &n_run);
    for (size_t i = 0; i < expected.n && !o.only.n; i++)
        if (!seen[i]) {
            printf("FAIL %s: listed as an expected failure but there is no such test folder\n", expected.items[i]);
            t.failed++;
        }
    if (o.no_fork)
        threads_shutdown();
    printf("%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    if (n_run == 0)
        fprintf(stderr, "conformance: no test folder found under %s\n", o.data_dir);
    rc = t.failed || n_run == 0 ? 1 : 0;
done:
    free(seen);
    strlist_free(&expected);
    strlist_free(&o.only);
    return rc;
}
