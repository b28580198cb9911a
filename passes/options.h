/* passes/options.h - options of the passes that derive the student from the teacher.
 *
 * Plain option structs, no behaviour. recipes/ fills them from a recipe file (and checks
 * ranges and applies defaults there, see recipes/recipe_schema.c); tests may fill them by
 * hand.
 */
#ifndef KDC_PASSES_OPTIONS_H
#define KDC_PASSES_OPTIONS_H

typedef struct StudentOptions {
    /* Fraction of the teacher's channels each prunable channel group keeps, in (0, 1];
     * 1 keeps the teacher's width. */
    double width;
} StudentOptions;

#endif
