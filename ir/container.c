/* container.c - packed copies, comparison and descriptions of sequences and
 * optionals (see container.h). One walk serves both sizing and copying: a
 * Packer without a base only counts the bytes it would take.
 */
#include "ir/container.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *holds_name(Holds h)
{
    return h == HOLDS_SEQUENCE ? "a sequence" : h == HOLDS_OPTIONAL ? "an optional" : "a tensor";
}

typedef struct Packer {
    uint8_t *base; /* NULL: count only */
    size_t at;
} Packer;

static void *take(Packer *pk, size_t bytes, size_t align)
{
    pk->at = (pk->at + align - 1) & ~(align - 1);
    void *p = pk->base ? pk->base + pk->at : NULL;
    pk->at += bytes;
    return p;
}

static void pack_strings(Packer *pk, const Tensor *src, Tensor *dst)
{
    int64_t n = tensor_numel(src);
    Bytes *entries = take(pk, (size_t)(n ? n : 1) * sizeof(Bytes), alignof(Bytes));
    for (int64_t i = 0; i < n; i++) {
        uint8_t *chars = take(pk, src->strings[i].len, 1);
        if (!pk->base)
            continue;
        if (src->strings[i].len)
            memcpy(chars, src->strings[i].data, src->strings[i].len);
        entries[i] = (Bytes){chars, src->strings[i].len};
    }
    if (dst)
        dst->strings = entries;
}

/* Fills dst (NULL when counting) with the parts of src beyond its header. */
static void pack_body(Packer *pk, const Tensor *src, Tensor *dst)
{
    if (dst) {
        *dst = *src;
        dst->data = NULL;
        dst->strings = NULL;
        dst->items = NULL;
    }
    if (src->holds != HOLDS_TENSOR) {
        Tensor *items = take(pk, (size_t)src->n_items * sizeof(Tensor), alignof(Tensor));
        if (dst)
            dst->items = items;
        for (int i = 0; i < src->n_items; i++)
            pack_body(pk, &src->items[i], items ? &items[i] : NULL);
        return;
    }
    if (src->dtype == DT_STRING) {
        pack_strings(pk, src, dst);
        return;
    }
    void *data = take(pk, src->nbytes ? src->nbytes : 1, 64);
    if (dst) {
        dst->data = data;
        if (src->nbytes)
            memcpy(data, src->data, src->nbytes);
    }
}

size_t container_packed_bytes(const Tensor *v)
{
    Packer pk = {NULL, 0};
    take(&pk, sizeof(Tensor), alignof(Tensor));
    pack_body(&pk, v, NULL);
    return pk.at;
}

Tensor *container_pack(const Tensor *v, void *block)
{
    /* offsets are aligned from the block's start: as aligned as the block */
    Packer pk = {block, 0};
    Tensor *head = take(&pk, sizeof(Tensor), alignof(Tensor));
    pack_body(&pk, v, head);
    return head;
}

Tensor *container_copy(const Tensor *v)
{
    void *block = aligned_alloc(64, (container_packed_bytes(v) + 63) & ~(size_t)63);
    return block ? container_pack(v, block) : NULL;
}

static bool same_data(const Tensor *a, const Tensor *b)
{
    int64_t n = tensor_numel(a);
    if (a->dtype != DT_STRING)
        return a->nbytes == b->nbytes && (!a->nbytes || !memcmp(a->data, b->data, a->nbytes));
    for (int64_t i = 0; i < n; i++)
        if (a->strings[i].len != b->strings[i].len ||
            (a->strings[i].len && memcmp(a->strings[i].data, b->strings[i].data, a->strings[i].len)))
            return false;
    return true;
}

bool container_equal(const Tensor *a, const Tensor *b)
{
    if (a->holds != b->holds || a->dtype != b->dtype)
        return false;
    if (a->holds != HOLDS_TENSOR) {
        if (a->n_items != b->n_items)
            return false;
        for (int i = 0; i < a->n_items; i++)
            if (!container_equal(&a->items[i], &b->items[i]))
                return false;
        return true;
    }
    if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]))
        return false;
    return same_data(a, b);
}

void container_describe(const Tensor *v, char *buf, size_t n)
{
    if (v->holds == HOLDS_SEQUENCE) {
        snprintf(buf, n, "sequence of %d %s tensor%s", v->n_items, dtype_name(v->dtype), v->n_items == 1 ? "" : "s");
        return;
    }
    if (v->holds == HOLDS_OPTIONAL) {
        if (v->n_items == 0) {
            snprintf(buf, n, "optional (empty)");
            return;
        }
        char inner[96];
        container_describe(&v->items[0], inner, sizeof inner);
        snprintf(buf, n, "optional (%s)", inner);
        return;
    }
    size_t k = (size_t)snprintf(buf, n, "%s[", dtype_name(v->dtype));
    for (int i = 0; i < v->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)v->dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}
