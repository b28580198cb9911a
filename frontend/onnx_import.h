/* onnx_import.h - reading ONNX model files (protobuf) into the kdc IR.
 *
 * The frontend is one of the two rooms that see protobuf-c types; callers
 * only see Model (ir/ir.h). Every failure is a one-line Diag that starts with
 * the file name, e.g.
 *   "model.onnx: initializer 'w': raw_data holds 10 bytes but dims [4,4] of float need 64"
 */
#ifndef KDC_ONNX_IMPORT_H
#define KDC_ONNX_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

/* Reads and imports the model at path; external tensor data is looked up
 * relative to the folder holding the file. On success *out owns a new Model
 * (free with model_free); on failure *out is NULL. */
Status onnx_import_file(const char *path, Model **out, Diag *d);

/* Imports a serialized ModelProto held in memory. path_for_errors names the
 * model in messages; base_dir_for_external_data is the folder external data
 * locations are relative to (NULL: a model that uses external data fails). */
Status onnx_import_buffer(const uint8_t *buf, size_t len, const char *path_for_errors,
                          const char *base_dir_for_external_data, Model **out, Diag *d);

#endif
