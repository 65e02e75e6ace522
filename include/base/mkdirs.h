/* mkdirs.h - mkdir -p, for the snapshot directory (coordinator.c, h5snap.c)
 * and the embedded PostgreSQL cluster's directory (embedded_pg.c). */
#ifndef BS_MKDIRS_H
#define BS_MKDIRS_H

/* Create path and its missing parents (mode 0755); existing ones are fine.
 * Returns 0, or -1 with errno (ENAMETOOLONG for a path of PATH_MAX bytes or
 * more, ENOENT for ""). Does not check that path is a directory. */
int mkdirs(const char *path);

#endif
