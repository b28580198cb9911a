/* container.h - ONNX's sequences and optionals as values: a Tensor whose
 * `holds` is HOLDS_SEQUENCE (its items are the elements, all tensors of its
 * dtype) or HOLDS_OPTIONAL (no item, or one tensor or sequence). They enter
 * and leave plans like tensors (plan_build_with_values binds them, the
 * conformance runner reads them from SequenceProto / OptionalProto files)
 * and the runtime keeps them immutable, so values may share items.
 *
 * Copies are packed: the header, every item and all element data in one
 * block, so one free() (or the plan owning the block) releases everything.
 */
#ifndef KDC_IR_CONTAINER_H
#define KDC_IR_CONTAINER_H

#include "ir/ir.h"

/* "a tensor", "a sequence", "an optional". */
const char *holds_name(Holds h);
/* Bytes a packed deep copy of v takes (tensors included). */
size_t container_packed_bytes(const Tensor *v);
/* Writes a deep copy of v into block (container_packed_bytes of room; data
 * inside is as aligned as the block, up to 64 bytes); returns the copy's
 * header, which is block. */
Tensor *container_pack(const Tensor *v, void *block);
/* A packed deep copy in one malloc'd block (free() releases it), or NULL. */
Tensor *container_copy(const Tensor *v);
/* Same holds, types, dims and contents, items compared in order. */
bool container_equal(const Tensor *a, const Tensor *b);
/* "sequence of 3 float tensors", "optional (empty)", "float[2,3]". */
void container_describe(const Tensor *v, char *buf, size_t n);

#endif
