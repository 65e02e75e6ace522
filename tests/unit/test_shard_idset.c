/* test_shard_idset.c - the worker's user table (engine/shard.h), the id set
 * (base/idset.h) and the owner hash (engine/route.h).
 *
 * Why: every decision starts with a lookup in these tables, and a user's
 * owner decides where its state lives on every N; a lost entry after a
 * growth, a nil id taken for a user, or an owner hash that changes would
 * silently change results or strand snapshots. None of it needs a service.
 *
 * Checked: shard put/find/overwrite (count unchanged by an overwrite),
 * linear probing through a run of ids with the same home slot and across
 * the end of the table; growth past 70% with thousands of ids (every one
 * still found with its values, count right, load at most 70%, capacity a
 * power of two); shard_next visits each user exactly once; the nil UUID is
 * refused by shard_put and never found. idset add/contains/duplicates and
 * growth, the nil id being an ordinary member there. route_hash equals an
 * FNV-1a 64 written here (itself checked on the published test vectors)
 * and fixed literal values for a few ids; route_owner is in [0, N) for N =
 * 1..8 and spreads users over every worker. */
#include "base/idset.h"
#include "base/ids.h"
#include "base/rng.h"
#include "engine/route.h"
#include "engine/shard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static user_state_t user_with(const uint8_t id[16], int64_t balance)
{
    user_state_t u;
    memset(&u, 0, sizeof u);
    memcpy(u.id, id, 16);
    u.balance_cents = balance;
    u.region = (uint8_t)(balance % 27);
    for (int m = 0; m < MOD_COUNT; m++)
        u.limit_cents[m] = balance * (m + 1);
    u.last_approved_us = balance % 2 ? INT64_MIN : balance * 1000;
    return u;
}

static void random_id(rng_t *r, uint8_t id[16])
{
    rng_uuid(r, id);
}

static void assert_user(const user_state_t *u, const uint8_t id[16], int64_t balance)
{
    assert_non_null(u);
    assert_memory_equal(u->id, id, 16);
    user_state_t want = user_with(id, balance);
    assert_memory_equal(u, &want, sizeof want);
}

static void test_shard_put_find_overwrite(void **state)
{
    shard_t s;
    assert_int_equal(shard_init(&s, 10), 0);
    assert_int_equal(s.count, 0);
    uint8_t a[16] = {1}, b[16] = {2}, c[16] = {3};
    user_state_t ua = user_with(a, 100), ub = user_with(b, 200);
    user_state_t *stored = shard_put(&s, &ua);
    assert_non_null(stored);
    assert_ptr_not_equal(stored, &ua); /* copied in */
    assert_non_null(shard_put(&s, &ub));
    assert_int_equal(s.count, 2);
    assert_user(shard_find(&s, a), a, 100);
    assert_user(shard_find(&s, b), b, 200);
    assert_null(shard_find(&s, c));
    /* the pointer returned is the table's entry */
    assert_ptr_equal(shard_find(&s, a), stored);

    /* overwrite: same slot, new values, count unchanged */
    user_state_t ua2 = user_with(a, 777);
    assert_ptr_equal(shard_put(&s, &ua2), stored);
    assert_int_equal(s.count, 2);
    assert_user(shard_find(&s, a), a, 777);
    assert_user(shard_find(&s, b), b, 200);
    shard_free(&s);
    assert_null(s.slots);
}

/* Ids whose home slot is `slot` in a table of `capacity`, drawn at random. */
static void ids_with_home(rng_t *r, size_t slot, size_t capacity, uint8_t (*out)[16], int n)
{
    for (int k = 0; k < n;) {
        uint8_t id[16];
        random_id(r, id);
        if (shard_slot_of(id, capacity) == slot) memcpy(out[k++], id, 16);
    }
}

static void test_shard_probing(void **state)
{
    rng_t r;
    rng_seed(&r, 1, 77);
    shard_t s;
    assert_int_equal(shard_init(&s, 0), 0);
    size_t cap = s.capacity;
    /* four ids sharing the last slot: they wrap around to slots 0, 1, 2 */
    uint8_t last[4][16], mid[5][16];
    ids_with_home(&r, cap - 1, cap, last, 4);
    ids_with_home(&r, cap / 2, cap, mid, 5);
    for (int k = 0; k < 4; k++) {
        user_state_t u = user_with(last[k], 10 + k);
        assert_non_null(shard_put(&s, &u));
    }
    for (int k = 0; k < 5; k++) {
        user_state_t u = user_with(mid[k], 20 + k);
        assert_non_null(shard_put(&s, &u));
    }
    assert_int_equal(s.capacity, cap); /* no growth: the probing is what is tested */
    assert_int_equal(s.count, 9);
    for (int k = 0; k < 4; k++)
        assert_user(shard_find(&s, last[k]), last[k], 10 + k);
    for (int k = 0; k < 5; k++)
        assert_user(shard_find(&s, mid[k]), mid[k], 20 + k);
    /* the wrapped ones sit at the start of the table */
    assert_ptr_equal(shard_find(&s, last[1]), &s.slots[0]);
    /* overwrite the third of a run: still one entry each, values kept */
    user_state_t u = user_with(mid[2], 99);
    assert_ptr_equal(shard_put(&s, &u), shard_find(&s, mid[2]));
    assert_int_equal(s.count, 9);
    assert_user(shard_find(&s, mid[2]), mid[2], 99);
    assert_user(shard_find(&s, mid[4]), mid[4], 24);
    /* an absent id with the same home is not found (the run ends) */
    uint8_t absent[1][16];
    ids_with_home(&r, cap / 2, cap, absent, 1);
    assert_null(shard_find(&s, absent[0]));
    shard_free(&s);
}

static int is_pow2(size_t x)
{
    return x && (x & (x - 1)) == 0;
}

static void test_shard_growth(void **state)
{
    enum { N = 20000 };
    rng_t r;
    rng_seed(&r, 2, 77);
    uint8_t(*ids)[16] = malloc(N * 16);
    assert_non_null(ids);
    shard_t s;
    assert_int_equal(shard_init(&s, 0), 0);
    size_t first_cap = s.capacity, grows = 0, cap = s.capacity;
    for (int i = 0; i < N; i++) {
        random_id(&r, ids[i]);
        user_state_t u = user_with(ids[i], i);
        assert_non_null(shard_put(&s, &u));
        assert_int_equal(s.count, (size_t)i + 1);
        assert_true(s.count * 10 <= s.capacity * 7);
        assert_true(is_pow2(s.capacity));
        if (s.capacity != cap) {
            grows++;
            cap = s.capacity;
        }
    }
    assert_true(grows >= 4);
    assert_true(s.capacity > first_cap);
    for (int i = 0; i < N; i++)
        assert_user(shard_find(&s, ids[i]), ids[i], i);
    /* overwrite every tenth after growth: count unchanged */
    for (int i = 0; i < N; i += 10) {
        user_state_t u = user_with(ids[i], N + i);
        assert_non_null(shard_put(&s, &u));
    }
    assert_int_equal(s.count, N);
    for (int i = 0; i < N; i++)
        assert_user(shard_find(&s, ids[i]), ids[i], i % 10 ? i : N + i);
    /* ids never put are not found */
    for (int i = 0; i < 1000; i++) {
        uint8_t other[16];
        random_id(&r, other);
        assert_null(shard_find(&s, other));
    }
    /* sized up front: no growth needed for the expected count */
    shard_t big;
    assert_int_equal(shard_init(&big, N), 0);
    assert_true(N * 10 <= big.capacity * 7);
    size_t big_cap = big.capacity;
    for (int i = 0; i < N; i++) {
        user_state_t u = user_with(ids[i], i);
        assert_non_null(shard_put(&big, &u));
    }
    assert_int_equal(big.capacity, big_cap);
    shard_free(&big);
    shard_free(&s);
    free(ids);
}

static void test_shard_next_visits_each_once(void **state)
{
    enum { N = 5000 };
    rng_t r;
    rng_seed(&r, 3, 77);
    shard_t s;
    assert_int_equal(shard_init(&s, 0), 0);
    size_t pos = 0;
    assert_int_equal(shard_next(&s, &pos), -1); /* empty */
    for (int i = 0; i < N; i++) {
        uint8_t id[16];
        random_id(&r, id);
        user_state_t u = user_with(id, i); /* balance = the user's number */
        assert_non_null(shard_put(&s, &u));
    }
    int *seen = calloc(N, sizeof *seen);
    assert_non_null(seen);
    long i, prev = -1, visits = 0;
    pos = 0;
    while ((i = shard_next(&s, &pos)) >= 0) {
        assert_true(i > prev); /* slot order, each slot once */
        assert_true((size_t)i < s.capacity);
        assert_true(pos == (size_t)i + 1);
        prev = i;
        int64_t k = s.slots[i].balance_cents;
        assert_true(k >= 0 && k < N);
        seen[k]++;
        visits++;
    }
    assert_int_equal(visits, N);
    for (int k = 0; k < N; k++)
        assert_int_equal(seen[k], 1);
    assert_int_equal(shard_next(&s, &pos), -1); /* stays at the end */
    free(seen);
    shard_free(&s);
}

static void test_shard_nil_id(void **state)
{
    rng_t r;
    rng_seed(&r, 4, 77);
    shard_t s;
    assert_int_equal(shard_init(&s, 0), 0);
    uint8_t nil[16] = {0};
    user_state_t u = user_with(nil, 5);
    assert_null(shard_put(&s, &u));
    assert_int_equal(s.count, 0);
    assert_null(shard_find(&s, nil));
    /* in a populated table too, including a user in the nil id's home slot */
    uint8_t same_home[1][16];
    ids_with_home(&r, shard_slot_of(nil, s.capacity), s.capacity, same_home, 1);
    user_state_t v = user_with(same_home[0], 6);
    assert_non_null(shard_put(&s, &v));
    for (int i = 0; i < 500; i++) {
        uint8_t id[16];
        random_id(&r, id);
        user_state_t w = user_with(id, i);
        assert_non_null(shard_put(&s, &w));
    }
    size_t count = s.count;
    assert_null(shard_put(&s, &u));
    assert_int_equal(s.count, count);
    assert_null(shard_find(&s, nil));
    /* nothing the iteration returns has the nil id */
    size_t pos = 0, n = 0;
    long i;
    while ((i = shard_next(&s, &pos)) >= 0) {
        assert_false(ids_is_nil(s.slots[i].id));
        n++;
    }
    assert_int_equal(n, count);
    shard_free(&s);
}

static void test_idset(void **state)
{
    enum { N = 30000 };
    rng_t r;
    rng_seed(&r, 5, 77);
    uint8_t(*ids)[16] = malloc(N * 16);
    assert_non_null(ids);
    idset_t set;
    assert_int_equal(idset_init(&set, 0), 0);
    size_t cap = set.capacity;
    assert_true(is_pow2(cap));
    uint8_t nil[16] = {0};
    assert_int_equal(idset_contains(&set, nil), 0);
    for (int i = 0; i < N; i++) {
        random_id(&r, ids[i]);
        assert_int_equal(idset_contains(&set, ids[i]), 0);
        assert_int_equal(idset_add(&set, ids[i]), 1);
        assert_int_equal(idset_contains(&set, ids[i]), 1);
        assert_int_equal(idset_add(&set, ids[i]), 0); /* duplicate */
        assert_int_equal(set.count, (size_t)i + 1);
        assert_true(set.count * 10 <= set.capacity * 7);
        assert_true(is_pow2(set.capacity));
    }
    assert_true(set.capacity > cap);
    for (int i = 0; i < N; i++) {
        assert_int_equal(idset_contains(&set, ids[i]), 1);
        assert_int_equal(idset_add(&set, ids[i]), 0);
    }
    assert_int_equal(set.count, N);
    for (int i = 0; i < 2000; i++) {
        uint8_t other[16];
        random_id(&r, other);
        assert_int_equal(idset_contains(&set, other), 0);
    }
    /* the nil id is a transaction id like any other here (slots are marked
     * by `used`, not by the key) */
    assert_int_equal(idset_contains(&set, nil), 0);
    assert_int_equal(idset_add(&set, nil), 1);
    assert_int_equal(idset_contains(&set, nil), 1);
    assert_int_equal(idset_add(&set, nil), 0);
    assert_int_equal(set.count, N + 1);
    idset_free(&set);
    assert_null(set.keys);
    free(ids);

    /* sized up front for the expected count: no growth */
    assert_int_equal(idset_init(&set, 5000), 0);
    cap = set.capacity;
    rng_seed(&r, 6, 77);
    for (int i = 0; i < 5000; i++) {
        uint8_t id[16];
        random_id(&r, id);
        assert_int_equal(idset_add(&set, id), 1);
    }
    assert_int_equal(set.capacity, cap);
    idset_free(&set);
}

/* FNV-1a, 64 bits, over any bytes: the independent reference. */
static uint64_t fnv1a64(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ULL; /* offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL; /* FNV prime 2^40 + 2^8 + 0xb3 */
    }
    return h;
}

/* route_mod (route_owners' remainder without a division) = %, for every
 * divisor up to 4100, powers of two and their neighbours up to 2^63, and
 * random ones; numerators at the edges (0, d - 1, d, multiples of d and
 * their neighbours, the top of the range) and random. */
static void test_route_mod(void **state)
{
    rng_t r;
    rng_seed(&r, 11, 3);
    uint64_t divisors[4100 + 3 * 63 + 300];
    size_t nd = 0;
    for (uint64_t d = 2; d <= 4100; d++)
        divisors[nd++] = d;
    for (int b = 1; b < 64; b++) {
        uint64_t p2 = (uint64_t)1 << b;
        divisors[nd++] = p2;
        divisors[nd++] = p2 - 1 > 1 ? p2 - 1 : 3;
        divisors[nd++] = p2 + 1;
    }
    for (int i = 0; i < 300; i++) {
        uint64_t d = rng_next(&r) >> (rng_next(&r) % 63);
        divisors[nd++] = d > 1 ? d : 2;
    }
    assert_true(nd <= sizeof divisors / sizeof divisors[0]);
    for (size_t k = 0; k < nd; k++) {
        uint64_t d = divisors[k];
        uint64_t edge[] = {0,
                           1,
                           d - 1,
                           d,
                           d + 1,
                           2 * d - 1,
                           2 * d,
                           UINT64_MAX,
                           UINT64_MAX - 1,
                           UINT64_MAX / d * d,
                           UINT64_MAX / d * d - 1,
                           0x88201fb960ff6465ULL};
        for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++)
            if (route_mod(edge[e], d) != edge[e] % d)
                fail_msg("route_mod(%llu, %llu) = %llu, expected %llu", (unsigned long long)edge[e],
                         (unsigned long long)d, (unsigned long long)route_mod(edge[e], d),
                         (unsigned long long)(edge[e] % d));
        for (int i = 0; i < 200; i++) {
            uint64_t h = rng_next(&r);
            if (route_mod(h, d) != h % d)
                fail_msg("route_mod(%llu, %llu) = %llu, expected %llu", (unsigned long long)h,
                         (unsigned long long)d, (unsigned long long)route_mod(h, d),
                         (unsigned long long)(h % d));
        }
    }
    assert_int_equal(route_mod(12345, 1), 0);
    (void)state;
}

static void test_route_hash(void **state)
{
    /* the reference on the published FNV-1a 64 test vectors */
    assert_int_equal(fnv1a64("", 0), 0xcbf29ce484222325ULL);
    assert_int_equal(fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
    assert_int_equal(fnv1a64("foobar", 6), 0x85944171f73967e8ULL);

    /* fixed ids: the hash and the owners are fixed forever (snapshots) */
    static const struct {
        const char *text;
        uint64_t hash;
        int owner[8]; /* for N = 1..8 */
    } known[] = {
        {"00000000-0000-0000-0000-000000000000", 0x88201fb960ff6465ULL, {0, 1, 0, 1, 1, 3, 0, 5}},
        {"ffffffff-ffff-ffff-ffff-ffffffffffff", 0xd6607508f5a1e855ULL, {0, 1, 0, 1, 3, 3, 5, 5}},
        {"123e4567-e89b-42d3-a456-426614174000", 0x981305aa165835b0ULL, {0, 0, 1, 0, 0, 4, 6, 0}},
        {"00010203-0405-0607-0809-0a0b0c0d0e0f", 0x7c84dc9477851775ULL, {0, 1, 2, 1, 1, 5, 0, 5}},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        uint8_t id[16];
        assert_int_equal(ids_parse(known[k].text, IDS_TEXT_LEN, id), 0);
        assert_int_equal(route_hash(id), known[k].hash);
        assert_int_equal(fnv1a64(id, 16), known[k].hash);
        for (int n = 1; n <= 8; n++)
            if (route_owner(id, n) != known[k].owner[n - 1])
                fail_msg("%s: owner of %d is %d, expected %d", known[k].text, n, route_owner(id, n),
                         known[k].owner[n - 1]);
    }

    /* random ids: hash = reference, owner = hash mod N, in range, and
     * every worker gets a fair share */
    rng_t r;
    rng_seed(&r, 7, 77);
    enum { IDS = 40000 };
    int per[9][8];
    memset(per, 0, sizeof per);
    for (int i = 0; i < IDS; i++) {
        uint8_t id[16];
        random_id(&r, id);
        uint64_t h = fnv1a64(id, 16);
        assert_int_equal(route_hash(id), h);
        for (int n = 1; n <= 8; n++) {
            int o = route_owner(id, n);
            assert_true(o >= 0 && o < n);
            assert_int_equal(o, (int)(h % (uint64_t)n));
            per[n][o]++;
        }
    }
    for (int n = 1; n <= 8; n++)
        for (int o = 0; o < n; o++)
            if (abs(per[n][o] - IDS / n) > IDS / n / 10)
                fail_msg("N = %d: worker %d owns %d of %d ids", n, o, per[n][o], IDS);

    /* route_owners (four ids at a time, then the rest) = route_owner, for
     * ids packed or strided inside records, any count */
    enum { MANY = 103 };
    struct {
        uint8_t pad[5];
        uint8_t id[16];
        uint8_t tail[3];
    } rec[MANY];
    int got[MANY];
    for (int i = 0; i < MANY; i++)
        random_id(&r, rec[i].id);
    void (*impl[])(const void *, size_t, size_t, int, int *) = {route_owners,
                                                                route_owners_portable};
    for (int f = 0; f < 2; f++)
        for (int n = 1; n <= 70; n += (n < 9 ? 1 : 13))
            for (size_t count = 0; count <= MANY; count += (count < 20 ? 1 : 41)) {
                memset(got, 0xff, sizeof got);
                impl[f](rec[0].id, sizeof rec[0], count, n, got);
                for (size_t i = 0; i < count; i++)
                    if (got[i] != route_owner(rec[i].id, n))
                        fail_msg("route_owners%s: id %zu of %zu, N = %d: %d, expected %d",
                                 f ? "_portable" : "", i, count, n, got[i],
                                 route_owner(rec[i].id, n));
                if (count < MANY) assert_int_equal(got[count], -1); /* nothing past n */
            }
    print_message("route_owners: %s\n", route_owners_fast() ? "AVX-512" : "portable");

    /* worker index -> world rank: the stream's workers are ranks 1..N-1 */
    assert_int_equal(route_worker_rank(0, 1), 0);
    assert_int_equal(route_worker_rank(0, 2), 1);
    assert_int_equal(route_worker_rank(2, 4), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_put_find_overwrite),
        cmocka_unit_test(test_shard_probing),
        cmocka_unit_test(test_shard_growth),
        cmocka_unit_test(test_shard_next_visits_each_once),
        cmocka_unit_test(test_shard_nil_id),
        cmocka_unit_test(test_idset),
        cmocka_unit_test(test_route_hash),
        cmocka_unit_test(test_route_mod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
