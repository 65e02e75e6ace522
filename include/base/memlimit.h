/* memlimit.h - how much memory this process may use: the machine's, or a
 * lower limit of its control group (cgroup v2 or v1). The embedded
 * PostgreSQL cluster sizes its shared_buffers from it (embedded_pg.c). */
#ifndef BS_MEMLIMIT_H
#define BS_MEMLIMIT_H

/* The bytes of memory this process may use: the machine's physical memory,
 * or the lowest limit of this process's control group and its ancestors
 * when that is lower. 0 when unknown. */
unsigned long long memlimit_bytes(void);

/* memlimit_bytes with its sources named (tests give it a directory of
 * their own): physical bytes (0: unknown), the file listing this process's
 * groups (as /proc/self/cgroup: "0::/path" for v2, "N:memory:/path" for
 * v1), and the roots under which v2's memory.max and v1's
 * memory.limit_in_bytes are found. A limit that does not parse ("max") is
 * no limit. */
unsigned long long memlimit_from(unsigned long long physical, const char *groups_file,
                                 const char *v2_root, const char *v1_root);

#endif
