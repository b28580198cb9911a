/* tests/unit/recipe_fixture.h - what the recipe loader's tests share (test_recipe.c,
 * test_recipe_errors.c): a fresh temporary folder per test holding the files a recipe names
 * (an empty teacher.onnx, data files, an out/ folder), loading recipe text or a good recipe
 * of tests/recipes/ from it, and assertions on resolved paths and recorded positions.
 */
#ifndef KDC_TESTS_RECIPE_FIXTURE_H
#define KDC_TESTS_RECIPE_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "recipes/recipe.h"
#include "recipes/recipe_schema.h"
#include "tests/unit/temp_dir.h"

typedef struct Fixture {
    char dir[64];        /* the temporary folder */
    char recipe[128];    /* dir/r.yaml, where recipe text is written */
    char src[PATH_MAX];  /* the source tree's root */
} Fixture;

/* ---- files ---- */

static inline void write_in(const Fixture *fx, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    temp_write_file(path, text, strlen(text));
}

/* The whole file, NUL-terminated; the caller frees it. */
static inline char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1 << 16, 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The source tree holding tests/recipes/: where this file was compiled from (the Makefile
 * compiles from the root), else up from the test binary (build/tests/, build/asan/tests/). */
static inline bool find_source_root(char *out)
{
    const char *me = __FILE__, *tail = strstr(me, "tests/unit/recipe_fixture.h");
    char exe[PATH_MAX] = "", base[PATH_MAX], probe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (strrchr(exe, '/'))
        *strrchr(exe, '/') = '\0';
    for (int i = 0; i < 4; i++) {
        int len = i == 0   ? snprintf(base, sizeof base, "%.*s.", tail ? (int)(tail - me) : 0, me)
                  : i == 1 ? snprintf(base, sizeof base, "%s/../..", exe)
                  : i == 2 ? snprintf(base, sizeof base, "%s/../../..", exe)
                           : snprintf(base, sizeof base, ".");
        if (len < 0 || (size_t)len >= sizeof base)
            continue;
        len = snprintf(probe, sizeof probe, "%s/tests/recipes/full_block.yaml", base);
        if ((size_t)len < sizeof probe && !access(probe, R_OK) && realpath(base, out))
            return true;
    }
    return false;
}

/* The temporary folder and the files the test recipes name. */
static inline bool fixture_make(Fixture *fx)
{
    if (!find_source_root(fx->src)) {
        fprintf(stderr, "test_recipe: cannot find tests/recipes/; run from the source root\n");
        return false;
    }
    strcpy(fx->dir, "/tmp/kdc_recipe_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        fx->dir[0] = '\0';
        return false;
    }
    snprintf(fx->recipe, sizeof fx->recipe, "%s/r.yaml", fx->dir);
    char path[256];
    const char *sub[] = {"data", "out", "sub"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", fx->dir, sub[i]);
        if (mkdir(path, 0755))
            return false;
    }
    const char *files[] = {"teacher.onnx",        "teacher_b.onnx",       "data/train-images.gz", "data/train-labels.gz",
                           "data/test-images.gz", "data/test-labels.gz",  "data/test-images.npy",
                           "data/test-labels.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_in(fx, files[i], "x");
    return true;
}

static inline int teardown(void **state)
{
    Fixture *fx = *state;
    int rc = fx->dir[0] ? temp_remove_tree(fx->dir) : 0;
    free(fx);
    return rc;
}

static inline int setup(void **state)
{
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    if (fixture_make(fx))
        return 0;
    teardown(state); /* cmocka skips the teardown of a failed setup */
    return -1;
}

/* Copies tests/recipes/NAME into the temporary folder as r.yaml and loads it. */
static inline Status load_fixture(const Fixture *fx, const char *name, Recipe *r, Diag *d)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/tests/recipes/%s", fx->src, name);
    char *text = slurp(path);
    write_in(fx, "r.yaml", text);
    free(text);
    return recipe_load(fx->recipe, r, d);
}

static inline Status load_text(const Fixture *fx, const char *text, Recipe *r, Diag *d)
{
    write_in(fx, "r.yaml", text);
    return recipe_load(fx->recipe, r, d);
}

static inline void assert_path(const Fixture *fx, const char *got, const char *rel)
{
    char want[256];
    snprintf(want, sizeof want, "%s/%s", fx->dir, rel);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static inline void assert_where(const Recipe *r, RecipeField f, const char *suffix)
{
    char got[256], want[256];
    snprintf(want, sizeof want, "%s%s", r->path, suffix);
    assert_string_equal(recipe_where(r, f, got, sizeof got), want);
}


/* Six valid lines; recipes written inline append theirs from line 7. */
#define BASE                                                                                                           \
    "kdc: 1\n"                                                                                                         \
    "teacher: teacher.onnx\n"                                                                                          \
    "data:\n"                                                                                                          \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"                              \
    "output: out/student.onnx\n"

#endif
