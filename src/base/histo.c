/* histo.c - a histogram of non-negative integers in fixed memory (see
 * histo.h).
 *
 * Bucket of v: v itself below 1024; else, with m the index of v's highest
 * set bit (10..62) and s = m - 9, bucket 1024 + (m - 10) * 512 +
 * ((v >> s) - 512), whose lowest value is ((v >> s) << s). */
#include "base/histo.h"

#include <stdlib.h>
#include <string.h>

#define EXACT         1024
#define SUB           512
#define HISTO_BUCKETS (EXACT + (63 - 10) * SUB)

static int bucket_of(int64_t v)
{
    if (v < EXACT) return (int)v;
    int m = 63 - __builtin_clzll((unsigned long long)v), s = m - 9;
    return EXACT + (m - 10) * SUB + (int)((v >> s) - SUB);
}

static int64_t lowest_of(int b)
{
    if (b < EXACT) return b;
    int m = (b - EXACT) / SUB + 10, s = m - 9;
    return (int64_t)((b - EXACT) % SUB + SUB) << s;
}

int histo_init(histo_t *h)
{
    memset(h, 0, sizeof *h);
    h->counts = calloc(HISTO_BUCKETS, sizeof *h->counts);
    return h->counts ? 0 : -1;
}

void histo_free(histo_t *h)
{
    free(h->counts);
    memset(h, 0, sizeof *h);
}

void histo_add(histo_t *h, int64_t v)
{
    if (v < 0) v = 0;
    h->counts[bucket_of(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

int64_t histo_percentile(const histo_t *h, double p)
{
    if (h->n == 0) return 0;
    uint64_t rank = (uint64_t)((double)(h->n - 1) * p), seen = 0;
    for (int b = 0; b < HISTO_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen > rank) return lowest_of(b);
    }
    return h->max;
}
