/* onnx_export.h - writing the kdc IR back out as an ONNX model (protobuf).
 *
 * Everything the frontend imported is written back: opsets, names, metadata,
 * doc strings, types, value_info, attributes, and the opaque parts kept as
 * packed bytes. Tensors are written as raw_data (strings as string_data);
 * producer_name/version become "kdc"/KDC_VERSION. With onnx_import this is
 * the second of the two rooms that see protobuf-c types.
 */
#ifndef KDC_ONNX_EXPORT_H
#define KDC_ONNX_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

/* Writes m to path through a temporary file and rename (backend/atomic_file.h):
 * on failure the path is left as it was. */
Status onnx_export_file(const Model *m, const char *path, Diag *d);

/* Serializes m into a malloc'ed buffer (*buf, *len); the caller frees *buf. */
Status onnx_export_buffer(const Model *m, uint8_t **buf, size_t *len, Diag *d);

#endif
