/* recipes/recipe_loader.h - what recipe.c and recipe_values.c share (internal to recipes/).
 *
 * The RecipeLoader is the state of one recipe_load() call. The helpers format messages that
 * start with "PATH:LINE:COL: " and store the leaf values of schema rows.
 */
#ifndef KDC_RECIPE_LOADER_H
#define KDC_RECIPE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "recipes/recipe_schema.h"

/* How much of a bad value an error message quotes. */
enum { QUOTE_MAX = 40 };

typedef struct RecipeLoader {
    const char *path; /* the recipe file as given; starts every message */
    char *dir;        /* its folder, "" when it is the current folder */
    yaml_document_t doc;
    Recipe *r;
    Diag *d;
} RecipeLoader;

/* Fill L->d with "PATH:LINE:COL: message" and return KDC_ERR. */
Status recipe_fail_pos(const RecipeLoader *L, SrcPos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
Status recipe_fail(const RecipeLoader *L, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

SrcPos recipe_pos(const yaml_node_t *n);
const yaml_node_t *recipe_node(const RecipeLoader *L, int index);
/* An empty plain scalar, ~ or null. */
bool recipe_is_null(const yaml_node_t *n);
/* "'five'", "a mapping", "a list" or "nothing": what the user wrote, for "got ..." */
const char *recipe_describe(const yaml_node_t *n, char *buf, size_t size);
/* The candidate a typo most likely meant, or NULL when none is close. */
const char *recipe_closest(const char *word, const char *const *cands, int n);
/* Appends names to buf, separated by ", ". */
void recipe_join_names(char *buf, size_t size, const char *const *names, int n);

typedef enum { NUM_OK, NUM_BAD, NUM_HUGE } NumParse;
/* A YAML decimal integer: optional sign, then digits only. */
NumParse recipe_parse_integer(const char *s, long long *v);

/* Checks and stores the value n of a leaf row (any kind but FIELD_MAP); label is the
 * key in quotes, for messages. */
Status recipe_store_leaf(const RecipeLoader *L, const SchemaField *f, const char *label, const yaml_node_t *n);

/* The folder of path: "" when it has none, "/" for the root. NULL when out of memory. */
char *recipe_path_dir(const char *path);
/* Why the file path cannot be written (folder missing, not writable, path is a folder),
 * as a message in buf; NULL when it can. */
const char *recipe_output_problem(const char *path, char *buf, size_t size);

#endif
