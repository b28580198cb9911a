/* threads.c - the persistent worker pool behind threads_parallel_for.
 *
 * Owns the workers, one mutex/condition pair to hand them a job and collect
 * them, and a second mutex that serializes callers. Everything shared is
 * read and written under the pool mutex: jobs are coarse (a batch item of a
 * convolution), so the lock is never hot and correctness stays obvious.
 */
#include "runtime/threads.h"

#include "runtime/blas.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct Pool {
    pthread_mutex_t mu;
    pthread_cond_t start_cv; /* workers wait here for a new generation */
    pthread_cond_t done_cv;  /* the caller waits here for pending == 0 */
    pthread_mutex_t call_mu; /* one parallel loop at a time */
    pthread_t workers[THREADS_MAX];
    int nthreads; /* including the caller; 1 when no pool runs */
    uint64_t generation;
    int pending;
    int stop;
    void (*fn)(void *ctx, int item, int thread);
    void *ctx;
    int n_items;
} Pool;

static Pool pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .start_cv = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .call_mu = PTHREAD_MUTEX_INITIALIZER,
    .nthreads = 1,
};

/* Index of the pool thread running on this OS thread, -1 outside loops. */
static _Thread_local int current_thread = -1;

static void run_chunk(void (*fn)(void *, int, int), void *ctx, int n_items, int nthreads,
                      int thread)
{
    int begin = (int)((int64_t)n_items * thread / nthreads);
    int end = (int)((int64_t)n_items * (thread + 1) / nthreads);
    current_thread = thread;
    for (int i = begin; i < end; i++)
        fn(ctx, i, thread);
    current_thread = -1;
}

static void *worker_main(void *arg)
{
    int thread = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.stop && pool.generation == seen)
            pthread_cond_wait(&pool.start_cv, &pool.mu);
        if (pool.stop)
            break;
        seen = pool.generation;
        void (*fn)(void *, int, int) = pool.fn;
        void *ctx = pool.ctx;
        int n_items = pool.n_items, nthreads = pool.nthreads;
        pthread_mutex_unlock(&pool.mu);
        run_chunk(fn, ctx, n_items, nthreads, thread);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done_cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static Status default_thread_count(int *n, Diag *d)
{
    const char *env = getenv("KDC_THREADS");
    *n = 2;
    if (!env || !*env)
        return KDC_OK;
    char *end;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (errno || *end || v < 1 || v > THREADS_MAX)
        return diag_error(d, "KDC_THREADS=\"%s\": expected a whole number from 1 to %d", env,
                          THREADS_MAX);
    *n = (int)v;
    return KDC_OK;
}

Status threads_init(int n, Diag *d)
{
    if (n <= 0 && default_thread_count(&n, d) != KDC_OK)
        return KDC_ERR;
    if (n > THREADS_MAX)
        return diag_error(d, "threads: %d threads asked for, at most %d supported", n,
                          THREADS_MAX);
    blas_init(); /* OpenBLAS's own threads would compete with ours */
    threads_shutdown();
    pthread_mutex_lock(&pool.call_mu);
    pool.stop = 0;
    pool.generation = 0; /* new workers start having seen generation 0 */
    int started = 1;
    for (; started < n; started++) {
        int rc = pthread_create(&pool.workers[started], NULL, worker_main,
                                (void *)(intptr_t)started);
        if (rc != 0) {
            diag_error(d, "threads: cannot start worker %d of %d: %s", started, n, strerror(rc));
            goto fail;
        }
    }
    pool.nthreads = n;
    pthread_mutex_unlock(&pool.call_mu);
    return KDC_OK;
fail:
    pool.nthreads = started;
    pthread_mutex_unlock(&pool.call_mu);
    threads_shutdown();
    return KDC_ERR;
}

void threads_shutdown(void)
{
    pthread_mutex_lock(&pool.call_mu);
    pthread_mutex_lock(&pool.mu);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.start_cv);
    pthread_mutex_unlock(&pool.mu);
    for (int t = 1; t < pool.nthreads; t++)
        pthread_join(pool.workers[t], NULL);
    pool.nthreads = 1;
    pool.stop = 0;
    pthread_mutex_unlock(&pool.call_mu);
}

int threads_count(void)
{
    pthread_mutex_lock(&pool.mu);
    int n = pool.nthreads;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

void threads_parallel_for(int n_items, void (*fn)(void *ctx, int item, int thread), void *ctx)
{
    if (n_items <= 0)
        return;
    if (current_thread >= 0) {
        int self = current_thread;
        for (int i = 0; i < n_items; i++)
            fn(ctx, i, self);
        return;
    }
    pthread_mutex_lock(&pool.call_mu);
    int nthreads = pool.nthreads;
    if (nthreads == 1 || n_items == 1) {
        pthread_mutex_unlock(&pool.call_mu);
        run_chunk(fn, ctx, n_items, 1, 0);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_items = n_items;
    pool.pending = nthreads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.start_cv);
    pthread_mutex_unlock(&pool.mu);
    run_chunk(fn, ctx, n_items, nthreads, 0);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done_cv, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.call_mu);
}
