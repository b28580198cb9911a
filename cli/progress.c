/* progress.c - training progress display (see progress.h). */
#include "cli/progress.h"

#include "runtime/clock.h"

#include <stdio.h>
#include <unistd.h>

static void format_eta(double s, char *buf, size_t n)
{
    int t = (int)(s + 0.5);
    snprintf(buf, n, "%d:%02d", t / 60, t % 60);
}

static void on_batch(const TrainProgress *tp, void *ctx)
{
    Progress *p = ctx;
    double now = clock_seconds();
    if (!p->tty || (now - p->last_draw < 0.2 && tp->batch != tp->batches))
        return;
    p->last_draw = now;
    enum { WIDTH = 24 };
    int filled = (int)(WIDTH * tp->batch / (tp->batches ? tp->batches : 1));
    char bar[WIDTH + 1], eta[16];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    format_eta(tp->eta_s, eta, sizeof eta);
    fprintf(stderr, "\r\033[K%s%sepoch %d/%d [%s] %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s", tp->stage ? tp->stage : "",
            tp->stage ? " " : "", tp->epoch, tp->epochs, bar, (long long)tp->batch, (long long)tp->batches, tp->loss, 100 * tp->accuracy,
            tp->images_per_s, eta);
    fflush(stderr);
}

static void on_epoch(const EpochStats *s, void *ctx)
{
    Progress *p = ctx;
    char eta[16];
    format_eta(s->eta_s, eta, sizeof eta);
    if (p->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr,
            "%s%sepoch %d/%d  loss %.4f  train acc %.2f%%  test acc %.2f%%  agreement %.2f%%  %.0f img/s  %.1f s  ETA %s\n",
            s->stage ? s->stage : "", s->stage ? " " : "", s->epoch, s->epochs, s->loss, 100 * s->train_accuracy, 100 * s->test_accuracy, 100 * s->agreement,
            s->images_per_s, s->seconds, eta);
    if (s->teacher_learns)
        fprintf(stderr, "  the teacher, trained with it: test acc %.2f%%\n", 100 * s->teacher_accuracy);
    fflush(stderr);
}

static void on_note(const char *text, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "%s\n", text);
}

void progress_init(Progress *p)
{
    p->tty = isatty(fileno(stderr));
    p->last_draw = 0;
}

TrainHooks progress_hooks(Progress *p)
{
    return (TrainHooks){on_batch, on_epoch, p, on_note};
}
