/* torch_close.h - comparison with golden values computed by PyTorch (the scripts in tests/golden/),
 * shared by the loss tests that paste them: within 1e-5 relative to the torch value (a
 * NaN never passes), and a failure names the array, the index and both values.
 * Header-only; include after cmocka.h.
 */
#ifndef KDC_TEST_TORCH_CLOSE_H
#define KDC_TEST_TORCH_CLOSE_H

#include <math.h>
#include <stdint.h>

static inline void tc_expect_close(const char *what, int i, double got, double want)
{
    if (!(fabs(got - want) <= 1e-5 * fabs(want)))
        fail_msg("%s[%d]: got %.10g, torch %.10g", what, i, got, want);
}

static inline void tc_expect_floats(const char *what, const float *got, const double *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        tc_expect_close(what, (int)i, got[i], want[i]);
}

#endif
