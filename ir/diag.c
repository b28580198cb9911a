/* diag.c - formatting of one-line diagnostics (see diag.h). */
#include "diag.h"

#include <stdio.h>
#include <string.h>

Status diag_verror(Diag *d, const char *fmt, va_list ap)
{
    if (d)
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    return KDC_ERR;
}

Status diag_error(Diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, fmt, ap);
    va_end(ap);
    return KDC_ERR;
}

Status diag_prefix(Diag *d, const char *fmt, ...)
{
    if (!d)
        return KDC_ERR;
    char prefix[512], old[sizeof d->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, d->msg, sizeof old);
    size_t np = strlen(prefix), no = strnlen(old, sizeof old - 1);
    if (np > sizeof d->msg - 3)
        np = sizeof d->msg - 3;
    if (no > sizeof d->msg - 3 - np)
        no = sizeof d->msg - 3 - np; /* long messages are cut at the end */
    memcpy(d->msg, prefix, np);
    memcpy(d->msg + np, ": ", 2);
    memcpy(d->msg + np + 2, old, no);
    d->msg[np + 2 + no] = '\0';
    return KDC_ERR;
}
