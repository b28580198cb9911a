/* recipes/recipe_walk.c - walks a recipe's YAML tree against the schema tables.
 *
 * Owns everything the loader does by following SchemaField rows without knowing any key:
 * mappings (unknown, duplicate, alternative and missing keys), lists of mappings stored as
 * arrays of structs (entry counts, entry positions, and the selector that decides which
 * keys an entry may have), the defaults applied before the walk and the inherited ones
 * applied after it, and freeing what the rows own. Leaf values are stored by
 * recipe_values.c; rules across keys are in recipe_rules.c.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "recipes/recipe_loader.h"

/* Rows per schema table, for the per-mapping "seen" bookkeeping. */
enum { MAX_TABLE_ROWS = 32 };
/* Values a selector may take: the bits of a SchemaField's kinds mask. */
enum { MAX_SELECTOR_VALUES = 32 };

/* Where a mapping's values go and how messages name it. */
typedef struct Scope {
    void *base;              /* the struct the table's offsets are in */
    const char *ctx;         /* the mapping's dotted key, "" at the top level */
    const SchemaField *list; /* the list row when the mapping is one of its entries, else NULL */
} Scope;

static Status walk_mapping(const RecipeLoader *L, const yaml_node_t *map, const SchemaField *table, const Scope *s);

const yaml_node_t *recipe_find_value(const RecipeLoader *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = recipe_node(L, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return recipe_node(L, p->value);
    }
    return NULL;
}

static void *at(void *base, size_t offset)
{
    return (char *)base + offset;
}

/* Entry i of a list row's array. */
static void *entry_at(void *base, const SchemaField *f, int i)
{
    return at(base, f->offset + (size_t)i * f->elem_size);
}

/* " in 'data.train'", or "" at the top level. */
static const char *in_context(const char *ctx, char *buf, size_t size)
{
    if (*ctx)
        snprintf(buf, size, " in '%s'", ctx);
    else
        buf[0] = '\0';
    return buf;
}

static int table_names(const SchemaField *table, const char **names)
{
    int n = 0;
    for (; table[n].name; n++) {
        assert(n < MAX_TABLE_ROWS);
        names[n] = table[n].name;
    }
    return n;
}

/* The row named name; it must exist (the schema names its own rows). */
static int row_named(const SchemaField *table, const char *name)
{
    for (int i = 0; table[i].name; i++)
        if (!strcmp(table[i].name, name))
            return i;
    assert(!"row_named: the schema names a row it does not have");
    return -1;
}

/* "kind, weight, teacher": the keys of a table, for messages. */
static const char *table_keys(const SchemaField *table, char *buf, size_t size)
{
    const char *names[MAX_TABLE_ROWS];
    buf[0] = '\0';
    recipe_join_names(buf, size, names, table_names(table, names));
    return buf;
}

/* The row of key, or -1 after reporting an unknown key. */
static int find_row(const RecipeLoader *L, const yaml_node_t *key, const SchemaField *table, const char *ctx)
{
    const char *names[MAX_TABLE_ROWS];
    char got[QUOTE_MAX + 8], where[96], known[512] = "";
    int n = table_names(table, names);
    if (key->type != YAML_SCALAR_NODE) {
        recipe_fail(L, key, "keys must be names, got %s", recipe_describe(key, got, sizeof got));
        return -1;
    }
    const char *word = (const char *)key->data.scalar.value;
    for (int i = 0; i < n; i++)
        if (!strcmp(word, names[i]))
            return i;
    const char *near = recipe_closest(word, names, n);
    in_context(ctx, where, sizeof where);
    if (near) {
        recipe_fail(L, key, "unknown key %s%s (did you mean '%s'?)", recipe_describe(key, got, sizeof got), where,
                    near);
    } else {
        recipe_join_names(known, sizeof known, names, n);
        recipe_fail(L, key, "unknown key %s%s (known keys: %s)", recipe_describe(key, got, sizeof got), where, known);
    }
    return -1;
}

/* ---- values: mappings, lists, leaves ---- */

static Status store_map(const RecipeLoader *L, const SchemaField *f, const yaml_node_t *n, const Scope *s)
{
    char got[QUOTE_MAX + 8], keys[256], sub[96];
    if (n->type != YAML_MAPPING_NODE)
        return recipe_fail(L, n, "'%s' must be %s%s%sa mapping with keys %s, got %s", f->name,
                           f->scalar_child ? "a " : "", f->scalar_child ? f->scalar_child : "",
                           f->scalar_child ? " or " : "",
                           table_keys(f->children, keys, sizeof keys), recipe_describe(n, got, sizeof got));
    if (f->kind == FIELD_MAP_ENABLE)
        *(bool *)at(s->base, f->flag_offset) = true;
    snprintf(sub, sizeof sub, "%s%s%s", s->ctx, *s->ctx ? "." : "", f->name);
    return walk_mapping(L, n, f->children, &(Scope){s->base, sub, NULL});
}

/* choices[0] of a FIELD_AUTO_LIST, e.g. auto. */
static bool is_auto_word(const SchemaField *f, const yaml_node_t *n)
{
    return f->kind == FIELD_AUTO_LIST && n->type == YAML_SCALAR_NODE &&
           !strcmp((const char *)n->data.scalar.value, f->choices[0]);
}

/* Entry i of list f: a mapping walked into its own struct, which records where it starts. */
static Status store_entry(const RecipeLoader *L, const SchemaField *f, const yaml_node_t *n, int i, const Scope *s,
                          const char *sub)
{
    char got[QUOTE_MAX + 8], keys[256];
    if (n->type != YAML_MAPPING_NODE)
        return recipe_fail(L, n, "'%s' entries must be mappings with keys %s, got %s", f->name,
                           table_keys(f->children, keys, sizeof keys), recipe_describe(n, got, sizeof got));
    void *elem = entry_at(s->base, f, i);
    SrcPos pos = recipe_pos(n);
    memcpy(at(elem, f->line_offset), &pos.line, sizeof pos.line);
    memcpy(at(elem, f->line_offset + sizeof(int)), &pos.col, sizeof pos.col);
    *(int *)at(s->base, f->count_offset) = i + 1;
    return walk_mapping(L, n, f->children, &(Scope){elem, sub, f});
}

static Status store_list(const RecipeLoader *L, const SchemaField *f, const yaml_node_t *n, const Scope *s)
{
    char got[QUOTE_MAX + 8], keys[256], sub[96];
    if (is_auto_word(f, n)) {
        *(bool *)at(s->base, f->flag_offset) = true;
        *(int *)at(s->base, f->count_offset) = 0;
        return KDC_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return recipe_fail(L, n, "'%s' must be %s%sa list of 1 to %d mappings with keys %s, got %s", f->name,
                           f->kind == FIELD_AUTO_LIST ? f->choices[0] : "", f->kind == FIELD_AUTO_LIST ? " or " : "",
                           f->max_items, table_keys(f->children, keys, sizeof keys),
                           recipe_describe(n, got, sizeof got));
    yaml_node_item_t *first = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    if (end - first < 1 || end - first > f->max_items)
        return recipe_fail(L, n, "'%s' must have 1 to %d entries, got %d", f->name, f->max_items, (int)(end - first));
    if (f->kind == FIELD_AUTO_LIST)
        *(bool *)at(s->base, f->flag_offset) = false;
    snprintf(sub, sizeof sub, "%s%s%s", s->ctx, *s->ctx ? "." : "", f->name);
    for (yaml_node_item_t *it = first; it < end; it++)
        if (store_entry(L, f, recipe_node(L, *it), (int)(it - first), s, sub))
            return KDC_ERR;
    return KDC_OK;
}

static Status store_value(const RecipeLoader *L, const SchemaField *f, const yaml_node_t *n, const Scope *s)
{
    char label[64];
    /* A key of list entries is where it is first written. */
    if (L->r->pos[f->id].line == 0)
        L->r->pos[f->id] = recipe_pos(n);
    if (f->scalar_child && n->type == YAML_SCALAR_NODE) { /* messages name the key written */
        const SchemaField *child = &f->children[row_named(f->children, f->scalar_child)];
        if (L->r->pos[child->id].line == 0)
            L->r->pos[child->id] = recipe_pos(n);
        snprintf(label, sizeof label, "'%s'", f->name);
        return recipe_store_leaf(L, child, s->base, label, n);
    }
    if (f->kind == FIELD_MAP || f->kind == FIELD_MAP_ENABLE)
        return store_map(L, f, n, s);
    if (f->kind == FIELD_LIST || f->kind == FIELD_AUTO_LIST)
        return store_list(L, f, n, s);
    snprintf(label, sizeof label, "'%s'", f->name);
    return recipe_store_leaf(L, f, s->base, label, n);
}

/* ---- mappings ---- */

/* The selector's value (an enum) of the entry map, read before its other keys so each of
 * them can be checked against it wherever it is written; -1 when the entry has none. */
static Status read_selector(const RecipeLoader *L, const yaml_node_t *map, const SchemaField *table, const Scope *s,
                            int *value)
{
    *value = -1;
    if (!s->list || !s->list->selector)
        return KDC_OK;
    const SchemaField *sel = &table[row_named(table, s->list->selector)];
    const yaml_node_t *n = recipe_find_value(L, map, sel->name);
    assert(sel->kind == FIELD_ENUM && s->list->entry_noun);
    if (!n)
        return KDC_OK;
    if (store_value(L, sel, n, s))
        return KDC_ERR;
    *value = *(int *)at(s->base, sel->offset);
    assert(*value >= 0 && *value < MAX_SELECTOR_VALUES);
    return KDC_OK;
}

/* The word of an enum row's stored value. */
static const char *choice_word(const SchemaField *f, int value)
{
    for (int i = 0; f->choices[i]; i++)
        if ((f->choice_values ? f->choice_values[i] : i) == value)
            return f->choices[i];
    return "?";
}

/* A key an entry of this selector value may not have: "key 'smoothing' does not apply to
 * a loss of kind kd (it is an option of ce)". */
static Status check_applies(const RecipeLoader *L, const SchemaField *table, int row, const yaml_node_t *key,
                            const Scope *s, int selected)
{
    const SchemaField *f = &table[row];
    if (selected < 0 || !f->kinds || (f->kinds & (1u << selected)))
        return KDC_OK;
    const SchemaField *sel = &table[row_named(table, s->list->selector)];
    const char *owners[MAX_SELECTOR_VALUES];
    int n = 0;
    for (int i = 0; sel->choices[i] && n < MAX_SELECTOR_VALUES; i++) {
        int v = sel->choice_values ? sel->choice_values[i] : i;
        if (v >= 0 && v < MAX_SELECTOR_VALUES && (f->kinds & (1u << v)))
            owners[n++] = sel->choices[i];
    }
    char list[256] = "";
    recipe_join_names(list, sizeof list, owners, n);
    return recipe_fail(L, key, "key '%s' does not apply to a %s of %s %s (it is an option of %s)", f->name,
                       s->list->entry_noun, sel->name, choice_word(sel, selected), list);
}

/* A key whose alternative was given earlier in the same mapping. */
static Status check_alternative(const RecipeLoader *L, const SchemaField *table, const yaml_node_t *const *seen,
                                int row, const yaml_node_t *key)
{
    if (!table[row].alternative)
        return KDC_OK;
    const yaml_node_t *other = seen[row_named(table, table[row].alternative)];
    if (!other)
        return KDC_OK;
    SrcPos first = recipe_pos(other);
    return recipe_fail(L, key, "'%s' and '%s' (%d:%d) are alternatives; give one of them", table[row].name,
                       table[row].alternative, first.line, first.col);
}

static Status check_missing(const RecipeLoader *L, const yaml_node_t *map, const SchemaField *table,
                            const yaml_node_t *const *seen, const char *ctx)
{
    char where[96], alt[80];
    for (int i = 0; table[i].name; i++) {
        const char *other = table[i].alternative;
        if (!table[i].required || seen[i] || (other && seen[row_named(table, other)]))
            continue;
        alt[0] = '\0';
        if (other)
            snprintf(alt, sizeof alt, " or '%s'", other);
        return recipe_fail(L, map, "missing required key '%s'%s%s (%s)", table[i].name, alt,
                           in_context(ctx, where, sizeof where), table[i].help);
    }
    return KDC_OK;
}

static Status walk_mapping(const RecipeLoader *L, const yaml_node_t *map, const SchemaField *table, const Scope *s)
{
    const yaml_node_t *seen[MAX_TABLE_ROWS] = {0};
    char where[96];
    int selected;
    if (read_selector(L, map, table, s, &selected))
        return KDC_ERR;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = recipe_node(L, p->key);
        int row = find_row(L, key, table, s->ctx);
        if (row < 0)
            return KDC_ERR;
        if (seen[row]) {
            SrcPos first = recipe_pos(seen[row]);
            return recipe_fail(L, key, "duplicate key '%s'%s (first given at %d:%d)", table[row].name,
                               in_context(s->ctx, where, sizeof where), first.line, first.col);
        }
        if (check_alternative(L, table, seen, row, key) || check_applies(L, table, row, key, s, selected))
            return KDC_ERR;
        seen[row] = key;
        bool is_selector = s->list && s->list->selector && !strcmp(table[row].name, s->list->selector);
        if (!is_selector && store_value(L, &table[row], recipe_node(L, p->value), s))
            return KDC_ERR; /* the selector was stored by read_selector */
    }
    return check_missing(L, map, table, seen, s->ctx);
}

Status recipe_walk(const RecipeLoader *L, const yaml_node_t *root, const SchemaField *top)
{
    return walk_mapping(L, root, top, &(Scope){L->r, "", NULL});
}

/* ---- positions inside list entries, for rules ---- */

SrcPos recipe_value_pos(const RecipeLoader *L, RecipeField f, int entry)
{
    char key[128], *save = NULL;
    const yaml_node_t *n = yaml_document_get_root_node((yaml_document_t *)&L->doc);
    snprintf(key, sizeof key, "%s", recipe_field_key(f));
    for (char *part = strtok_r(key, ".", &save); part && n; part = strtok_r(NULL, ".", &save)) {
        if (n->type == YAML_SEQUENCE_NODE) {
            if (entry < 0 || entry >= n->data.sequence.items.top - n->data.sequence.items.start)
                return (SrcPos){0, 0};
            n = recipe_node(L, n->data.sequence.items.start[entry]);
        }
        n = n->type == YAML_MAPPING_NODE ? recipe_find_value(L, n, part) : NULL;
    }
    return n ? recipe_pos(n) : (SrcPos){0, 0};
}

/* ---- defaults and ownership ---- */

void recipe_apply_defaults(void *base, const SchemaField *table)
{
    for (const SchemaField *f = table; f->name; f++) {
        void *p = at(base, f->offset);
        switch (f->kind) {
        case FIELD_MAP:
        case FIELD_MAP_ENABLE: recipe_apply_defaults(base, f->children); break;
        case FIELD_AUTO_LIST:
            *(bool *)at(base, f->flag_offset) = f->def != 0;
            /* fall through */
        case FIELD_LIST: /* every entry gets its defaults, used or not */
            for (int i = 0; i < f->max_items; i++)
                recipe_apply_defaults(entry_at(base, f, i), f->children);
            break;
        case FIELD_INT:
        case FIELD_ENUM: *(int *)p = (int)f->def; break;
        case FIELD_BOOL: *(bool *)p = f->def != 0; break;
        case FIELD_U64: *(uint64_t *)p = (uint64_t)f->def; break;
        case FIELD_REAL:
            /* NaN (never a valid value) marks "not written" until recipe_apply_inherited. */
            *(double *)p = f->inherits ? NAN : f->def;
            break;
        case FIELD_REAL_LIST:
            ((double *)p)[0] = f->def;
            *(int *)at(base, f->count_offset) = 1;
            break;
        case FIELD_NAME:
        case FIELD_NAMES:
        case FIELD_GLOB_WIDTHS:
        case FIELD_FILE_IN:
        case FIELD_FILE_OUT: break; /* none: NULL, as recipe_load left them */
        }
    }
}

void recipe_apply_inherited(Recipe *r, void *base, const SchemaField *table)
{
    for (const SchemaField *f = table; f->name; f++) {
        if (f->kind == FIELD_MAP || f->kind == FIELD_MAP_ENABLE)
            recipe_apply_inherited(r, base, f->children);
        if (f->kind == FIELD_LIST || f->kind == FIELD_AUTO_LIST)
            for (int i = 0; i < f->max_items; i++)
                recipe_apply_inherited(r, entry_at(base, f, i), f->children);
        if (!f->inherits)
            continue;
        assert(f->kind == FIELD_REAL);
        double *p = at(base, f->offset);
        if (isnan(*p))
            *p = *(const double *)at(r, f->def_from);
    }
}

/* The one block a FIELD_NAMES or FIELD_GLOB_WIDTHS value was copied into. */
static void free_block(void *base, const SchemaField *f)
{
    void *p = at(base, f->offset);
    if (f->kind == FIELD_NAMES) {
        const char *const **names = p;
        free((void *)*names);
        *names = NULL;
    } else {
        const WidthOverride **widths = p;
        free((void *)*widths);
        *widths = NULL;
    }
    *(int *)at(base, f->count_offset) = 0;
}

void recipe_free_owned(void *base, const SchemaField *table)
{
    for (const SchemaField *f = table; f->name; f++) {
        switch (f->kind) {
        case FIELD_MAP:
        case FIELD_MAP_ENABLE: recipe_free_owned(base, f->children); break;
        case FIELD_LIST:
        case FIELD_AUTO_LIST:
            /* Every entry: a failed load may have filled more than its count says. */
            for (int i = 0; i < f->max_items; i++)
                recipe_free_owned(entry_at(base, f, i), f->children);
            break;
        case FIELD_NAMES:
        case FIELD_GLOB_WIDTHS: free_block(base, f); break;
        case FIELD_NAME:
        case FIELD_FILE_IN:
        case FIELD_FILE_OUT: {
            /* Alternative rows may store into one slot: it is freed once, then NULL. */
            char **p = at(base, f->offset);
            free(*p);
            *p = NULL;
            break;
        }
        default: break;
        }
    }
}
