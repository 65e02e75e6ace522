/* testutil.h - small helpers the HDF5 unit tests share: whether a file
 * exists, a substring assertion, a file copy. Include after <cmocka.h>.
 * Static inline, so that a test that uses only some of them compiles clean. */
#ifndef BS_TESTUTIL_H
#define BS_TESTUTIL_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static inline int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) fail_msg("'%s' not found in '%s'", needle, hay);
}

static inline void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, k, out), k);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

#endif
