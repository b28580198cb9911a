/* roundtrip.c - the ONNX round-trip check over a folder of models.
 *
 *   roundtrip DATA_DIR OUT_DIR
 *
 * For every file named model.onnx under DATA_DIR (recursively): import, print
 * the IR, export to OUT_DIR/<same relative path>, import the export, print
 * again. The two texts must match except the "producer " line (the backend
 * stamps kdc there), and exporting the re-imported model must give the same
 * bytes as the first export (the output is canonical). Prints one line per
 * failure and "N passed, N failed"; exits non-zero on any failure or when no
 * model was found. Used by tests/roundtrip.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, open_memstream */
#endif
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/onnx_export.h"
#include "frontend/onnx_import.h"

typedef struct PathList {
    char **items;
    size_t n, cap;
} PathList;

static PathList found;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type != FTW_F || strcmp(path + ftw->base, "model.onnx"))
        return 0;
    if (found.n == found.cap) {
        found.cap = found.cap ? 2 * found.cap : 256;
        found.items = realloc(found.items, found.cap * sizeof *found.items);
        if (!found.items)
            return 1;
    }
    found.items[found.n++] = strdup(path);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int r = mkdir(path, 0777);
        *p = '/';
        if (r && errno != EEXIST)
            return -1;
    }
    return 0;
}

/* The IR text of m with the "producer " line removed (malloc'ed). */
static char *print_ir(const Model *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    ir_print(m, f);
    fclose(f);
    char *p = strstr(text, "\nproducer ");
    if (p) {
        char *eol = strchr(p + 1, '\n');
        const char *rest = eol ? eol : p + strlen(p);
        memmove(p, rest, strlen(rest) + 1);
    }
    return text;
}

static void report_diff(const char *path, const char *a, const char *b)
{
    int line = 1;
    while (*a && *a == *b) {
        line += *a == '\n';
        a++, b++;
    }
    while (line > 1 && a[-1] != '\n')
        a--, b--;
    printf("FAIL %s: IR text differs after round trip at line %d:\n  before: %.*s\n  after:  %.*s\n", path, line,
           (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

static bool same_file_bytes(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool same = true;
    for (size_t i = 0; i < len && same; i++)
        same = fgetc(f) == buf[i];
    same = same && fgetc(f) == EOF;
    fclose(f);
    return same;
}

/* Import, print, export, import, print, compare; true when all agree. */
static bool roundtrip_one(const char *src, const char *out_path)
{
    Diag d = {{0}};
    Model *m1 = NULL, *m2 = NULL;
    char *t1 = NULL, *t2 = NULL;
    uint8_t *again = NULL;
    size_t again_len = 0;
    bool ok = false;
    if (onnx_import_file(src, &m1, &d) || onnx_export_file(m1, out_path, &d) || onnx_import_file(out_path, &m2, &d) ||
        onnx_export_buffer(m2, &again, &again_len, &d)) {
        printf("FAIL %s: %s\n", src, d.msg);
        goto done;
    }
    t1 = print_ir(m1);
    t2 = print_ir(m2);
    if (!t1 || !t2 || strcmp(t1, t2)) {
        report_diff(src, t1 ? t1 : "", t2 ? t2 : "");
        goto done;
    }
    if (!same_file_bytes(out_path, again, again_len)) {
        printf("FAIL %s: exporting the re-imported model gave different bytes\n", src);
        goto done;
    }
    ok = true;
done:
    free(t1);
    free(t2);
    free(again);
    model_free(m1);
    model_free(m2);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR OUT_DIR\n", argv[0]);
        return 2;
    }
    const char *data = argv[1], *out = argv[2];
    if (nftw(data, collect, 32, FTW_PHYS)) {
        fprintf(stderr, "%s: cannot walk: %s\n", data, strerror(errno));
        return 2;
    }
    qsort(found.items, found.n, sizeof *found.items, cmp_str);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < found.n; i++) {
        const char *rel = found.items[i] + strlen(data);
        char out_path[4096];
        snprintf(out_path, sizeof out_path, "%s/%s", out, rel + (*rel == '/'));
        bool ok = !mkdirs(out_path);
        if (!ok)
            printf("FAIL %s: cannot create the folder of %s\n", found.items[i], out_path);
        ok = ok && roundtrip_one(found.items[i], out_path);
        passed += ok;
        failed += !ok;
        free(found.items[i]);
    }
    free(found.items);
    printf("%d passed, %d failed\n", passed, failed);
    if (!found.n)
        fprintf(stderr, "%s: no model.onnx found\n", data);
    return failed || !found.n ? 1 : 0;
}
