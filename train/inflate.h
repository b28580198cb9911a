/* inflate.h - gzip (RFC 1952) and DEFLATE (RFC 1951) decoding for dataset files.
 *
 * kdc reads compressed datasets (the Fashion-MNIST IDX files ship as .gz) without
 * linking zlib: the project's dependency list is fixed. The decoder checks every
 * bound, so malformed or hostile input is an error and never a crash; the output
 * buffer grows with the data actually produced (DEFLATE cannot expand more than
 * ~1032:1), so a lying header cannot trigger a huge allocation.
 */
#ifndef KDC_TRAIN_INFLATE_H
#define KDC_TRAIN_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"

/* True when the buffer starts with the gzip magic 1f 8b. */
bool gz_has_magic(const uint8_t *in, size_t in_len);

/* CRC-32 as used by gzip (reflected polynomial 0xEDB88320); start with crc = 0. */
uint32_t gz_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Decodes one raw DEFLATE stream starting at in[0]. On success *out (malloc'd,
 * caller frees) holds the data and *consumed the number of input bytes used,
 * counting the final partial byte. name labels diagnostics. */
Status gz_inflate_raw(const uint8_t *in, size_t in_len, const char *name, uint8_t **out,
                      size_t *out_len, size_t *consumed, Diag *d);

/* Decodes a complete gzip file image: one or more members, each with its CRC-32
 * and ISIZE checked; anything after the last member is an error. */
Status gz_inflate_buffer(const uint8_t *in, size_t in_len, const char *name, uint8_t **out,
                         size_t *out_len, Diag *d);

/* Reads the whole file at path. If it starts with the gzip magic it is decoded,
 * otherwise the raw bytes are returned unchanged. *out is malloc'd (never NULL
 * on success, even for an empty file); the caller frees it. */
Status gz_inflate_file(const char *path, uint8_t **out, size_t *out_len, Diag *d);

/* Reads a whole file into a malloc'd buffer without decoding it. */
Status gz_read_file(const char *path, uint8_t **out, size_t *out_len, Diag *d);

#endif
