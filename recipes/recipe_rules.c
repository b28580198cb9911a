/* recipes/recipe_rules.c - the checks of a recipe that involve more than one key.
 *
 * Owns every rule no single schema row can state (keys that exclude each other, a key that
 * needs another, a value bounded by another key's), one function each, run in the order
 * of RULES once the whole file is read and every default is applied. Each failure is one
 * line at the position of the key to change. Also gathers the single 'teacher' form into
 * Recipe.teachers, since the rules about teachers read that list.
 */
#include <stdbool.h>
#include <string.h>

#include "recipes/recipe_loader.h"

static bool written(const RecipeLoader *L, RecipeField f)
{
    return L->r->pos[f].line > 0;
}

/* The key's own name: "params" for student.params. */
static const char *leaf_key(RecipeField f)
{
    const char *key = recipe_field_key(f), *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* Two keys that may not be given together: the message points at the later one and
 * names where the earlier one is. */
static Status check_exclusive(const RecipeLoader *L, RecipeField a, RecipeField b, const char *why)
{
    if (!written(L, a) || !written(L, b))
        return KDC_OK;
    SrcPos pa = L->r->pos[a], pb = L->r->pos[b];
    bool a_later = pa.line > pb.line || (pa.line == pb.line && pa.col > pb.col);
    RecipeField later = a_later ? a : b, earlier = a_later ? b : a;
    SrcPos first = L->r->pos[earlier];
    return recipe_fail_pos(L, L->r->pos[later], "'%s' and '%s' (%d:%d) %s", leaf_key(later), leaf_key(earlier),
                           first.line, first.col, why);
}

static SrcPos entry_pos(int line, int col)
{
    return (SrcPos){line, col};
}

static bool has_weighted_loss(const DistillOptions *o, LossKind kind)
{
    for (int i = 0; i < o->n_losses; i++)
        if (o->losses[i].kind == kind && o->losses[i].weight > 0)
            return true;
    return false;
}

/* The single form is a list of one: its path is already in teachers[0] (the 'teacher'
 * row stores there), with the default weight. */
static void gather_teachers(Recipe *r)
{
    if (r->n_teachers == 0 && r->teachers[0].model) {
        r->n_teachers = 1;
        r->teachers[0].pos = r->pos[RECIPE_TEACHER];
    }
    r->teacher = r->teachers[0].model;
}

/* ---- data and student ---- */

/* A per-channel mean and std must agree on the channel count. */
static Status rule_normalize_channels(const RecipeLoader *L)
{
    const DataNormalize *nz = &L->r->data.normalize;
    if (nz->n_mean > 1 && nz->n_std > 1 && nz->n_mean != nz->n_std)
        return recipe_fail_pos(L, L->r->pos[RECIPE_DATA_NORMALIZE_STD],
                               "'std' has %d entries but 'mean' has %d; give one per channel, or one for all",
                               nz->n_std, nz->n_mean);
    return KDC_OK;
}

/* A budget replaces the width (it is searched). */
static Status rule_student_size(const RecipeLoader *L)
{
    const char *both = "both size the student; give a width or a budget, not both";
    return check_exclusive(L, RECIPE_STUDENT_PARAMS, RECIPE_STUDENT_MACS, "are both budgets; give one of them") ||
                   check_exclusive(L, RECIPE_STUDENT_WIDTH, RECIPE_STUDENT_PARAMS, both) ||
                   check_exclusive(L, RECIPE_STUDENT_WIDTH, RECIPE_STUDENT_MACS, both)
               ? KDC_ERR
               : KDC_OK;
}

static Status rule_student_blocks(const RecipeLoader *L)
{
    const char *both = "both choose blocks; give one of them";
    return check_exclusive(L, RECIPE_STUDENT_DEPTH, RECIPE_STUDENT_DROP, both) ||
                   check_exclusive(L, RECIPE_STUDENT_DEPTH, RECIPE_STUDENT_DROP_ALTERNATE, both) ||
                   check_exclusive(L, RECIPE_STUDENT_DROP, RECIPE_STUDENT_DROP_ALTERNATE, both)
               ? KDC_ERR
               : KDC_OK;
}

/* Calibration runs only to measure. */
static Status rule_calibration_samples(const RecipeLoader *L)
{
    const StudentOptions *o = &L->r->student;
    bool measured = o->importance == IMPORTANCE_ACTIVATION || o->importance == IMPORTANCE_TAYLOR;
    if (written(L, RECIPE_STUDENT_CALIBRATION_SAMPLES) && !measured && !o->depth)
        return recipe_fail_pos(L, L->r->pos[RECIPE_STUDENT_CALIBRATION_SAMPLES],
                               "'calibration_samples' is used by depth and by importance activation and taylor "
                               "only; remove it, or use one of them");
    return KDC_OK;
}

/* ---- distill: losses and stages ---- */

/* A loss's teacher index names one of the recipe's teachers, which may be listed after it. */
static Status rule_loss_teacher_index(const RecipeLoader *L)
{
    const Recipe *r = L->r;
    for (int i = 0; i < r->distill.n_losses; i++)
        if (r->distill.losses[i].teacher > r->n_teachers)
            return recipe_fail_pos(L, recipe_value_pos(L, RECIPE_DISTILL_LOSSES_TEACHER, i),
                                   "'teacher' must be at most %d, the number of teachers, got %d", r->n_teachers,
                                   r->distill.losses[i].teacher);
    return KDC_OK;
}

/* alpha is the weight of the classic kd + ce pair; with a list every loss has its own. */
static Status rule_alpha_with_losses(const RecipeLoader *L)
{
    if (L->r->distill.n_losses > 0 && written(L, RECIPE_DISTILL_ALPHA))
        return recipe_fail_pos(L, L->r->pos[RECIPE_DISTILL_ALPHA],
                               "distill.alpha weighs kd against ce when distill.losses is not given; with "
                               "distill.losses give each loss its weight");
    return KDC_OK;
}

/* A loss of weight 0 everywhere trains nothing. */
static Status rule_loss_weights(const RecipeLoader *L)
{
    const DistillOptions *o = &L->r->distill;
    if (o->n_losses == 0)
        return KDC_OK;
    for (int i = 0; i < o->n_losses; i++)
        if (o->losses[i].weight > 0)
            return KDC_OK;
    return recipe_fail_pos(L, L->r->pos[RECIPE_DISTILL_LOSSES],
                           "every loss in 'losses' has weight 0; give at least one a weight > 0");
}

/* A hint stage trains on the hint losses alone: without one it would train nothing. */
static Status rule_hint_stage(const RecipeLoader *L)
{
    const DistillOptions *o = &L->r->distill;
    for (int i = 0; i < o->n_stages; i++)
        if (o->stages[i].kind == STAGE_HINT && !has_weighted_loss(o, LOSS_HINT))
            return recipe_fail_pos(L, entry_pos(o->stages[i].line, o->stages[i].col),
                                   "a hint stage trains the student on the hint losses alone, but 'losses' has no "
                                   "loss of kind hint with a weight above 0; add one");
    return KDC_OK;
}

/* ---- distill: teacher cache and online training ---- */

/* Cached outputs are those of un-augmented batches. */
static Status rule_cache_teacher_augment(const RecipeLoader *L)
{
    const AugmentOptions *a = &L->r->data.augment;
    bool augmented = a->crop_padding > 0 || a->flip || a->mixup > 0;
    if (L->r->distill.cache_teacher == SWITCH_ON && augmented)
        return recipe_fail_pos(L, L->r->pos[RECIPE_DISTILL_CACHE_TEACHER],
                               "cache_teacher: true needs un-augmented data: the teacher must see each augmented "
                               "batch");
    return KDC_OK;
}

static Status rule_cache_teacher_online(const RecipeLoader *L)
{
    if (L->r->distill.cache_teacher == SWITCH_ON && L->r->distill.online.enabled)
        return recipe_fail_pos(L, L->r->pos[RECIPE_DISTILL_CACHE_TEACHER],
                               "cache_teacher: true cannot be used with online: the teacher changes as it trains");
    return KDC_OK;
}

static Status rule_online_one_teacher(const RecipeLoader *L)
{
    if (L->r->distill.online.enabled && L->r->n_teachers > 1)
        return recipe_fail_pos(L, L->r->pos[RECIPE_DISTILL_ONLINE],
                               "online distillation trains one teacher with the student; 'teachers' (%d:%d) names %d",
                               L->r->pos[RECIPE_TEACHERS].line, L->r->pos[RECIPE_TEACHERS].col, L->r->n_teachers);
    return KDC_OK;
}

static Status rule_online_stages(const RecipeLoader *L)
{
    if (!L->r->distill.online.enabled)
        return KDC_OK;
    return check_exclusive(L, RECIPE_DISTILL_ONLINE, RECIPE_DISTILL_STAGES,
                           "cannot be combined: online distillation has no stages");
}

static Status rule_online_losses(const RecipeLoader *L)
{
    const DistillOptions *o = &L->r->distill;
    if (!o->online.enabled)
        return KDC_OK;
    for (int i = 0; i < o->n_losses; i++)
        if (o->losses[i].kind != LOSS_KD && o->losses[i].kind != LOSS_CE)
            return recipe_fail_pos(L, entry_pos(o->losses[i].line, o->losses[i].col),
                                   "online distillation trains both models on kd and ce; loss kind '%s' is not "
                                   "supported with it",
                                   recipe_loss_kind_name(o->losses[i].kind));
    return KDC_OK;
}

/* In this order: online's own rules come before the stage rule, which its combination
 * with stages would otherwise trip first with a less useful message. */
static Status (*const RULES[])(const RecipeLoader *L) = {
    rule_normalize_channels,   rule_student_size,      rule_student_blocks, rule_calibration_samples,
    rule_loss_teacher_index,   rule_alpha_with_losses, rule_loss_weights,   rule_online_one_teacher,
    rule_online_stages,        rule_online_losses,     rule_hint_stage,     rule_cache_teacher_augment,
    rule_cache_teacher_online,
};

Status recipe_check_rules(const RecipeLoader *L)
{
    gather_teachers(L->r);
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
        if (RULES[i](L))
            return KDC_ERR;
    return KDC_OK;
}
