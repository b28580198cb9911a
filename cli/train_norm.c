/* train_norm.c - BatchNormalization for training the student, and folding it away (see
 * train_norm.h). Owns the per-site statistics arrays of one insertion.
 */
#include "cli/train_norm.h"

#include "passes/passes.h"
#include "train/norm_stats.h"

#include <stdio.h>
#include <stdlib.h>

/* Per site: the mean and variance of its input over data, then the identity from them. */
static Status set_identity(Graph *g, const NormInsertReport *rep, const CalibData *data, Diag *d)
{
    int n = rep->n_sites;
    CalibRequest *req = calloc((size_t)n + 1, sizeof *req);
    double **mean = calloc((size_t)n + 1, sizeof *mean), **var = calloc((size_t)n + 1, sizeof *var);
    Status st = req && mean && var ? KDC_OK : diag_error(d, "out of memory");
    for (int i = 0; i < n && !st; i++) {
        if (!calib_moments_request(&req[i], rep->sites[i].x, rep->sites[i].channels))
            st = diag_error(d, "out of memory");
        mean[i] = req[i].mean;
        var[i] = req[i].var;
    }
    if (!st)
        st = calib_activation(g, data, req, n, d);
    if (!st)
        pass_batchnorm_identity(rep, (const double *const *)mean, (const double *const *)var);
    calib_requests_free(req, n);
    free(mean);
    free(var);
    return st;
}

/* train_norm: batchnorm on a student that keeps BatchNormalization of its teacher: those
 * nodes' statistics measured anew first, so that what the new nodes are set from is what
 * training mode's batch statistics give them, not what the teacher's full-width running
 * statistics give. */
static Status recalibrate_kept(Graph *student, const CalibData *data, Diag *d)
{
    NormStatsReport rep;
    if (calib_norm_stats(student, data, &rep, d))
        return KDC_ERR;
    if (rep.set)
        fprintf(stderr, "  train_norm: recalibrated the student's %d BatchNormalization on %lld calibration samples\n",
                rep.set, (long long)data->n_samples);
    return KDC_OK;
}

Status cli_train_norm(Graph *student, const Graph *teacher, const Recipe *r, const CalibData *data, int *added, Diag *d)
{
    *added = 0;
    if (r->train_norm == TRAIN_NORM_NONE)
        return KDC_OK;
    if (r->train_norm == TRAIN_NORM_AUTO && pass_has_normalization(teacher)) {
        fprintf(stderr, "  train_norm auto: the teacher has normalization layers of its own; none added\n");
        return KDC_OK;
    }
    if (r->train_norm == TRAIN_NORM_BATCHNORM && recalibrate_kept(student, data, d))
        return KDC_ERR;
    NormInsertReport rep;
    if (pass_insert_batchnorm(student, r->train_norm_dense, &rep, d) || pass_infer_shapes(student, d))
        return KDC_ERR;
    if (rep.n_sites && set_identity(student, &rep, data, d))
        return KDC_ERR;
    *added = rep.n_sites;
    if (!rep.n_sites) {
        fprintf(stderr, "  train_norm: no hidden %s layer without normalization; none added\n",
                r->train_norm_dense ? "Conv/Gemm/MatMul" : "Conv");
        return KDC_OK;
    }
    fprintf(stderr,
            "  train_norm: BatchNormalization after %d %s layer%s for training (the identity on %lld "
            "calibration samples)\n",
            rep.n_sites, r->train_norm_dense ? "Conv/Gemm/MatMul" : "Conv", rep.n_sites == 1 ? "" : "s",
            (long long)data->n_samples);
    return KDC_OK;
}

Status cli_fold_norm(Graph *g, Diag *d)
{
    int folded = 0, kept = 0;
    if (pass_fold_batchnorm(g, &folded, &kept, d) || pass_eliminate_dead(g, d) || pass_infer_shapes(g, d))
        return KDC_ERR;
    if (folded)
        fprintf(stderr, "folded %d BatchNormalization into the layers before them\n", folded);
    if (kept)
        fprintf(stderr, "  %d BatchNormalization kept: no layer before them they fold into exactly\n", kept);
    return KDC_OK;
}
