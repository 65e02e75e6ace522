/* memlimit.c - the memory this process may use (see memlimit.h).
 *
 * A control group's limit binds its members and every group below it, so
 * the limit of a process is the lowest over its group and the group's
 * ancestors: ROOT/a/b/FILE, ROOT/a/FILE, ROOT/FILE. */
#include "base/memlimit.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The lowest limit in FILE from ROOT/PATH up to ROOT, or 0 for none. */
static unsigned long long lowest_limit(const char *root, const char *path, const char *file)
{
    char dir[PATH_MAX], name[PATH_MAX + 64];
    size_t rootlen = strlen(root);
    unsigned long long lowest = 0;
    if (snprintf(dir, sizeof dir, "%s%s", root, path) >= (int)sizeof dir) return 0;
    for (;;) {
        size_t len = strlen(dir);
        while (len > rootlen && dir[len - 1] == '/')
            dir[--len] = '\0';
        snprintf(name, sizeof name, "%s/%s", dir, file);
        FILE *f = fopen(name, "r");
        unsigned long long limit = 0;
        if (f && fscanf(f, "%llu", &limit) == 1 && limit > 0 && (lowest == 0 || limit < lowest))
            lowest = limit;
        if (f) fclose(f);
        char *slash = strrchr(dir, '/');
        if (len <= rootlen || slash == NULL || slash < dir + rootlen) break;
        *slash = '\0';
    }
    return lowest;
}

unsigned long long memlimit_from(unsigned long long physical, const char *groups_file,
                                 const char *v2_root, const char *v1_root)
{
    unsigned long long total = physical;
    FILE *f = fopen(groups_file, "r");
    char line[PATH_MAX + 64];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *v1 = strstr(line, ":memory:");
        unsigned long long limit =
            strncmp(line, "0::", 3) == 0 ? lowest_limit(v2_root, line + 3, "memory.max")
            : v1 ? lowest_limit(v1_root, v1 + strlen(":memory:"), "memory.limit_in_bytes")
                 : 0;
        if (limit > 0 && (total == 0 || limit < total)) total = limit;
    }
    if (f) fclose(f);
    return total;
}

unsigned long long memlimit_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    unsigned long long physical =
        pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page : 0;
    return memlimit_from(physical, "/proc/self/cgroup", "/sys/fs/cgroup", "/sys/fs/cgroup/memory");
}
