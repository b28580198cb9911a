/* arena.c - chunked bump allocator (see arena.h). Large requests get a chunk
 * of their own so that big weight tensors do not waste the tail of a chunk. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (1u << 20)

struct ArenaChunk {
    ArenaChunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
};

Arena *arena_new(void)
{
    return calloc(1, sizeof(Arena));
}

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (ArenaChunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static ArenaChunk *chunk_new(size_t size)
{
    ArenaChunk *c = aligned_alloc(64, (sizeof(ArenaChunk) + size + 63) & ~(size_t)63);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void *arena_alloc_aligned(Arena *a, size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    if (align < 16)
        align = 16;
    ArenaChunk *c = a->head;
    size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || off + size > c->size) {
        size_t want = size + align > ARENA_CHUNK / 4 ? size + align : ARENA_CHUNK;
        ArenaChunk *n = chunk_new(want);
        if (!n)
            return NULL;
        if (want == ARENA_CHUNK || !c) {
            n->next = a->head;
            a->head = n;
        } else { /* keep the partly used chunk at the head */
            n->next = c->next;
            c->next = n;
        }
        c = n;
        off = 0;
    }
    void *p = c->data + off;
    c->used = off + size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

void *arena_alloc(Arena *a, size_t size)
{
    return arena_alloc_aligned(a, size, 16);
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

char *arena_strdup(Arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void *arena_memdup(Arena *a, const void *p, size_t n)
{
    void *q = arena_alloc_aligned(a, n, 64);
    if (q && n)
        memcpy(q, p, n);
    return q;
}
