/* recipes/recipe.c - loads a recipe file: YAML text -> checked Recipe.
 *
 * Owns the public recipe API: reading the file, turning libyaml's errors into one-line
 * diagnostics, picking the schema of the file's 'kdc:' version, and the order of the
 * steps: defaults, the walk of the YAML tree against the schema tables (recipe_walk.c,
 * leaves stored by recipe_values.c), inherited defaults, then the rules across keys
 * (recipe_rules.c). Only recipes/ includes yaml.h.
 */
#include "recipes/recipe.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "recipes/recipe_loader.h"

/* A recipe is a page of text; a bigger file is surely the wrong file. */
enum { RECIPE_MAX_BYTES = 1 << 20 };

/* ---- reading the file and the YAML document ---- */

static Status read_recipe_text(const char *path, char **text, size_t *len, Diag *d)
{
    struct stat st;
    Status st_ok = KDC_ERR;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f || fstat(fileno(f), &st)) {
        diag_error(d, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        diag_error(d, "%s: cannot read: %s", path, strerror(EISDIR));
        goto done;
    }
    buf = malloc(RECIPE_MAX_BYTES + 1);
    if (!buf) {
        diag_error(d, "%s: cannot read: out of memory", path);
        goto done;
    }
    *len = fread(buf, 1, RECIPE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        diag_error(d, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    if (*len > RECIPE_MAX_BYTES) {
        diag_error(d, "%s: cannot read: larger than %d bytes; is this a recipe?", path, RECIPE_MAX_BYTES);
        goto done;
    }
    buf[*len] = '\0';
    *text = buf;
    buf = NULL;
    st_ok = KDC_OK;
done:
    free(buf);
    if (f)
        fclose(f);
    return st_ok;
}

/* libyaml reports reader (encoding) errors as a byte offset. */
static SrcPos offset_pos(const char *text, size_t len, size_t offset)
{
    SrcPos at = {1, 1};
    for (size_t i = 0; i < offset && i < len; i++) {
        at.line += text[i] == '\n';
        at.col = text[i] == '\n' ? 1 : at.col + 1;
    }
    return at;
}

static Status report_yaml_error(const RecipeLoader *L, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return diag_error(L->d, "%s: out of memory while reading the recipe", L->path);
    if (p->error == YAML_READER_ERROR)
        return recipe_fail_pos(L, offset_pos(text, len, p->problem_offset), "not UTF-8 text: %s (byte 0x%02x)", problem,
                               (unsigned)p->problem_value & 0xffu);
    char context[128] = "";
    if (p->context)
        snprintf(context, sizeof context, " (%s at %zu:%zu)", p->context, p->context_mark.line + 1,
                 p->context_mark.column + 1);
    size_t at = p->problem_mark.index;
    const char *hint = "";
    if (at < len && text[at] == '\t')
        hint = "; indent with spaces, not tabs";
    else if (strstr(problem, "mapping values are not allowed"))
        hint = "; check the indentation, and quote values that contain ': '";
    else if (strstr(problem, "undefined alias") || (p->context && strstr(p->context, "alias")))
        hint = "; quote globs that start with '*' (YAML reads *name as an alias)";
    SrcPos pos = {(int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1};
    return recipe_fail_pos(L, pos, "YAML syntax error: %s%s%s", problem, context, hint);
}

/* Loads the one document of the file into L->doc; on failure L->doc is not loaded. */
static Status load_document(RecipeLoader *L, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    bool loaded = false;
    Status st = KDC_ERR;
    if (!yaml_parser_initialize(&parser))
        return diag_error(L->d, "%s: out of memory while reading the recipe", L->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    loaded = yaml_parser_load(&parser, &L->doc);
    if (!loaded) {
        report_yaml_error(L, &parser, text, len);
        goto done;
    }
    if (!yaml_document_get_root_node(&L->doc)) {
        recipe_fail_pos(L, (SrcPos){1, 1}, "the recipe is empty; it needs at least 'kdc: %d', 'teacher', "
                        "'data' and 'output'", recipe_schema_newest());
        goto done;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        report_yaml_error(L, &parser, text, len);
        goto done;
    }
    const yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second)
        recipe_fail(L, second, "a recipe is one YAML document; remove the '---' and what follows it");
    else
        st = KDC_OK;
    yaml_document_delete(&extra);
done:
    if (loaded && st != KDC_OK)
        yaml_document_delete(&L->doc);
    yaml_parser_delete(&parser);
    return st;
}

/* ---- schema version ---- */

/* The 'kdc:' key picks the schema every other key is read with, so it is read first. */
static Status read_version(const RecipeLoader *L, const yaml_node_t *root, int *version, const SchemaField **top)
{
    int oldest = recipe_schema_oldest(), newest = recipe_schema_newest();
    const yaml_node_t *n = recipe_find_value(L, root, "kdc");
    char got[QUOTE_MAX + 8], reads[64];
    long long v = 0;
    if (!n)
        return recipe_fail(L, root, "missing required key 'kdc' (the recipe schema version; write 'kdc: %d' first)",
                           newest);
    if (n->type != YAML_SCALAR_NODE || recipe_is_null(n) ||
        recipe_parse_integer((const char *)n->data.scalar.value, &v) == NUM_BAD)
        return recipe_fail(L, n, "'kdc' must be an integer (the recipe schema version), got %s",
                           recipe_describe(n, got, sizeof got));
    *top = v >= INT_MIN && v <= INT_MAX ? recipe_schema_top((int)v) : NULL;
    if (!*top) {
        if (oldest == newest)
            snprintf(reads, sizeof reads, "version %d", newest);
        else
            snprintf(reads, sizeof reads, "versions %d to %d", oldest, newest);
        return recipe_fail(L, n, "unsupported recipe version %s; this kdc reads %s", (const char *)n->data.scalar.value,
                           reads);
    }
    *version = (int)v;
    return KDC_OK;
}

/* ---- ownership ---- */

void recipe_free(Recipe *r)
{
    if (!r)
        return;
    /* Every version's table: a block freed once is NULL the next time it is seen. */
    for (int v = recipe_schema_oldest(); v <= recipe_schema_newest(); v++)
        if (recipe_schema_top(v))
            recipe_free_owned(r, recipe_schema_top(v));
    free(r->path);
    memset(r, 0, sizeof *r);
}

/* ---- public API ---- */

Status recipe_load(const char *path, Recipe *out, Diag *d)
{
    RecipeLoader L = {.path = path, .r = out, .d = d};
    char *text = NULL;
    size_t len = 0;
    bool have_doc = false;
    const SchemaField *top = NULL;
    int version = 0;
    Status st = KDC_ERR;
    memset(out, 0, sizeof *out);
    if (read_recipe_text(path, &text, &len, d) || load_document(&L, text, len))
        goto done;
    have_doc = true;
    const yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    char got[QUOTE_MAX + 8];
    if (root->type != YAML_MAPPING_NODE) {
        recipe_fail(&L, root, "a recipe must be a mapping of keys (kdc, teacher, data, ...), got %s",
                    recipe_describe(root, got, sizeof got));
        goto done;
    }
    if (read_version(&L, root, &version, &top))
        goto done;
    L.dir = recipe_path_dir(path);
    out->path = strdup(path);
    if (!L.dir || !out->path) {
        diag_error(d, "%s: out of memory while reading the recipe", path);
        goto done;
    }
    recipe_apply_defaults(out, top);
    if (recipe_walk(&L, root, top))
        goto done;
    recipe_apply_inherited(out, out, top);
    if (recipe_check_rules(&L))
        goto done;
    out->version = version;
    st = KDC_OK;
done:
    if (have_doc)
        yaml_document_delete(&L.doc);
    free(L.dir);
    free(text);
    if (st != KDC_OK)
        recipe_free(out);
    return st;
}

Status recipe_set_output(Recipe *r, const char *path, Diag *d)
{
    char why[512];
    if (!path || !*path)
        return diag_error(d, "the output path is empty; name the .onnx file to write");
    if (recipe_output_problem(path, why, sizeof why))
        return diag_error(d, "%s", why);
    char *copy = strdup(path);
    if (!copy)
        return diag_error(d, "%s: out of memory", path);
    free(r->output);
    r->output = copy;
    r->pos[RECIPE_OUTPUT] = (SrcPos){0, 0};
    return KDC_OK;
}

const char *recipe_where(const Recipe *r, RecipeField f, char *buf, size_t n)
{
    const char *path = r->path ? r->path : "recipe";
    if ((int)f < 0 || f >= RECIPE_FIELD_COUNT || r->pos[f].line == 0)
        snprintf(buf, n, "%s", path);
    else
        snprintf(buf, n, "%s:%d:%d", path, r->pos[f].line, r->pos[f].col);
    return buf;
}

/* Appends ", COUNT WHAT" when count is not 0. */
static void append_count(char *buf, size_t n, int count, const char *what)
{
    size_t used = strlen(buf);
    if (count && used < n)
        snprintf(buf + used, n - used, ", %d %s%s", count, what, count == 1 ? "" : "s");
}

const char *recipe_describe_student(const Recipe *r, char *buf, size_t n)
{
    const StudentOptions *o = &r->student;
    size_t used;
    if (o->params > 0 || o->macs > 0)
        snprintf(buf, n, "%s %g (width searched)", o->params > 0 ? "params" : "macs",
                 o->params > 0 ? o->params : o->macs);
    else
        snprintf(buf, n, "width %g", o->width);
    used = strlen(buf);
    snprintf(buf + used, n - used, ", importance %s", recipe_importance_name(o->importance));
    used = strlen(buf);
    if (o->importance == IMPORTANCE_ACTIVATION || o->importance == IMPORTANCE_TAYLOR)
        snprintf(buf + used, n - used, " on the first %d training samples", r->calibration_samples);
    else if (o->importance == IMPORTANCE_RANDOM)
        snprintf(buf + used, n - used, " (seed %llu)", (unsigned long long)o->seed);
    used = strlen(buf);
    if (o->round_to > 1)
        snprintf(buf + used, n - used, ", round_to %d", o->round_to);
    append_count(buf, n, o->n_protect, "protect glob");
    append_count(buf, n, o->n_overrides, "width_for glob");
    append_count(buf, n, o->n_free_outputs, "free output");
    append_count(buf, n, o->n_drop, "block dropped by name");
    used = strlen(buf);
    if (o->depth > 0)
        snprintf(buf + used, n - used, ", depth %d blocks", o->depth);
    else if (o->drop_alternate)
        snprintf(buf + used, n - used, ", every other block dropped");
    used = strlen(buf);
    if (r->init == STUDENT_INIT_RANDOM)
        snprintf(buf + used, n - used, ", weights initialised at random");
    used = strlen(buf);
    if (r->train_norm != TRAIN_NORM_AUTO || r->train_norm_dense)
        snprintf(buf + used, n - used, ", train_norm %s%s", r->train_norm == TRAIN_NORM_NONE ? "none"
                                                             : r->train_norm == TRAIN_NORM_AUTO ? "auto"
                                                                                                : "batchnorm",
                 r->train_norm_dense ? " (dense too)" : "");
    return buf;
}
