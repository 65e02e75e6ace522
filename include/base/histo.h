/* histo.h - a histogram of non-negative integers (milliseconds) in fixed
 * memory, for percentiles over a run of any length.
 *
 * Log-linear buckets, as HdrHistogram has them (Debian packages no C
 * HdrHistogram): values below 1024 have a bucket each (exact); above, each
 * power of two is cut into 512 buckets, so a percentile read back is at
 * most 0.2% below the true value. About 220 KiB per histogram, whatever
 * the number of values. Negative values count as 0. Not thread-safe. */
#ifndef BS_HISTO_H
#define BS_HISTO_H

#include <stdint.h>

typedef struct histo {
    uint64_t *counts; /* HISTO_BUCKETS of them */
    uint64_t n;
    int64_t max;
} histo_t;

/* An empty histogram. 0, or -1 when out of memory. */
int histo_init(histo_t *h);
void histo_free(histo_t *h);

void histo_add(histo_t *h, int64_t v);

/* The value at rank floor((n - 1) * p) in sorted order, p in 0..1 (the
 * lowest value of its bucket: exact below 1024); 0 when empty. */
int64_t histo_percentile(const histo_t *h, double p);

#endif
