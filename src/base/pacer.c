/* pacer.c - token-bucket rate limiting on CLOCK_MONOTONIC (see pacer.h); used
 * by `produce --rate`, kept apart from it because nothing here is Kafka's. */
#include "base/pacer.h"

#include <time.h>

double pacer_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pacer_init(pacer_t *p, double rate)
{
    p->rate = rate;
    p->cap = rate / 100 > 1 ? rate / 100 : 1; /* at most 10 ms worth of burst */
    p->tokens = 1;
    p->last = pacer_clock();
}

double pacer_take(pacer_t *p)
{
    double now = pacer_clock();
    p->tokens += (now - p->last) * p->rate;
    p->last = now;
    if (p->tokens > p->cap) p->tokens = p->cap;
    if (p->tokens < 1) return (1 - p->tokens) / p->rate;
    p->tokens -= 1;
    return 0;
}

void pacer_sleep(double secs)
{
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
}
