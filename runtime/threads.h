/* threads.h - a small pool of persistent worker threads for the kernels.
 *
 * Owns the process-wide pool: workers are created once by threads_init and
 * sleep between calls, so a parallel loop costs a wake-up, not a thread
 * creation. Work is split statically: with T threads, thread t runs items
 * [t*n/T, (t+1)*n/T), so a given thread count always gives the same
 * assignment and per-thread partial sums are reproducible run to run.
 */
#ifndef KDC_THREADS_H
#define KDC_THREADS_H

#include "ir/diag.h"

/* The most threads threads_init accepts (and KDC_THREADS may ask for). */
#define THREADS_MAX 64

/* Starts the pool with n threads (the caller counts as thread 0). n <= 0
 * picks the default: the KDC_THREADS environment variable if set, else 2.
 * Calling it again replaces the pool. Also pins OpenBLAS to one thread
 * (blas_init), so the two pools never compete for the cores. Fails (with d filled) on a bad
 * KDC_THREADS value or when a thread cannot be created. */
Status threads_init(int n, Diag *d);

/* Stops and joins the workers; afterwards threads_count() is 1. */
void threads_shutdown(void);

/* Threads a parallel loop uses now: 1 before threads_init. */
int threads_count(void);

/* Calls fn(ctx, item, thread) for every item in [0, n_items), thread in
 * [0, threads_count()), and returns when all are done. Runs inline (thread
 * 0) with one thread, and inline with the caller's own thread index when
 * called from inside a parallel loop. Calls from different outside threads
 * are serialized. */
void threads_parallel_for(int n_items, void (*fn)(void *ctx, int item, int thread), void *ctx);

#endif
