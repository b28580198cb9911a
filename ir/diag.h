/* diag.h - status codes and diagnostics shared by every room.
 *
 * Fallible functions return a Status and, on failure, fill a Diag with one
 * line that names the file, node or recipe position and the problem. Only
 * cli/ prints a Diag and chooses the exit code.
 */
#ifndef KDC_DIAG_H
#define KDC_DIAG_H

#include <stdarg.h>

typedef enum { KDC_OK = 0, KDC_ERR = 1 } Status;

typedef struct Diag {
    char msg[1024];
} Diag;

/* Formats the message into d (if d is not NULL) and returns KDC_ERR. */
Status diag_error(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
Status diag_verror(Diag *d, const char *fmt, va_list ap);

/* Prefixes the existing message with "prefix: " (e.g. a file name). */
Status diag_prefix(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
