/* einsum_geom.h - Einsum's equation, parsed: which label each axis of each
 * operand and of the output carries. Shape inference (ir/infer_misc.c) and
 * the runtime (runtime/op_einsum.c, k_einsum.c) both parse through here, so
 * they agree on the output's labels.
 *
 * Labels are numbered in ASCII order (A-Z 0..25, a-z 26..51) so that the
 * implicit output (no "->") is simply the ascending label ids. The axes an
 * ellipsis stands for get ids EINSUM_ELLIPSIS + j, right-aligned across
 * operands as numpy broadcasting aligns them, and come first in an implicit
 * output. Plain C, no IR types: runtime kernels may use it. */
#ifndef KDC_EINSUM_GEOM_H
#define KDC_EINSUM_GEOM_H

#include <stddef.h>

#include "ir/diag.h"

#define EINSUM_MAX_RANK 8
#define EINSUM_MAX_OPERANDS 16
#define EINSUM_ELLIPSIS 52
#define EINSUM_MAX_LABELS (EINSUM_ELLIPSIS + EINSUM_MAX_RANK)

typedef struct EinsumEq {
    int n_in;
    int rank[EINSUM_MAX_OPERANDS];
    int label[EINSUM_MAX_OPERANDS][EINSUM_MAX_RANK];
    int out_rank;
    int out_label[EINSUM_MAX_RANK];
} EinsumEq;

/* Parses equation against the operands' ranks. Fails (d filled with the
 * problem only; the caller prefixes the node) on a malformed equation, a
 * term whose letter count does not fit its operand's rank, or an output
 * label no input carries. */
Status einsum_parse(const char *equation, int n_in, const int *ranks, EinsumEq *eq, Diag *d);

#endif
