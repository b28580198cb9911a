/* strnorm.h - StringNormalizer's stop-word matching, shared by its shape
 * function (ir/infer_misc.c counts the kept elements of a known input) and
 * its kernel (runtime/op_string.c), so both decide alike (as conv_geom.h is
 * shared for Conv). */
#ifndef KDC_STRNORM_H
#define KDC_STRNORM_H

#include "ir/ir.h"

/* c with an ASCII capital letter made small; other bytes as they are. */
int strnorm_ascii_lower(int c);
/* Whether s is one of the `stopwords` attribute's strings (stops may be NULL):
 * ASCII letters match in either case unless case_sensitive (the runtime
 * refuses other letters where case matters). */
bool strnorm_is_stop_word(const Attr *stops, Bytes s, bool case_sensitive);

#endif
