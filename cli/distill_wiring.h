/* distill_wiring.h - from a recipe's distill.losses to loss terms bound to graph outputs.
 *
 * For every loss entry and every teacher it reads, the feature pairs are resolved (pairs:
 * auto by stage, or by value name or glob), the teacher value is tapped, and the student
 * value is tapped after an adapter where the loss needs the teacher's shape (hint and
 * correlation always, attention when the spatial sizes differ); then each teacher is cut
 * to its logits and taps. The student keeps its taps and adapters while it trains;
 * distill_unwire removes them all again before the student is written.
 */
#ifndef KDC_CLI_DISTILL_WIRING_H
#define KDC_CLI_DISTILL_WIRING_H

#include "passes/probes.h"
#include "recipes/recipe.h"
#include "train/trainer.h"

typedef struct DistillWiring {
    LossSpec classic[2]; /* the kd and ce specs when the recipe gives no losses */
    int n_terms;
    LossTerm terms[LOSS_MAX_TERMS];
    ProbeSet student_probes;
    ProbeSet teacher_probes[DISTILL_MAX_TEACHERS];
    int n_adapters; /* adapters added to the student */
} DistillWiring;

/* Wires r's losses into teachers[0..n) (tapped and cut) and student (tapped, adapted);
 * errors name the recipe line of the loss entry or pair. */
Status distill_wire(const Recipe *r, Graph *const *teachers, int n_teachers, Graph *student, DistillWiring *w,
                    Diag *d);

/* Strips the student's taps and adapters: it is again exactly the untapped student. */
Status distill_unwire(DistillWiring *w, Graph *student, Diag *d);

/* One line per term, e.g. "  loss hint        weight 100    teacher 1 'relu2' <- 'kdc.adapter/relu2/conv'". */
void distill_wiring_print(const DistillWiring *w, Graph *const *teachers, const Graph *student, void *file);

#endif
