/* cmd_check.c - `kdc check RECIPE`: validates a recipe and the files it
 * names without running anything, and prints what it asks for on one line.
 * (Globs and output names are checked against the teacher by `kdc compress`,
 * which loads it.) */
#include "cli/cli.h"

#include "recipes/recipe.h"

#include <stdio.h>
#include <string.h>

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
    char student[256];
    printf("%s: ok (teacher %s; student %s; %d epoch%s; output %s)\n", argv[1], r.teacher,
           recipe_describe_student(&r, student, sizeof student), r.train.epochs, r.train.epochs == 1 ? "" : "s",
           r.output);
    recipe_free(&r);
    return EXIT_OK;
}
