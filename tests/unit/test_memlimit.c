/* test_memlimit.c - the memory a process may use (memlimit.h), on a
 * directory laid out as /proc/self/cgroup and /sys/fs/cgroup are: the
 * machine's memory without limits, a v2 limit on the group or an ancestor
 * (the lowest wins), "max", v1's memory controller, and a limit above the
 * machine's memory, which changes nothing. */
#include "base/memlimit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/mkdirs.h"

#define GIB (1024ULL * 1024 * 1024)

static char tmpdir[] = "/tmp/test_memlimit.XXXXXX";
static char groups[600], v2[600], v1[600];

/* Write text to tmpdir/rel, creating its directories. */
static void put(const char *rel, const char *text)
{
    char path[700], dir[700];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(mkdirs(dir), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void fresh(const char *groups_text)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", tmpdir);
    assert_int_equal(system(cmd), 0);
    put("proc/cgroup", groups_text);
}

static void without_limits_the_machines_memory(void **state)
{
    (void)state;
    fresh("0::/user.slice/session-1.scope\n");
    put("v2/user.slice/memory.max", "max\n");
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 24 * GIB);
    fresh("");
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 24 * GIB);
    assert_int_equal(memlimit_from(0, "/no/such/file", v2, v1), 0); /* unknown */
}

static void v2_the_lowest_of_the_group_and_its_ancestors(void **state)
{
    (void)state;
    fresh("0::/job/step\n");
    put("v2/job/step/memory.max", "8589934592\n"); /* 8 GiB on the group */
    put("v2/job/memory.max", "4294967296\n");      /* 4 GiB on its parent */
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 4 * GIB);
    put("v2/job/memory.max", "max\n");
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 8 * GIB);
    put("v2/memory.max", "2147483648\n"); /* the root's own (in a container) */
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 2 * GIB);
    /* a limit above the machine's memory changes nothing */
    assert_int_equal(memlimit_from(1 * GIB, groups, v2, v1), 1 * GIB);
    /* the group "/" (a container's own namespace) */
    fresh("0::/\n");
    put("v2/memory.max", "3221225472\n");
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 3 * GIB);
}

static void v1_the_memory_controllers_group(void **state)
{
    (void)state;
    fresh("9:name=systemd:/\n5:devices:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n");
    put("v1/process_api/abc/memory.limit_in_bytes", "9223372036854771712\n"); /* none */
    put("v1/process_api/memory.limit_in_bytes", "6442450944\n");
    put("v1/devices/memory.limit_in_bytes", "1073741824\n"); /* not the memory line's */
    assert_int_equal(memlimit_from(24 * GIB, groups, v2, v1), 6 * GIB);
}

static void the_running_process(void **state)
{
    (void)state;
    unsigned long long m = memlimit_bytes();
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    assert_true(m > 0);
    assert_true(m <= (unsigned long long)pages * (unsigned long long)page);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) return 1;
    snprintf(groups, sizeof groups, "%s/proc/cgroup", tmpdir);
    snprintf(v2, sizeof v2, "%s/v2", tmpdir);
    snprintf(v1, sizeof v1, "%s/v1", tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_limits_the_machines_memory),
        cmocka_unit_test(v2_the_lowest_of_the_group_and_its_ancestors),
        cmocka_unit_test(v1_the_memory_controllers_group),
        cmocka_unit_test(the_running_process),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return failed;
}
