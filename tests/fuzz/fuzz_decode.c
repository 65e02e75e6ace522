/* fuzz_decode.c - libFuzzer target: arbitrary bytes into json_decode_txn.
 *
 * Built and run by tests/fuzz/run.sh (clang, ASan+UBSan). Each input is copied
 * so that it ends exactly where a PROT_NONE page begins: libcjson is not
 * instrumented, so a read past len anywhere (ours or cJSON's) faults instead of
 * going unseen. Beyond "no crash" it checks the contract: a rejection leaves
 * *out untouched and a short printable reason; an acceptance gives in-range
 * fields, and (when the encoder exists) encode -> decode gives the same txn_t
 * up to the millisecond the wire carries. */
#include "base/json_decode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/txn.h"

#include "base/json_encode.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_decode: contract broken: %s (line %d)\n", #cond, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char *arena_end; /* first byte of the guard page */
static size_t arena_cap;

static void arena_init(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    arena_cap = (JSON_DECODE_MAX_BYTES + 1 + page - 1) / page * page;
    char *base =
        mmap(NULL, arena_cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(base != MAP_FAILED);
    CHECK(mprotect(base + arena_cap, page, PROT_NONE) == 0);
    arena_end = base + arena_cap;
}

static void check_accepted(const txn_t *t)
{
    static const uint8_t zero[6] = {0};
    CHECK(t->region < REGION_COUNT);
    CHECK(t->modality < MOD_COUNT);
    CHECK(t->amount_cents > 0 && t->amount_cents <= MONEY_MAX_CENTS);
    CHECK(t->time_us >= JSON_DECODE_TIME_MIN_US && t->time_us <= JSON_DECODE_TIME_MAX_US);
    CHECK(memcmp(t->pad, zero, sizeof zero) == 0);
    char buf[JSON_ENCODE_TXN_MAX], err[JSON_DECODE_ERR_MAX];
    txn_t back, want = *t;
    want.time_us -= want.time_us % 1000;
    int n = json_encode_txn(t, buf, sizeof buf);
    CHECK(n > 0);
    CHECK(json_decode_txn(buf, (size_t)n, &back, err, sizeof err) == 0);
    CHECK(memcmp(&back, &want, sizeof back) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!arena_end) arena_init();
    /* oversized inputs are refused on their length alone; feed them as given */
    const char *msg = (const char *)data;
    if (size <= arena_cap) {
        char *p = arena_end - size;
        if (size) memcpy(p, data, size);
        msg = p;
    }
    txn_t t, before;
    char err[JSON_DECODE_ERR_MAX + 16];
    memset(&t, 0x5a, sizeof t);
    before = t;
    memset(err, 0x7f, sizeof err);
    int rc = json_decode_txn(msg, size, &t, err, JSON_DECODE_ERR_MAX);
    if (rc == 0) {
        check_accepted(&t);
        return 0;
    }
    CHECK(rc == -1);
    CHECK(memcmp(&t, &before, sizeof t) == 0);
    size_t n = strnlen(err, JSON_DECODE_ERR_MAX);
    CHECK(n > 0 && n < JSON_DECODE_ERR_MAX);
    for (size_t i = 0; i < n; i++)
        CHECK(err[i] >= 0x20 && err[i] <= 0x7e);
    return 0;
}
