/* arena.h - bump allocator owning everything a Graph holds.
 *
 * Nodes, values, names, attributes and tensor data of a model live in one
 * arena and are freed together. Allocations are zeroed and 64-byte aligned
 * when asked, so tensor data can be handed to BLAS directly.
 */
#ifndef KDC_ARENA_H
#define KDC_ARENA_H

#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;
typedef struct Arena {
    ArenaChunk *head;
    size_t total;
} Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed memory; NULL only when the system is out of memory. */
void *arena_alloc(Arena *a, size_t size);
void *arena_alloc_aligned(Arena *a, size_t size, size_t align);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
void *arena_memdup(Arena *a, const void *p, size_t n);

#endif
