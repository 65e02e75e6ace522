/* version.h - `bankstream --version`: bankstream's version and those of the
 * libraries it was built with and runs with.
 *
 * The version is the Makefile's VERSION (BS_VERSION), followed by the tree's
 * `git describe` when the build had one (BS_GIT_DESCRIBE). Each library line
 * gives the version of the headers bankstream was compiled against and, when
 * the shared library loaded at run time reports another one, that one too:
 *
 *   bankstream 0.1.0 (git 53ff32d-dirty)
 *   librdkafka 2.0.2
 *   libpq 15.18 (running 15.20)
 *   Open MPI 4.1.4 (MPI 3.1)
 *   HDF5 1.10.8 (parallel)
 *   cJSON 1.7.15
 *   libmicrohttpd 0.9.75
 *
 * Nothing here initializes MPI (MPI_Get_library_version may be called before
 * MPI_Init), connects anywhere or opens a file, so it works on a login node,
 * in a container health check and in a freshly installed tree. */
#ifndef BS_TOOLS_VERSION_H
#define BS_TOOLS_VERSION_H

#include <stddef.h>
#include <stdio.h>

#define VERSION_LIBS 6 /* librdkafka, libpq, Open MPI, HDF5, cJSON, libmicrohttpd */

/* One library: built is the version of its headers at compile time, running
 * the version its shared library reports now (empty when it cannot say).
 * note is extra detail for the line ("parallel", "MPI 3.1"), may be empty. */
typedef struct version_lib {
    const char *name;
    char built[32];
    char running[32];
    char note[32];
} version_lib_t;

/* "0.1.0" or "0.1.0 (git 53ff32d)": a static string, never NULL. */
const char *version_string(void);

/* Fill libs[0..VERSION_LIBS-1]; returns the count filled (VERSION_LIBS). */
size_t version_libs(version_lib_t *libs, size_t max);

/* Print the report above to out, one line each; returns 0, or -1 if the
 * write failed. */
int version_print(FILE *out);

#endif
