/* recipes/recipe_schema.h - the recipe schema as data (internal to recipes/).
 *
 * A schema is a tree of SchemaField tables, one table per YAML mapping. A row says the
 * key's name, its kind, where its value goes in a Recipe, its default and valid range.
 * The loader (recipe.c) walks the YAML document against these tables, so adding a key is
 * one row here (plus its RecipeField) and a new schema version is one more table set.
 */
#ifndef KDC_RECIPE_SCHEMA_H
#define KDC_RECIPE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "recipes/recipe.h"

typedef enum {
    FIELD_MAP,         /* a nested mapping: children */
    FIELD_INT,         /* int */
    FIELD_U64,         /* uint64_t, non-negative integer */
    FIELD_REAL,        /* double */
    FIELD_REAL_LIST,   /* double[max_items] + int count at count_offset; a number or a list */
    FIELD_ENUM,        /* an enum stored as int: the index of the text in choices */
    FIELD_NAMES,       /* const char *const * + int count at count_offset; a name or a list */
    FIELD_GLOB_WIDTHS, /* const WidthOverride * + int count at count_offset; a mapping glob: number */
    FIELD_FILE_IN,     /* char *: a readable file, relative to the recipe's folder */
    FIELD_FILE_OUT,    /* char *: a file to write, its folder must exist */
} FieldKind;

/* Valid values of a number (or of each entry of a list). */
typedef struct FieldRange {
    bool has_lo, lo_open; /* lo_open: value > lo rather than >= lo */
    bool has_hi, hi_open;
    double lo, hi;
} FieldRange;

typedef struct SchemaField {
    const char *name; /* NULL ends a table */
    FieldKind kind;
    RecipeField id;
    size_t offset;       /* of the value in Recipe */
    size_t count_offset; /* FIELD_REAL_LIST, FIELD_NAMES, FIELD_GLOB_WIDTHS: of the int count */
    int max_items;       /* FIELD_REAL_LIST */
    bool required;
    double def; /* default: the number, the enum index, or the list's single entry */
    FieldRange range; /* FIELD_GLOB_WIDTHS: of each number */
    const char *const *choices;         /* FIELD_ENUM, NULL-terminated */
    const struct SchemaField *children; /* FIELD_MAP */
    const char *help;                   /* what the key is, for "missing key" messages */
} SchemaField;

/* The top-level table of a schema version, or NULL if this kdc does not read it. */
const SchemaField *recipe_schema_top(int version);
int recipe_schema_oldest(void);
int recipe_schema_newest(void);

#endif
