/* recipes/recipe_loader.h - what recipe.c, recipe_values.c and recipe_rules.c share
 * (internal to recipes/).
 *
 * The RecipeLoader is the state of one recipe_load() call. The helpers format messages that
 * start with "PATH:LINE:COL: " and store the leaf values of schema rows; the rules check
 * what no single row can.
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

/* The value of key in the mapping map, or NULL. */
const yaml_node_t *recipe_find_value(const RecipeLoader *L, const yaml_node_t *map, const char *key);

/* recipe_walk.c: walks the root mapping against the top-level table, storing every value
 * in L->r. */
Status recipe_walk(const RecipeLoader *L, const yaml_node_t *root, const SchemaField *top);
/* Writes the defaults of table's rows into base (the struct the table describes), every
 * entry of every list included. Inherited defaults are left NaN for: */
void recipe_apply_defaults(void *base, const SchemaField *table);
/* Replaces those still NaN after the walk with the value of the key they inherit from. */
void recipe_apply_inherited(Recipe *r, void *base, const SchemaField *table);
/* Frees what table's rows own in base and sets those pointers to NULL. */
void recipe_free_owned(void *base, const SchemaField *table);

/* Checks and stores the value n of a leaf row (not a mapping or list) at f->offset in
 * base (the struct the row's table describes); label is the key in quotes, for messages. */
Status recipe_store_leaf(const RecipeLoader *L, const SchemaField *f, void *base, const char *label,
                         const yaml_node_t *n);

/* Where the value of key f (e.g. RECIPE_DISTILL_LOSSES_TEACHER) is written in entry
 * `entry` (0-based) of the list on its path; {0, 0} when it is not written. For rules
 * that point at one entry's key. */
SrcPos recipe_value_pos(const RecipeLoader *L, RecipeField f, int entry);

/* The checks that involve more than one key (recipe_rules.c), run once the whole file
 * is read and defaults are applied; they also gather the single 'teacher' form into
 * Recipe.teachers. */
Status recipe_check_rules(const RecipeLoader *L);

/* The folder of path: "" when it has none, "/" for the root. NULL when out of memory. */
char *recipe_path_dir(const char *path);
/* Why the file path cannot be written (folder missing, not writable, path is a folder),
 * as a message in buf; NULL when it can. */
const char *recipe_output_problem(const char *path, char *buf, size_t size);

#endif
