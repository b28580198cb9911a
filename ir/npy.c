/* npy.c - the .npy header reader shared by frontend/ and train/ (see npy.h).
 *
 * Format (numpy.lib.format, versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY",
 * major and minor version bytes, a little-endian header length (2 bytes in v1,
 * 4 in v2/v3), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 * padded with spaces and ended by '\n', then the raw elements. Owns the small
 * dict parser: it takes the dict forms NumPy writes (either quote style, any
 * key order, trailing commas, Python 2 'L' suffixes) and reports anything else
 * with its offset in the header, so a hand-made file can be fixed.
 */
#include "ir/npy.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

enum { SEEN_DESCR = 1, SEEN_FORTRAN = 2, SEEN_SHAPE = 4, SEEN_ALL = 7 };

/* Reading position inside the header dict and what it has found so far;
 * errors name the file and the offset. */
typedef struct NpyCursor {
    const char *start, *p, *end;
    const char *path;
    Diag *d;
    NpyHeader *h;
    bool fortran_order;
    unsigned seen; /* SEEN_* bits */
} NpyCursor;

static Status npy_syntax(NpyCursor *c, const char *expected)
{
    return diag_error(c->d, "%s: bad .npy header: expected %s at header offset %ld", c->path, expected,
                      (long)(c->p - c->start));
}

static void npy_skip_space(NpyCursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool npy_accept(NpyCursor *c, char ch)
{
    npy_skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static Status npy_string(NpyCursor *c, char *buf, size_t cap)
{
    npy_skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return npy_syntax(c, "a quoted string");
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= cap)
            return npy_syntax(c, "a shorter string");
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return npy_syntax(c, "a closing quote");
    c->p++;
    buf[n] = 0;
    return KDC_OK;
}

static bool npy_word(NpyCursor *c, const char *word)
{
    size_t n = strlen(word);
    npy_skip_space(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

static Status npy_int(NpyCursor *c, int64_t *value)
{
    npy_skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return npy_syntax(c, "a non-negative integer");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c->p - '0', &v))
            return diag_error(c->d, "%s: .npy shape dimension overflows", c->path);
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') /* Python 2 long suffix */
        c->p++;
    *value = v;
    return KDC_OK;
}

/* (), (3,), (2, 3) and (2, 3,) are all forms NumPy or a hand writer uses. */
static Status npy_shape(NpyCursor *c)
{
    NpyHeader *h = c->h;
    if (!npy_accept(c, '('))
        return npy_syntax(c, "'(' starting the shape");
    h->ndims = 0;
    while (!npy_accept(c, ')')) {
        if (h->ndims == NPY_MAX_DIMS)
            return diag_error(c->d, "%s: .npy array has more than %d dims", c->path, NPY_MAX_DIMS);
        if (npy_int(c, &h->shape[h->ndims++]))
            return KDC_ERR;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, ')'))
                return npy_syntax(c, "',' or ')' in the shape");
            break;
        }
    }
    return KDC_OK;
}

static Status npy_value(NpyCursor *c, const char *key)
{
    if (strcmp(key, "descr") == 0) {
        c->seen |= SEEN_DESCR;
        npy_skip_space(c);
        if (c->p < c->end && *c->p == '[')
            return diag_error(c->d, "%s: structured .npy dtypes are not supported", c->path);
        return npy_string(c, c->h->descr, sizeof c->h->descr);
    }
    if (strcmp(key, "fortran_order") == 0) {
        c->seen |= SEEN_FORTRAN;
        if (npy_word(c, "True"))
            c->fortran_order = true;
        else if (npy_word(c, "False"))
            c->fortran_order = false;
        else
            return npy_syntax(c, "True or False");
        return KDC_OK;
    }
    if (strcmp(key, "shape") == 0) {
        c->seen |= SEEN_SHAPE;
        return npy_shape(c);
    }
    return diag_error(c->d, "%s: unexpected key '%s' in the .npy header", c->path, key);
}

static Status npy_dict(NpyCursor *c)
{
    char key[32];
    if (!npy_accept(c, '{'))
        return npy_syntax(c, "'{'");
    while (!npy_accept(c, '}')) {
        if (npy_string(c, key, sizeof key))
            return KDC_ERR;
        if (!npy_accept(c, ':'))
            return npy_syntax(c, "':'");
        if (npy_value(c, key))
            return KDC_ERR;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, '}'))
                return npy_syntax(c, "',' or '}'");
            break;
        }
    }
    npy_skip_space(c);
    if (c->p != c->end)
        return npy_syntax(c, "only padding after the dict");
    if (c->seen != SEEN_ALL)
        return diag_error(c->d, "%s: .npy header lacks 'descr', 'fortran_order' or 'shape'", c->path);
    return KDC_OK;
}

/* The bytes before the dict: magic, version, header length. Sets *dict_at
 * and *dict_len to where the dict lies inside buf. */
static Status npy_preamble(const uint8_t *buf, size_t len, const char *path, size_t *dict_at, size_t *dict_len, Diag *d)
{
    if (len < 6 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return diag_error(d, "%s: not a .npy file (bad magic)", path);
    if (len < 8)
        return diag_error(d, "%s: truncated .npy header (no version)", path);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return diag_error(d, "%s: unsupported .npy version %d.%d (1.0, 2.0 and 3.0 are)", path, major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (len < prefix)
        return diag_error(d, "%s: truncated .npy header (no header length)", path);
    size_t header_len = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (major > 1)
        header_len |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (header_len > len - prefix)
        return diag_error(d, "%s: truncated .npy header (%zu bytes claimed, %zu present)", path, header_len,
                          len - prefix);
    *dict_at = prefix;
    *dict_len = header_len;
    return KDC_OK;
}

Status npy_header_read(const uint8_t *buf, size_t len, const char *path, NpyHeader *h, Diag *d)
{
    size_t dict_at = 0, dict_len = 0;
    memset(h, 0, sizeof *h);
    if (npy_preamble(buf, len, path, &dict_at, &dict_len, d))
        return KDC_ERR;
    const char *dict = (const char *)buf + dict_at;
    NpyCursor c = {.start = dict, .p = dict, .end = dict + dict_len, .path = path, .d = d, .h = h};
    if (npy_dict(&c))
        return KDC_ERR;
    if (c.fortran_order)
        return diag_error(d, "%s: Fortran-order .npy arrays are not supported (save with numpy.ascontiguousarray)",
                          path);
    h->data_offset = dict_at + dict_len;
    return KDC_OK;
}

Status npy_data_check(const NpyHeader *h, size_t len, size_t elem_size, const char *path, int64_t *count, Diag *d)
{
    assert(h->data_offset <= len);
    size_t data_len = len - h->data_offset;
    int64_t n = 1;
    for (int i = 0; i < h->ndims; i++)
        if (__builtin_mul_overflow(n, h->shape[i], &n))
            return diag_error(d, "%s: .npy shape overflows", path);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)n, (uint64_t)elem_size, &bytes) || bytes > data_len)
        return diag_error(d,
                          "%s: header claims %lld elements of %zu bytes but the file has only %zu bytes of data "
                          "(truncated?)",
                          path, (long long)n, elem_size, data_len);
    if (bytes < data_len)
        return diag_error(d, "%s: %zu bytes of unexpected data after the .npy elements", path,
                          data_len - (size_t)bytes);
    *count = n;
    return KDC_OK;
}
