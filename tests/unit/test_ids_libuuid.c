/* test_ids_libuuid.c - ids_parse and ids_format agree with libuuid, the
 * reference implementation, on valid ids and on a million mutated strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uuid.h>

#include "base/ids.h"
#include "base/rng.h"

static void test_format_matches_libuuid(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 1, 99);
    for (int i = 0; i < 100000; i++) {
        uint8_t id[16];
        char ours[IDS_TEXT_LEN + 1], theirs[IDS_TEXT_LEN + 1];
        for (int k = 0; k < 16; k++)
            id[k] = (uint8_t)rng_next(&r);
        ids_format(id, ours);
        uuid_unparse_lower(id, theirs);
        assert_string_equal(ours, theirs);
    }
}

/* Mutate one or two characters of a valid id into characters from a set that
 * includes hex digits of both cases, dashes and junk; both parsers must agree
 * on acceptance and, when accepting, on the bytes. */
static void test_parse_matches_libuuid(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789abcdefABCDEFgG-xz {}\x7f\x80";
    rng_t r;
    rng_seed(&r, 2, 99);
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 1000000; i++) {
        uint8_t id[16], ours[16], theirs[16];
        char text[IDS_TEXT_LEN + 1];
        for (int k = 0; k < 16; k++)
            id[k] = (uint8_t)rng_next(&r);
        uuid_unparse(id, text);
        int mutations = (int)rng_below(&r, 3);
        for (int m = 0; m < mutations; m++)
            text[rng_below(&r, IDS_TEXT_LEN)] = alphabet[rng_below(&r, sizeof alphabet - 1)];
        int a = ids_parse(text, IDS_TEXT_LEN, ours);
        int b = uuid_parse(text, theirs) == 0 ? 0 : -1;
        if (a != b) fail_msg("'%s': ids_parse %d, uuid_parse %d", text, a, b);
        if (a == 0) {
            assert_memory_equal(ours, theirs, 16);
            accepted++;
        } else {
            rejected++;
        }
    }
    assert_true(accepted > 100000 && rejected > 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_matches_libuuid),
        cmocka_unit_test(test_parse_matches_libuuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
