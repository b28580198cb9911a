/* clock.h - a monotonic clock in seconds, for profiles, progress and timing. */
#ifndef KDC_CLOCK_H
#define KDC_CLOCK_H

double clock_seconds(void);

#endif
