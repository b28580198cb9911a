/* atomic_file.h - crash-safe file writes for models and checkpoints.
 *
 * Data goes to a temporary file in the target's folder; commit flushes it to
 * disk and renames it over the target. On any error the temporary file is
 * removed, so the target path only ever holds a complete old or new file.
 */
#ifndef KDC_ATOMIC_FILE_H
#define KDC_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "ir/diag.h"

typedef struct AtomicFile {
    FILE *f;        /* write here between open and commit/abort */
    char *path;     /* the target */
    char *tmp_path; /* the temporary next to it */
} AtomicFile;

/* Creates the temporary file next to path. On failure af holds nothing. */
Status atomic_file_open(AtomicFile *af, const char *path, Diag *d);

/* Flushes and fsyncs the temporary, then renames it over the target. Any
 * write error since open (or here) fails the commit and removes the
 * temporary. Releases af either way. */
Status atomic_file_commit(AtomicFile *af, Diag *d);

/* Closes and removes the temporary; the target is left as it was. */
void atomic_file_abort(AtomicFile *af);

/* Writes len bytes to path atomically (open, write, commit). */
Status atomic_file_write(const char *path, const void *data, size_t len, Diag *d);

#endif
