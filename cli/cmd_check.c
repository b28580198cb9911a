/* cmd_check.c - `kdc check RECIPE`: validates a recipe and the files it
 * names without running anything, and prints what it asks for on one line.
 * (Globs and output names are checked against the teacher by `kdc compress`,
 * which loads it.) */
#include "cli/cli.h"

#include "recipes/recipe.h"

#include <stdio.h>
#include <string.h>

/* "kd x0.9 + ce x0.1 + hint x100" (", online" when the teacher trains too), or the
 * classic pair of alpha and T. */
static const char *describe_losses(const Recipe *r, char *buf, size_t n)
{
    const DistillOptions *o = &r->distill;
    size_t used = 0;
    if (o->n_losses == 0) {
        snprintf(buf, n, "kd (T %g) x%g + ce x%g", o->temperature, o->alpha, 1 - o->alpha);
        return buf;
    }
    buf[0] = '\0';
    for (int i = 0; i < o->n_losses && used < n; i++) {
        snprintf(buf + used, n - used, "%s%s x%g", i ? " + " : "", recipe_loss_kind_name(o->losses[i].kind),
                 o->losses[i].weight);
        used += strlen(buf + used);
    }
    if (o->online.enabled && used < n)
        snprintf(buf + used, n - used, ", online");
    return buf;
}

int cmd_check(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        puts("usage: kdc check RECIPE\n\nValidates the recipe (keys, types, ranges) and that the files it names\n"
             "exist, without running it. Errors name RECIPE:LINE:COL.");
        return EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage("check", "expected exactly one RECIPE");
    Recipe r = {0};
    Diag d = {{0}};
    if (recipe_load(argv[1], &r, &d))
        return cli_fail(&d);
    char student[256], losses[512], teachers[32] = "";
    if (r.n_teachers > 1)
        snprintf(teachers, sizeof teachers, " (+%d more)", r.n_teachers - 1);
    printf("%s: ok (teacher %s%s; student %s; loss %s; %d epoch%s; output %s)\n", argv[1], r.teacher, teachers,
           recipe_describe_student(&r, student, sizeof student), describe_losses(&r, losses, sizeof losses),
           r.train.epochs, r.train.epochs == 1 ? "" : "s", r.output);
    recipe_free(&r);
    return EXIT_OK;
}
