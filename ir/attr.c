/* attr.c - typed lookup of node attributes with defaults (see ir.h). */
#include "ir/ir.h"

#include <string.h>

const Attr *node_attr(const Node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

int64_t node_attr_int(const Node *n, const char *name, int64_t dflt)
{
    const Attr *a = node_attr(n, name);
    return a && a->kind == ATTR_INT ? a->i : dflt;
}

float node_attr_float(const Node *n, const char *name, float dflt)
{
    const Attr *a = node_attr(n, name);
    return a && a->kind == ATTR_FLOAT ? a->f : dflt;
}

const int64_t *node_attr_ints(const Node *n, const char *name, int *count)
{
    const Attr *a = node_attr(n, name);
    if (!a || a->kind != ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *node_attr_floats(const Node *n, const char *name, int *count)
{
    const Attr *a = node_attr(n, name);
    if (!a || a->kind != ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

const char *node_attr_string(const Node *n, const char *name, const char *dflt)
{
    const Attr *a = node_attr(n, name);
    if (!a || a->kind != ATTR_STRING)
        return dflt;
    return arena_strndup(n->graph->arena, (const char *)a->s.data, a->s.len);
}
