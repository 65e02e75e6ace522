/* test_mkdirs.c - mkdir -p (mkdirs.h): nested parents, an existing path, a
 * trailing slash, and the errors (empty path, too long, a file in the way),
 * checked with stat. */
#include "base/mkdirs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[] = "/tmp/test_mkdirs.XXXXXX";

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void creates_parents_and_accepts_existing(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/c", tmpdir);
    assert_int_equal(mkdirs(path), 0);
    assert_true(is_dir(path));
    assert_int_equal(mkdirs(path), 0); /* again: nothing to do */
    snprintf(path, sizeof path, "%s/a/d/", tmpdir);
    assert_int_equal(mkdirs(path), 0);
    snprintf(path, sizeof path, "%s/a/d", tmpdir);
    assert_true(is_dir(path));
}

static void reports_errors_with_errno(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(mkdirs(""), -1);
    assert_int_equal(errno, ENOENT);

    char *longer = malloc(PATH_MAX + 1);
    assert_non_null(longer);
    memset(longer, 'x', PATH_MAX);
    longer[0] = '/';
    longer[PATH_MAX] = '\0';
    errno = 0;
    assert_int_equal(mkdirs(longer), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    free(longer);

    char file[512], below[600];
    snprintf(file, sizeof file, "%s/plain", tmpdir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(below, sizeof below, "%s/sub", file);
    errno = 0;
    assert_int_equal(mkdirs(below), -1);
    assert_int_equal(errno, ENOTDIR);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(creates_parents_and_accepts_existing),
        cmocka_unit_test(reports_errors_with_errno),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
