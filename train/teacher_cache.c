/* teacher_cache.c - a frozen teacher's outputs on a dataset, in a mapped temporary file
 * (see teacher_cache.h). */
#include "train/teacher_cache.h"

#include "runtime/plan.h"
#include "train/trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Layout: output k of every sample, [n, width[k]], one block after the other. */
static Status cache_layout(TeacherCache *c, Plan *p, Diag *d)
{
    ModelOutputs o;
    if (loss_outputs_of_plan(p, false, &o, d))
        return KDC_ERR;
    size_t floats = 0;
    c->n_outputs = o.n;
    for (int k = 0; k < o.n; k++) {
        c->shape[k] = o.shape[k];
        c->width[k] = loss_per_sample(&o.shape[k]);
        c->offset[k] = floats;
        floats += (size_t)(c->n * c->width[k]);
    }
    c->bytes = floats * sizeof(float);
    return KDC_OK;
}

/* A temporary file of c->bytes, unlinked at once and mapped. */
static Status cache_map(TeacherCache *c, Diag *d)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/kdc-teacher-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return diag_error(d, "%s: cannot create the teacher cache: %s (distill.cache_teacher: false runs the "
                             "teacher on every batch instead)", path, strerror(errno));
    unlink(path);
    Status st = KDC_OK;
    int rc = c->bytes ? posix_fallocate(fd, 0, (off_t)c->bytes) : 0;
    if (rc)
        st = diag_error(d, "%s: cannot make the %.1f MB teacher cache: %s", path, (double)c->bytes / 1e6, strerror(rc));
    if (!st && c->bytes) {
        void *m = mmap(NULL, c->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            st = diag_error(d, "%s: cannot map the teacher cache: %s", path, strerror(errno));
        else
            c->map = m;
    }
    close(fd);
    return st;
}

static Status cache_alloc_rows(TeacherCache *c, Diag *d)
{
    for (int k = 0; k < c->n_outputs; k++) {
        c->rows[k] = malloc((size_t)(c->max_batch * c->width[k]) * sizeof(float) + 1);
        if (!c->rows[k])
            return diag_error(d, "out of memory");
    }
    return KDC_OK;
}

/* Stores every output's rows of samples [first, first + count) as p computed them; the
 * first batch lays the cache out and makes its file. */
static Status cache_fill(Plan *p, int64_t first, int64_t count, void *ctx, Diag *d)
{
    TeacherCache *c = ctx;
    if (!c->n_outputs && (cache_layout(c, p, d) || cache_map(c, d) || cache_alloc_rows(c, d)))
        return KDC_ERR;
    for (int k = 0; k < c->n_outputs; k++)
        memcpy(c->map + c->offset[k] + (size_t)(first * c->width[k]), plan_output(p, k),
               (size_t)(count * c->width[k]) * sizeof(float));
    return KDC_OK;
}

Status teacher_cache_build(TeacherCache *c, Graph *g, const Dataset *ds, int64_t max_batch, Diag *d)
{
    memset(c, 0, sizeof *c);
    c->n = ds->n;
    c->max_batch = max_batch;
    if (!ds->n)
        return diag_error(d, "the training set is empty");
    Status st = trainer_each_batch(g, ds, cache_fill, c, d);
    if (st)
        teacher_cache_free(c);
    return st;
}

void teacher_cache_gather(TeacherCache *c, const int64_t *index, int64_t count, ModelOutputs *out)
{
    out->n = c->n_outputs;
    for (int k = 0; k < c->n_outputs; k++) {
        size_t row = (size_t)c->width[k] * sizeof(float);
        const float *block = c->map + c->offset[k];
        for (int64_t i = 0; i < count; i++)
            memcpy(c->rows[k] + i * c->width[k], block + index[i] * c->width[k], row);
        out->data[k] = c->rows[k];
        out->grad[k] = NULL;
        out->shape[k] = c->shape[k];
        out->shape[k].dims[0].value = count;
    }
}

void teacher_cache_free(TeacherCache *c)
{
    if (c->map)
        munmap(c->map, c->bytes);
    for (int k = 0; k < c->n_outputs; k++)
        free(c->rows[k]);
    memset(c, 0, sizeof *c);
}
