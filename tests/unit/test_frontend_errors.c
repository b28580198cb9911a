/* test_frontend_errors.c - the ONNX frontend (frontend/onnx_import.h) on
 * bad input: every validation error gives KDC_ERR and one line that starts
 * with the file name; the committed fixtures in tests/bad/ (written by
 * tests/bad/make_bad_models.py, expected messages in tests/bad/expected.txt)
 * each fail as listed; truncated and mutated files never crash.
 */
#include <dirent.h>

#include "tests/unit/onnx_build.h"

/* ---- validation errors built in memory ---- */

static void test_tensor_errors(void **state)
{
    (void)state;
    float f[4] = {0};
    Onnx__TensorProto *t = raw_tensor("w", DT_FLOAT, "4", f, sizeof f);
    set_typed(t, F_FLOAT, f, 4);
    import_fails(init_model(t), "initializer 'w': holds both raw_data and float_data");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    set_typed(t, F_INT64, f, 1);
    import_fails(init_model(t), "initializer 'w': int64_data cannot hold float values");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    set_typed(t, F_INT64, f, 1);
    set_typed(t, F_DOUBLE, f, 1);
    import_fails(init_model(t), "initializer 'w': holds both int64_data and double_data");
    import_fails(init_model(raw_tensor("w", DT_STRING, "1", "x", 1)), "string tensors must use string_data");
    t = raw_tensor("w", DT_COMPLEX64, "2", NULL, 0);
    set_typed(t, F_FLOAT, f, 2);
    import_fails(init_model(t), "initializer 'w': float_data holds 2 values but dims [2] of complex64 need 4");
    import_fails(init_model(raw_tensor("w", DT_UNDEFINED, "1", f, 4)), "initializer 'w': unknown data_type 0");
    t = raw_tensor("w", DT_FLOAT, "1", f, 4);
    t->segment = alloc(sizeof *t->segment);
    onnx__tensor_proto__segment__init(t->segment);
    import_fails(init_model(t), "segmented tensors are not supported");
    t = raw_tensor("w", DT_FLOAT, "1", f, 4);
    add_external(t, "location", "w.bin");
    import_fails(init_model(t), "initializer 'w': holds both external and inline data");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "a/../../w.bin");
    import_fails(init_model(t), "leaves the model's folder");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "/etc/passwd");
    import_fails(init_model(t), "leaves the model's folder");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "w.bin");
    add_external(t, "offset", "-4");
    import_fails(init_model(t), "external data offset '-4' is not a byte count");
}

static void test_graph_errors(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    push(&mp->graph->output, &mp->graph->n_output, vinfo("q", NULL));
    import_fails(mp, "graph output 'q' is not defined");

    mp = small_model();
    mp->graph->node[1]->op_type = S("");
    import_fails(mp, "node 'a' (): node has no op_type");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("x", NULL));
    import_fails(mp, "graph input 'x': value 'x' is defined more than once");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("v", tensor_type(1, "2,-1")));
    import_fails(mp, "graph input 'v': negative dimension -1 in its shape");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("v", tensor_type(42, "2")));
    import_fails(mp, "graph input 'v': unknown data_type 42");

    mp = small_model();
    add_attr(add_node(mp->graph, "Constant", "k", "", "kv"), "value", 4);
    import_fails(mp, "node 'k' (Constant) attribute 'value': attribute of type 4 carries no value");

    mp = small_model();
    Onnx__GraphProto *then = branch("then", "Relu");
    then->node[0]->input[0] = S("missing");
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "subgraph 'then': node #0 (Relu): input 'missing' is not defined");

    mp = small_model();
    then = branch("then", "Relu");
    push(&then->value_info, &then->n_value_info, vinfo("x", NULL));
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "subgraph 'then': value_info 'x' describes a value of an enclosing graph");

    mp = small_model();
    then = branch("then", "Relu");
    then->node[0]->output[0] = S("t"); /* shadows the outer "t" */
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "value 't' is defined more than once");
}

/* ---- the committed bad fixtures (tests/bad, written by make_bad_models.py) ---- */

static void bad_dir(char *buf, size_t cap)
{
    /* __FILE__ is tests/unit/test_frontend_errors.c as given to the compiler */
    const char *unit = strstr(__FILE__, "unit/test_frontend_errors.c");
    snprintf(buf, cap, "%.*sbad", unit ? (int)(unit - __FILE__) : 0, __FILE__);
}

static void check_fixture(const char *dir, const char *file, const char *expect)
{
    char path[2048];
    Model *m = (Model *)1;
    Diag d = {{0}};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(onnx_import_file(path, &m, &d), KDC_ERR);
    assert_null(m);
    size_t plen = strlen(path);
    if (strncmp(d.msg, path, plen) || strncmp(d.msg + plen, ": ", 2) || !strstr(d.msg, expect) || strchr(d.msg, '\n'))
        fail_msg("%s: got '%s', want the file name and '%s' on one line", file, d.msg, expect);
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    char dir[900], list[1024], line[1024];
    bad_dir(dir, sizeof dir);
    snprintf(list, sizeof list, "%s/expected.txt", dir);
    FILE *f = fopen(list, "r");
    if (!f)
        fail_msg("cannot open %s (run the tests from the project root)", list);
    char seen[64][128];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        check_fixture(dir, line, tab + 1);
        if (n < 64 && strlen(line) < sizeof seen[0])
            memcpy(seen[n++], line, strlen(line) + 1);
    }
    fclose(f);
    assert_true(n >= 20);
    /* every .onnx fixture must have an expected message */
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    for (struct dirent *e; (e = readdir(dp));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".onnx"))
            continue;
        bool listed = false;
        for (int i = 0; i < n && !listed; i++)
            listed = !strcmp(seen[i], e->d_name);
        if (!listed)
            fail_msg("%s/%s has no line in expected.txt", dir, e->d_name);
    }
    closedir(dp);
}

/* ---- robustness: mutated and truncated files never crash ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void import_any(const uint8_t *buf, size_t len)
{
    Model *m = NULL;
    Diag d = {{0}};
    if (onnx_import_buffer(buf, len, "fuzz.onnx", NULL, &m, &d) == KDC_OK)
        model_free(m);
    else if (strncmp(d.msg, "fuzz.onnx: ", 11) || strchr(d.msg, '\n'))
        fail_msg("bad message: '%s'", d.msg);
}

static void test_mutations_never_crash(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    add_every_attr(add_node(mp->graph, "Custom", "c", "y", "z"));
    push(&mp->graph->input, &mp->graph->n_input, vinfo("seq", sequence_type()));
    size_t len;
    uint8_t *good = pack(&mp->base, &len);
    uint8_t *buf = malloc(len);
    for (size_t cut = 0; cut < len; cut++)
        import_any(good, cut);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, good, len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++)
            buf[rng() % len] = (uint8_t)rng();
        import_any(buf, len);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tensor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations_never_crash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
