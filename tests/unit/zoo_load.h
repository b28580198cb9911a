/* zoo_load.h - loads a model of tests/models/zoo for unit tests, normalized
 * as kdc does before deriving a student (shape inference, constant folding,
 * dead-code removal, inference again). The large zoo models are regenerated
 * only where torch is installed: an absent file is skipped with a visible
 * note (NULL). Include after cmocka.h. */
#ifndef KDC_TESTS_ZOO_LOAD_H
#define KDC_TESTS_ZOO_LOAD_H

#include <stdio.h>
#include <unistd.h>

#include "frontend/onnx_import.h"
#include "passes/passes.h"

static inline Model *zoo_load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/models/zoo/%s.onnx", name);
    if (access(path, R_OK)) {
        print_message("[  SKIPPED ] %s is absent (the zoo is regenerated only where torch is installed)\n", path);
        return NULL;
    }
    Model *m = NULL;
    Diag d = {{0}};
    if (onnx_import_file(path, &m, &d))
        fail_msg("%s", d.msg);
    Graph *g = m->graph;
    if (pass_infer_shapes(g, &d) || pass_fold_constants(g, &d) || pass_eliminate_dead(g, &d) ||
        pass_infer_shapes(g, &d))
        fail_msg("%s: %s", path, d.msg);
    return m;
}

#endif
