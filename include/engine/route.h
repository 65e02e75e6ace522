/* route.h - which worker owns a user.
 *
 * owner(user) = FNV-1a 64-bit hash of the user's 16 UUID bytes, modulo the
 * number of workers. The hash is fixed forever (snapshots and tests depend on
 * it); only the number of workers changes where a user lives, never what
 * happens to it. In the stream, workers are ranks 1..N-1 (rank 0 alone when
 * N == 1); in replay every rank is a worker (engine.h). */
#ifndef BS_ROUTE_H
#define BS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

uint64_t route_hash(const uint8_t id[16]);

/* Index of the owning worker, in [0, nworkers). */
static inline int route_owner(const uint8_t id[16], int nworkers)
{
    return nworkers == 1 ? 0 : (int)(route_hash(id) % (uint64_t)nworkers);
}

/* h % d (0 when d <= 1), as route_owners computes it without dividing:
 * exposed for its test against %. */
uint64_t route_mod(uint64_t h, uint64_t d);

/* route_owner of n ids at once, into out[0..n): id i is the 16 bytes at
 * ids + i * stride (a column of ids, or a field of an array of records).
 * With AVX-512 where the CPU has it (route_owners_fast), else with
 * route_owners_portable: the same owners (the tests compare both). */
void route_owners(const void *ids, size_t stride, size_t n, int nworkers, int *out);
void route_owners_portable(const void *ids, size_t stride, size_t n, int nworkers, int *out);
int route_owners_fast(void);

/* World rank of worker index w in a world of `world_size` ranks. */
static inline int route_worker_rank(int w, int world_size)
{
    return world_size == 1 ? 0 : w + 1;
}

#endif
