/* sgd.c - the SGD update and the learning-rate schedules (see sgd.h).
 *
 * Arithmetic is float32 in PyTorch's order of operations so that short runs
 * can be compared with torch.optim.SGD step by step.
 */
#include "train/sgd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Status sgd_check(const SgdEntry *entries, int count, double momentum,
                        double weight_decay, bool nesterov, Diag *d)
{
    if (!(momentum >= 0 && isfinite(momentum)))
        return diag_error(d, "sgd: momentum must be >= 0, got %g", momentum);
    if (!(weight_decay >= 0 && isfinite(weight_decay)))
        return diag_error(d, "sgd: weight decay must be >= 0, got %g", weight_decay);
    if (nesterov && momentum == 0)
        return diag_error(d, "sgd: nesterov needs a momentum above 0");
    if (count < 0 || (count > 0 && !entries))
        return diag_error(d, "sgd: bad parameter list (%d entries)", count);
    for (int i = 0; i < count; i++)
        if (!entries[i].param || !entries[i].grad || entries[i].n < 0)
            return diag_error(d, "sgd: parameter entry %d is incomplete", i);
    return KDC_OK;
}

/* One allocation for every buffer the caller did not supply. */
static Status sgd_carve_buffers(Sgd *opt, Diag *d)
{
    size_t total = 0;
    for (int i = 0; i < opt->count; i++)
        if (!opt->entries[i].momentum)
            total += (size_t)opt->entries[i].n;
    if (total == 0)
        return KDC_OK;
    opt->momentum_block = calloc(total, sizeof *opt->momentum_block);
    if (!opt->momentum_block)
        return diag_error(d, "sgd: out of memory for %zu momentum values", total);
    float *next = opt->momentum_block;
    for (int i = 0; i < opt->count; i++)
        if (!opt->entries[i].momentum) {
            opt->entries[i].momentum = next;
            next += opt->entries[i].n;
        }
    return KDC_OK;
}

Status sgd_init(Sgd *opt, const SgdEntry *entries, int count, double momentum,
                double weight_decay, bool nesterov, Diag *d)
{
    memset(opt, 0, sizeof *opt);
    if (sgd_check(entries, count, momentum, weight_decay, nesterov, d))
        return KDC_ERR;
    opt->entries = malloc((size_t)(count ? count : 1) * sizeof *opt->entries);
    if (!opt->entries)
        return diag_error(d, "sgd: out of memory");
    if (count)
        memcpy(opt->entries, entries, (size_t)count * sizeof *entries);
    opt->count = count;
    opt->momentum = momentum;
    opt->weight_decay = weight_decay;
    opt->nesterov = nesterov;
    if (momentum > 0 && sgd_carve_buffers(opt, d)) {
        sgd_free(opt);
        return KDC_ERR;
    }
    return KDC_OK;
}

static void sgd_step_plain(const SgdEntry *e, float lr, float wd)
{
    for (int64_t i = 0; i < e->n; i++)
        e->param[i] -= lr * (e->grad[i] + wd * e->param[i]);
}

static void sgd_step_momentum(const SgdEntry *e, float lr, float wd, float mom, bool first,
                              bool nesterov)
{
    float *p = e->param, *buf = e->momentum;
    for (int64_t i = 0; i < e->n; i++) {
        float g = e->grad[i] + wd * p[i];
        buf[i] = first ? g : mom * buf[i] + g;
        p[i] -= lr * (nesterov ? g + mom * buf[i] : buf[i]);
    }
}

void sgd_step(Sgd *opt, double lr)
{
    float lr_f = (float)lr, wd = (float)opt->weight_decay, mom = (float)opt->momentum;
    for (int i = 0; i < opt->count; i++) {
        if (opt->momentum > 0)
            sgd_step_momentum(&opt->entries[i], lr_f, wd, mom, opt->steps == 0, opt->nesterov);
        else
            sgd_step_plain(&opt->entries[i], lr_f, wd);
    }
    opt->steps++;
}

void sgd_free(Sgd *opt)
{
    free(opt->entries);
    free(opt->momentum_block);
    memset(opt, 0, sizeof *opt);
}

double sgd_schedule_lr(SgdSchedule schedule, double lr, int64_t step, int64_t total_steps)
{
    if (schedule == SGD_SCHEDULE_CONSTANT || total_steps <= 0)
        return lr;
    if (step < 0)
        step = 0;
    if (step > total_steps)
        step = total_steps;
    return lr * 0.5 * (1.0 + cos(M_PI * (double)step / (double)total_steps));
}
