/* pacer.h - a token bucket on the monotonic clock: on average at most `rate`
 * events per second, in bursts of at most 10 ms worth (one event at least).
 *
 * The pacer never sleeps by itself: pacer_take says how long to wait, so the
 * caller can do its own work first (serve callbacks, notice a stop signal) and
 * then sleep with pacer_sleep. No I/O, no allocation. */
#ifndef BS_PACER_H
#define BS_PACER_H

typedef struct pacer {
    double rate, cap, tokens;
    double last; /* pacer_clock() at the previous refill */
} pacer_t;

/* Seconds on CLOCK_MONOTONIC: only differences mean something. */
double pacer_clock(void);

/* A bucket for rate > 0 events per second, holding one token. */
void pacer_init(pacer_t *p, double rate);

/* Refill from the clock, then take one token if there is one and return 0;
 * otherwise take nothing and return the seconds until the next token (> 0). */
double pacer_take(pacer_t *p);

/* Sleep secs seconds (secs >= 0); a signal may end it early. */
void pacer_sleep(double secs);

#endif
