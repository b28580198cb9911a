/* recipes/recipe_schema.h - the recipe schema as data (internal to recipes/).
 *
 * A schema is a tree of SchemaField tables, one table per YAML mapping. A row says the
 * key's name, its kind, where its value goes in a Recipe, its default and valid range.
 * The loader (recipe.c) walks the YAML document against these tables, so adding a key is
 * one row here (plus its RecipeField) and a new schema version is one more table set.
 * Checks that involve more than one key are rules, in recipe_rules.c.
 */
#ifndef KDC_RECIPE_SCHEMA_H
#define KDC_RECIPE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "recipes/recipe.h"

/* Offsets are of the value in the struct the row's table describes: the Recipe for the
 * top-level table and the mappings under it, the entry's struct for the children of a
 * list of mappings (FIELD_LIST, FIELD_AUTO_LIST). */
typedef enum {
    FIELD_MAP,         /* a nested mapping: children, offsets in the same struct as the row's */
    FIELD_MAP_ENABLE,  /* FIELD_MAP whose presence (even {}) sets the bool at flag_offset */
    FIELD_LIST,        /* a list of 1..max_items mappings, each an elem_size struct (see below) */
    FIELD_AUTO_LIST,   /* choices[0] (e.g. auto), setting the bool at flag_offset, or a FIELD_LIST */
    FIELD_INT,         /* int */
    FIELD_U64,         /* uint64_t, non-negative integer */
    FIELD_REAL,        /* double */
    FIELD_REAL_LIST,   /* double[max_items] + int count at count_offset; a number or a list */
    FIELD_ENUM,        /* an enum stored as int: choice_values[i] (or i) for the text choices[i] */
    FIELD_BOOL,        /* bool: false or true */
    FIELD_NAME,        /* char *: one non-empty name, malloc'ed */
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
    size_t offset;       /* of the value (FIELD_LIST: of the first entry's struct) */
    size_t count_offset; /* FIELD_REAL_LIST, FIELD_NAMES, FIELD_GLOB_WIDTHS, FIELD_*LIST: of the int count */
    int max_items;       /* FIELD_REAL_LIST, FIELD_*LIST */
    bool required;
    /* A sibling key that may be written instead of this one, never with it; it satisfies
     * required. Both rows name each other. */
    const char *alternative;
    double def; /* default: the number, the stored enum value, or the list's single entry */
    /* FIELD_REAL: the default is the double at def_from in the Recipe (another key), copied
     * once the whole file is read. */
    bool inherits;
    size_t def_from;
    FieldRange range;                   /* FIELD_GLOB_WIDTHS: of each number */
    const char *const *choices;         /* FIELD_ENUM, FIELD_AUTO_LIST: NULL-terminated */
    const int *choice_values;           /* FIELD_ENUM: stored for each choice; NULL: its index */
    const struct SchemaField *children; /* FIELD_MAP*, FIELD_*LIST */
    /* FIELD_MAP: a scalar written instead of the mapping is the value of this child
     * (output: PATH for output: {path: PATH}); NULL: the mapping only. */
    const char *scalar_child;
    size_t flag_offset;                 /* FIELD_MAP_ENABLE, FIELD_AUTO_LIST: of the bool */
    /* FIELD_*LIST: each entry is a struct of elem_size bytes holding int line, col at
     * line_offset (where the entry's mapping starts). */
    size_t elem_size;
    size_t line_offset;
    /* FIELD_*LIST: the child FIELD_ENUM whose value decides which of the other children an
     * entry may have (their kinds masks), and what an entry is called in messages. */
    const char *selector;
    const char *entry_noun;
    /* A child of a list with a selector: bit v set when the key applies to entries whose
     * selector has the value v; 0: to every entry. */
    unsigned kinds;
    const char *help; /* what the key is, for "missing key" messages */
} SchemaField;

/* The top-level table of a schema version, or NULL if this kdc does not read it. */
const SchemaField *recipe_schema_top(int version);
int recipe_schema_oldest(void);
int recipe_schema_newest(void);

#endif
