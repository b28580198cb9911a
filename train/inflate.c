/* inflate.c - gzip (RFC 1952) + DEFLATE (RFC 1951) decoder, written from the RFCs.
 *
 * Owns the bit reader, the canonical Huffman tables (a 10-bit lookup table with a
 * bit-by-bit fallback for longer codes), the growable output buffer and the gzip
 * member framing (header flags, CRC-32, ISIZE). Every read is bounds checked
 * against the input and every write against the output capacity; any malformed
 * stream is reported through the Diag with the byte offset where it went wrong.
 */
#include "train/inflate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CODE_BITS 15
#define FAST_BITS 10
#define FAST_SIZE (1u << FAST_BITS)
#define MAX_LITLEN_SYMBOLS 288
#define MAX_DIST_SYMBOLS 32
#define LENGTH_CODES 29
#define DIST_CODES 30
/* DEFLATE's densest encoding (258-byte matches on 1-bit codes) bounds the expansion. */
#define MAX_EXPANSION 1032

/* Canonical Huffman decoding table. fast[] is indexed by the next FAST_BITS input
 * bits (first bit in the lowest position); an entry holds (length << 9) | symbol,
 * or 0 when the code is longer than FAST_BITS (or unused). */
typedef struct Huffman {
    uint16_t fast[FAST_SIZE];
    uint16_t count[MAX_CODE_BITS + 1];
    uint16_t symbol[MAX_LITLEN_SYMBOLS];
} Huffman;

typedef struct Inflater {
    const uint8_t *in;
    size_t in_len, pos;
    uint64_t bits; /* unread bits, next bit lowest */
    unsigned nbits;
    uint8_t *out;
    size_t out_len, out_cap;
    size_t stream_start; /* matches may not reach before the current stream */
    const char *name;
    Diag *d;
    Huffman lit, dist;
} Inflater;

static const uint16_t LENGTH_BASE[LENGTH_CODES] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
                                                   15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
                                                   67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LENGTH_EXTRA[LENGTH_CODES] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DIST_BASE[DIST_CODES] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DIST_EXTRA[DIST_CODES] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                               6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* Order in which code-length code lengths are transmitted (RFC 1951 3.2.7). */
static const uint8_t CODE_LENGTH_ORDER[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                              11, 4,  12, 3, 13, 2, 14, 1, 15};

/* ---- errors ---- */

static size_t inf_byte_offset(const Inflater *z)
{
    return z->pos - z->nbits / 8;
}

static Status inf_corrupt(Inflater *z, const char *what)
{
    return diag_error(z->d, "%s: corrupt compressed data at byte %zu: %s", z->name,
                      inf_byte_offset(z), what);
}

static Status inf_truncated(Inflater *z)
{
    return diag_error(z->d, "%s: compressed data is truncated (input ends at byte %zu)", z->name,
                      z->in_len);
}

/* ---- bit reader ---- */

static inline void bits_refill(Inflater *z)
{
    while (z->nbits <= 56 && z->pos < z->in_len) {
        z->bits |= (uint64_t)z->in[z->pos++] << z->nbits;
        z->nbits += 8;
    }
}

static inline bool bits_need(Inflater *z, unsigned n)
{
    if (z->nbits < n)
        bits_refill(z);
    return z->nbits >= n;
}

/* Callers have checked bits_need(z, n). */
static inline uint32_t bits_take(Inflater *z, unsigned n)
{
    uint32_t v = (uint32_t)(z->bits & ((UINT64_C(1) << n) - 1));
    z->bits >>= n;
    z->nbits -= n;
    return v;
}

/* Drops the bits up to the next byte boundary and hands whole unread bytes back
 * to the input, so byte-oriented parsing can resume at z->pos. */
static void bits_align_and_rewind(Inflater *z)
{
    bits_take(z, z->nbits & 7);
    z->pos -= z->nbits / 8;
    z->bits = 0;
    z->nbits = 0;
}

/* ---- output ---- */

static Status out_reserve(Inflater *z, size_t extra)
{
    if (z->out_cap - z->out_len >= extra)
        return KDC_OK;
    if (extra > SIZE_MAX / 2 - z->out_len)
        return diag_error(z->d, "%s: decompressed data is too large", z->name);
    size_t need = z->out_len + extra;
    size_t cap = z->out_cap ? z->out_cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *grown = realloc(z->out, cap);
    if (!grown)
        return diag_error(z->d, "%s: out of memory growing the output to %zu bytes", z->name,
                          cap);
    z->out = grown;
    z->out_cap = cap;
    return KDC_OK;
}

/* ---- Huffman tables ---- */

static unsigned reverse_bits(unsigned code, unsigned len)
{
    unsigned r = 0;
    for (unsigned i = 0; i < len; i++) {
        r = (r << 1) | (code & 1);
        code >>= 1;
    }
    return r;
}

static void huff_fill_fast(Huffman *h)
{
    memset(h->fast, 0, sizeof h->fast);
    unsigned code = 0, index = 0;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++) {
        for (unsigned i = 0; i < h->count[len]; i++, code++, index++) {
            if (len > FAST_BITS)
                continue;
            uint16_t entry = (uint16_t)(len << 9 | h->symbol[index]);
            for (unsigned j = reverse_bits(code, len); j < FAST_SIZE; j += 1u << len)
                h->fast[j] = entry;
        }
        code <<= 1;
    }
}

/* Builds the canonical code for lengths[0..n). Returns a negative value if the
 * code is over-subscribed, 0 if complete, positive if incomplete. */
static int huff_build(Huffman *h, const uint8_t *lengths, unsigned n)
{
    uint16_t offsets[MAX_CODE_BITS + 2];
    memset(h->count, 0, sizeof h->count);
    for (unsigned s = 0; s < n; s++)
        h->count[lengths[s]]++;
    h->count[0] = 0;
    int left = 1;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0)
            return left;
    }
    offsets[1] = 0;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++)
        offsets[len + 1] = (uint16_t)(offsets[len] + h->count[len]);
    for (unsigned s = 0; s < n; s++)
        if (lengths[s])
            h->symbol[offsets[lengths[s]]++] = (uint16_t)s;
    huff_fill_fast(h);
    return left;
}

/* An incomplete code is only legal when it is empty (a block of literals has no
 * distance codes) or a lone 1-bit code (RFC 1951 3.2.7; zlib accepts the same
 * for literal/length codes). Decoding an unassigned code is an error. */
static bool huff_usable(const Huffman *h, int left)
{
    if (left < 0)
        return false;
    if (left == 0)
        return true;
    for (unsigned len = 2; len <= MAX_CODE_BITS; len++)
        if (h->count[len])
            return false;
    return h->count[1] <= 1;
}

static int huff_decode_slow(Inflater *z, const Huffman *h)
{
    bits_refill(z);
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++) {
        if (len > z->nbits) {
            inf_truncated(z);
            return -1;
        }
        code |= (int)((z->bits >> (len - 1)) & 1);
        int count = h->count[len];
        if (code - first < count) {
            bits_take(z, len);
            return h->symbol[index + code - first];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    inf_corrupt(z, "invalid Huffman code");
    return -1;
}

/* Returns the next symbol, or -1 with the Diag filled. */
static inline int huff_decode(Inflater *z, const Huffman *h)
{
    if (z->nbits < MAX_CODE_BITS)
        bits_refill(z);
    uint16_t entry = h->fast[z->bits & (FAST_SIZE - 1)];
    unsigned len = entry >> 9;
    if (entry && len <= z->nbits) {
        bits_take(z, len);
        return entry & 511;
    }
    return huff_decode_slow(z, h);
}

/* ---- blocks ---- */

static Status inflate_stored(Inflater *z)
{
    bits_align_and_rewind(z);
    if (z->in_len - z->pos < 4)
        return inf_truncated(z);
    const uint8_t *p = z->in + z->pos;
    unsigned len = p[0] | (unsigned)p[1] << 8;
    unsigned nlen = p[2] | (unsigned)p[3] << 8;
    if (len != (~nlen & 0xffffu))
        return inf_corrupt(z, "stored block length does not match its complement");
    z->pos += 4;
    if (z->in_len - z->pos < len)
        return inf_truncated(z);
    if (out_reserve(z, len))
        return KDC_ERR;
    memcpy(z->out + z->out_len, z->in + z->pos, len);
    z->out_len += len;
    z->pos += len;
    return KDC_OK;
}

static Status copy_match(Inflater *z, int length_code)
{
    if (length_code >= LENGTH_CODES)
        return inf_corrupt(z, "invalid length symbol");
    if (!bits_need(z, LENGTH_EXTRA[length_code]))
        return inf_truncated(z);
    size_t len = LENGTH_BASE[length_code] + bits_take(z, LENGTH_EXTRA[length_code]);
    int dist_code = huff_decode(z, &z->dist);
    if (dist_code < 0)
        return KDC_ERR;
    if (dist_code >= DIST_CODES)
        return inf_corrupt(z, "invalid distance symbol");
    if (!bits_need(z, DIST_EXTRA[dist_code]))
        return inf_truncated(z);
    size_t dist = DIST_BASE[dist_code] + bits_take(z, DIST_EXTRA[dist_code]);
    if (dist > z->out_len - z->stream_start)
        return inf_corrupt(z, "match distance reaches before the start of the data");
    if (out_reserve(z, len))
        return KDC_ERR;
    uint8_t *dst = z->out + z->out_len;
    const uint8_t *src = dst - dist;
    if (dist >= len) {
        memcpy(dst, src, len);
    } else {
        /* Overlapping copy repeats the last dist bytes, so it must go byte by byte. */
        for (size_t i = 0; i < len; i++)
            dst[i] = src[i];
    }
    z->out_len += len;
    return KDC_OK;
}

static Status inflate_codes(Inflater *z)
{
    for (;;) {
        int sym = huff_decode(z, &z->lit);
        if (sym < 0)
            return KDC_ERR;
        if (sym < 256) {
            if (z->out_len == z->out_cap && out_reserve(z, 1))
                return KDC_ERR;
            z->out[z->out_len++] = (uint8_t)sym;
        } else if (sym == 256) {
            return KDC_OK;
        } else if (copy_match(z, sym - 257)) {
            return KDC_ERR;
        }
    }
}

static void build_fixed_tables(Inflater *z)
{
    uint8_t lengths[MAX_LITLEN_SYMBOLS];
    unsigned s = 0;
    for (; s < 144; s++)
        lengths[s] = 8;
    for (; s < 256; s++)
        lengths[s] = 9;
    for (; s < 280; s++)
        lengths[s] = 7;
    for (; s < MAX_LITLEN_SYMBOLS; s++)
        lengths[s] = 8;
    huff_build(&z->lit, lengths, MAX_LITLEN_SYMBOLS);
    memset(lengths, 5, MAX_DIST_SYMBOLS);
    huff_build(&z->dist, lengths, MAX_DIST_SYMBOLS);
}

/* Reads the run-length coded literal/length and distance code lengths. */
static Status read_code_lengths(Inflater *z, const Huffman *cl, uint8_t *lengths, unsigned total)
{
    unsigned index = 0;
    while (index < total) {
        int sym = huff_decode(z, cl);
        if (sym < 0)
            return KDC_ERR;
        if (sym < 16) {
            lengths[index++] = (uint8_t)sym;
            continue;
        }
        unsigned extra = sym == 16 ? 2 : sym == 17 ? 3 : 7;
        if (!bits_need(z, extra))
            return inf_truncated(z);
        unsigned repeat = bits_take(z, extra) + (sym == 18 ? 11 : 3);
        uint8_t value = 0;
        if (sym == 16) {
            if (index == 0)
                return inf_corrupt(z, "length repeat with no previous length");
            value = lengths[index - 1];
        }
        if (repeat > total - index)
            return inf_corrupt(z, "code length repeat runs past the end of the table");
        memset(lengths + index, value, repeat);
        index += repeat;
    }
    return KDC_OK;
}

static Status read_dynamic_tables(Inflater *z)
{
    uint8_t lengths[MAX_LITLEN_SYMBOLS + MAX_DIST_SYMBOLS] = {0};
    Huffman code_lengths;
    if (!bits_need(z, 14))
        return inf_truncated(z);
    unsigned nlit = bits_take(z, 5) + 257, ndist = bits_take(z, 5) + 1;
    unsigned ncode = bits_take(z, 4) + 4;
    if (nlit > 286 || ndist > DIST_CODES)
        return inf_corrupt(z, "too many literal/length or distance codes");
    for (unsigned i = 0; i < ncode; i++) {
        if (!bits_need(z, 3))
            return inf_truncated(z);
        lengths[CODE_LENGTH_ORDER[i]] = (uint8_t)bits_take(z, 3);
    }
    if (huff_build(&code_lengths, lengths, 19) != 0)
        return inf_corrupt(z, "invalid code-length code");
    memset(lengths, 0, 19);
    if (read_code_lengths(z, &code_lengths, lengths, nlit + ndist))
        return KDC_ERR;
    if (lengths[256] == 0)
        return inf_corrupt(z, "block has no end-of-block code");
    if (!huff_usable(&z->lit, huff_build(&z->lit, lengths, nlit)))
        return inf_corrupt(z, "invalid literal/length code");
    if (!huff_usable(&z->dist, huff_build(&z->dist, lengths + nlit, ndist)))
        return inf_corrupt(z, "invalid distance code");
    return KDC_OK;
}

/* Decodes one DEFLATE stream starting at z->pos; leaves z->pos after its last byte. */
static Status inflate_stream(Inflater *z)
{
    z->stream_start = z->out_len;
    unsigned final = 0;
    while (!final) {
        if (!bits_need(z, 3))
            return inf_truncated(z);
        final = bits_take(z, 1);
        unsigned type = bits_take(z, 2);
        Status st;
        if (type == 0) {
            st = inflate_stored(z);
        } else if (type == 1) {
            build_fixed_tables(z);
            st = inflate_codes(z);
        } else if (type == 2) {
            st = read_dynamic_tables(z);
            if (st == KDC_OK)
                st = inflate_codes(z);
        } else {
            st = inf_corrupt(z, "invalid block type 3");
        }
        if (st)
            return st;
    }
    bits_align_and_rewind(z);
    return KDC_OK;
}

/* ---- gzip framing ---- */

/* Slicing-by-8 tables: table[0] is the classic byte table, table[k][n] advances
 * table[k-1][n] by one more zero byte, so eight input bytes fold in per step. */
static void crc_tables_build(uint32_t table[8][256])
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            table[k][n] = table[0][table[k - 1][n] & 0xff] ^ (table[k - 1][n] >> 8);
}

uint32_t gz_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    /* Built per call (a few thousand operations) to stay free of shared mutable state. */
    uint32_t t[8][256];
    crc_tables_build(t);
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ (p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
              t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
              t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; n > 0; n--, p++)
        crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return ~crc;
}

bool gz_has_magic(const uint8_t *in, size_t in_len)
{
    return in_len >= 2 && in[0] == 0x1f && in[1] == 0x8b;
}

static uint32_t read_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Advances *h past a zero-terminated header string; false if it is unterminated. */
static bool skip_cstring(const uint8_t *p, size_t avail, size_t *h)
{
    const uint8_t *nul = memchr(p + *h, 0, avail - *h);
    if (!nul)
        return false;
    *h = (size_t)(nul - p) + 1;
    return true;
}

enum { GZ_FHCRC = 2, GZ_FEXTRA = 4, GZ_FNAME = 8, GZ_FCOMMENT = 16, GZ_RESERVED = 0xe0 };

static Status gz_read_header(Inflater *z)
{
    const uint8_t *p = z->in + z->pos;
    size_t avail = z->in_len - z->pos, h = 10;
    if (avail < h)
        return inf_truncated(z);
    if (p[2] != 8)
        return inf_corrupt(z, "unsupported gzip compression method (only deflate is defined)");
    unsigned flags = p[3];
    if (flags & GZ_RESERVED)
        return inf_corrupt(z, "reserved gzip header flags are set");
    if (flags & GZ_FEXTRA) {
        if (avail - h < 2 || avail - h - 2 < (size_t)(p[h] | p[h + 1] << 8))
            return inf_truncated(z);
        h += 2 + (size_t)(p[h] | p[h + 1] << 8);
    }
    if ((flags & GZ_FNAME) && !skip_cstring(p, avail, &h))
        return inf_truncated(z);
    if ((flags & GZ_FCOMMENT) && !skip_cstring(p, avail, &h))
        return inf_truncated(z);
    if (flags & GZ_FHCRC) {
        if (avail - h < 2)
            return inf_truncated(z);
        if ((gz_crc32(0, p, h) & 0xffff) != (uint32_t)(p[h] | p[h + 1] << 8))
            return inf_corrupt(z, "gzip header CRC mismatch");
        h += 2;
    }
    z->pos += h;
    return KDC_OK;
}

static Status gz_member(Inflater *z)
{
    if (gz_read_header(z))
        return KDC_ERR;
    size_t start = z->out_len;
    if (inflate_stream(z))
        return KDC_ERR;
    if (z->in_len - z->pos < 8)
        return inf_truncated(z);
    uint32_t want_crc = read_le32(z->in + z->pos);
    uint32_t want_size = read_le32(z->in + z->pos + 4);
    if (gz_crc32(0, z->out + start, z->out_len - start) != want_crc)
        return inf_corrupt(z, "CRC-32 mismatch, the data is damaged");
    if ((uint32_t)(z->out_len - start) != want_size)
        return inf_corrupt(z, "decompressed size does not match the gzip trailer");
    z->pos += 8;
    return KDC_OK;
}

/* Starting capacity: the trailer's ISIZE is only a hint (mod 2^32, last member
 * only, and possibly hostile), so it is capped by the largest size the input
 * could expand to. */
static size_t initial_capacity(const uint8_t *in, size_t in_len)
{
    size_t bound = in_len > SIZE_MAX / MAX_EXPANSION ? SIZE_MAX / 2 : in_len * MAX_EXPANSION;
    size_t hint = in_len >= 18 ? read_le32(in + in_len - 4) : 0;
    if (hint > bound)
        hint = bound;
    return hint < 64 ? 64 : hint;
}

static Status inflater_start(Inflater *z, const uint8_t *in, size_t in_len, const char *name,
                             size_t cap, Diag *d)
{
    memset(z, 0, sizeof *z);
    z->in = in;
    z->in_len = in_len;
    z->name = name ? name : "<memory>";
    z->d = d;
    return out_reserve(z, cap);
}

Status gz_inflate_raw(const uint8_t *in, size_t in_len, const char *name, uint8_t **out,
                      size_t *out_len, size_t *consumed, Diag *d)
{
    Inflater *z = malloc(sizeof *z);
    if (!z)
        return diag_error(d, "%s: out of memory", name ? name : "<memory>");
    if (inflater_start(z, in, in_len, name, 4096, d) || inflate_stream(z))
        goto fail;
    *out = z->out;
    *out_len = z->out_len;
    if (consumed)
        *consumed = z->pos;
    free(z);
    return KDC_OK;
fail:
    free(z->out);
    free(z);
    return KDC_ERR;
}

Status gz_inflate_buffer(const uint8_t *in, size_t in_len, const char *name, uint8_t **out,
                         size_t *out_len, Diag *d)
{
    if (!name)
        name = "<memory>";
    if (!gz_has_magic(in, in_len))
        return diag_error(d, "%s: not gzip data (no 1f 8b magic)", name);
    Inflater *z = malloc(sizeof *z);
    if (!z)
        return diag_error(d, "%s: out of memory", name);
    if (inflater_start(z, in, in_len, name, initial_capacity(in, in_len), d))
        goto fail;
    do {
        if (!gz_has_magic(z->in + z->pos, z->in_len - z->pos)) {
            diag_error(d, "%s: %zu bytes of trailing garbage after the gzip data at byte %zu",
                       name, z->in_len - z->pos, z->pos);
            goto fail;
        }
        if (gz_member(z))
            goto fail;
    } while (z->pos < z->in_len);
    *out = z->out;
    *out_len = z->out_len;
    free(z);
    return KDC_OK;
fail:
    free(z->out);
    free(z);
    return KDC_ERR;
}

Status gz_read_file(const char *path, uint8_t **out, size_t *out_len, Diag *d)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 1 << 16;
    if (!f)
        return diag_error(d, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > 0)
            cap = (size_t)size + 1; /* +1 so a regular file is read in one pass to EOF */
        rewind(f);
    }
    for (;;) {
        if (len == cap && cap > SIZE_MAX / 2) {
            diag_error(d, "%s: file is too large", path);
            goto fail;
        }
        cap = len == cap ? cap * 2 : cap;
        uint8_t *grown = realloc(buf, cap);
        if (!grown) {
            diag_error(d, "%s: out of memory reading the file", path);
            goto fail;
        }
        buf = grown;
        size_t want = cap - len, got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want)
            break; /* end of file or error */
    }
    if (ferror(f)) {
        diag_error(d, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    return KDC_OK;
fail:
    free(buf);
    fclose(f);
    return KDC_ERR;
}

Status gz_inflate_file(const char *path, uint8_t **out, size_t *out_len, Diag *d)
{
    uint8_t *raw;
    size_t raw_len;
    if (gz_read_file(path, &raw, &raw_len, d))
        return KDC_ERR;
    if (!gz_has_magic(raw, raw_len)) {
        *out = raw;
        *out_len = raw_len;
        return KDC_OK;
    }
    Status st = gz_inflate_buffer(raw, raw_len, path, out, out_len, d);
    free(raw);
    return st;
}
