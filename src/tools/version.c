/* version.c - `bankstream version` / `bankstream --version` (see version.h).
 *
 * Built versions come from each library's header macros, running versions
 * from its run-time call:
 *
 *   library        built (headers)                running (shared library)
 *   librdkafka     RD_KAFKA_VERSION               rd_kafka_version_str()
 *   libpq          PG_VERSION_NUM (pg_config.h)   PQlibVersion()
 *   Open MPI       OMPI_*_VERSION (mpi.h)         MPI_Get_library_version(), before MPI_Init
 *   HDF5           H5_VERS_*                      H5get_libversion()
 *   cJSON          CJSON_VERSION_*                cJSON_Version()
 *   libmicrohttpd  MHD_VERSION                    MHD_get_version()
 *
 * A line shows the running version only where it differs from the built one
 * (a newer Debian point release of libpq5 under the same binary, say). */
#include "tools/version.h"
#include "base/log.h"
#include "commands.h"

#include <cJSON.h>
#include <hdf5.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <mpi.h>
#include <pg_config.h>

#include <stdio.h>
#include <string.h>

#ifndef BS_VERSION
#define BS_VERSION "unknown"
#endif
#ifndef BS_GIT_DESCRIBE
#define BS_GIT_DESCRIBE ""
#endif

const char *version_string(void)
{
    return BS_GIT_DESCRIBE[0] ? BS_VERSION " (git " BS_GIT_DESCRIBE ")" : BS_VERSION;
}

/* "2.0.2" from librdkafka's 0xMMmmrrxx (each byte a number: 2.10.0 is 0x020a00ff). */
static void version_rdkafka(unsigned long v, char *out, size_t size)
{
    snprintf(out, size, "%lu.%lu.%lu", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
}

/* "0.9.75" from libmicrohttpd's 0xMMmmrrxx (each byte two decimal digits
 * written in hex: 0.9.75 is 0x00097500). */
static void version_mhd(unsigned long v, char *out, size_t size)
{
    snprintf(out, size, "%lx.%lx.%lx", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
}

/* "15.18" from PostgreSQL's MMmmmm (10 and later: major * 10000 + minor). */
static void version_pg(int v, char *out, size_t size)
{
    snprintf(out, size, "%d.%d", v / 10000, v % 10000);
}

/* The version number in Open MPI's library string "Open MPI v4.1.4, package:
 * ...": the word after "v" up to the first comma; any other MPI's string up
 * to its first comma or newline. */
static void version_mpi_running(char *out, size_t size)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    out[0] = '\0';
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) return;
    lib[len < MPI_MAX_LIBRARY_VERSION_STRING ? len : MPI_MAX_LIBRARY_VERSION_STRING - 1] = '\0';
    const char *p = lib;
    if (strncmp(p, "Open MPI v", 10) == 0) p += 10;
    size_t n = strcspn(p, ",\n");
    snprintf(out, size, "%.*s", (int)n, p);
}

size_t version_libs(version_lib_t *libs, size_t max)
{
    size_t n = 0;
    if (max < VERSION_LIBS) return 0;
    memset(libs, 0, max * sizeof *libs);

    version_lib_t *l = &libs[n++];
    l->name = "librdkafka";
    version_rdkafka((unsigned long)RD_KAFKA_VERSION, l->built, sizeof l->built);
    snprintf(l->running, sizeof l->running, "%s", rd_kafka_version_str());

    l = &libs[n++];
    l->name = "libpq";
    version_pg(PG_VERSION_NUM, l->built, sizeof l->built);
    version_pg(PQlibVersion(), l->running, sizeof l->running);

    l = &libs[n++];
#ifdef OMPI_MAJOR_VERSION
    l->name = "Open MPI";
    snprintf(l->built, sizeof l->built, "%d.%d.%d", OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION,
             OMPI_RELEASE_VERSION);
#else
    l->name = "MPI library";
    snprintf(l->built, sizeof l->built, "?");
#endif
    version_mpi_running(l->running, sizeof l->running);
    int mpi_v = MPI_VERSION, mpi_s = MPI_SUBVERSION;
    MPI_Get_version(&mpi_v, &mpi_s); /* callable before MPI_Init too */
    snprintf(l->note, sizeof l->note, "MPI %d.%d", mpi_v, mpi_s);

    l = &libs[n++];
    l->name = "HDF5";
    snprintf(l->built, sizeof l->built, "%d.%d.%d", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) >= 0)
        snprintf(l->running, sizeof l->running, "%u.%u.%u", maj, min, rel);
#ifdef H5_HAVE_PARALLEL
    snprintf(l->note, sizeof l->note, "parallel");
#endif

    l = &libs[n++];
    l->name = "cJSON";
    snprintf(l->built, sizeof l->built, "%d.%d.%d", CJSON_VERSION_MAJOR, CJSON_VERSION_MINOR,
             CJSON_VERSION_PATCH);
    snprintf(l->running, sizeof l->running, "%s", cJSON_Version());

    l = &libs[n++];
    l->name = "libmicrohttpd";
    version_mhd((unsigned long)MHD_VERSION, l->built, sizeof l->built);
    const char *mhd = MHD_get_version();
    snprintf(l->running, sizeof l->running, "%s", mhd ? mhd : "");
    return n;
}

int version_print(FILE *out)
{
    version_lib_t libs[VERSION_LIBS];
    size_t n = version_libs(libs, VERSION_LIBS);
    fprintf(out, "bankstream %s\n", version_string());
    for (size_t i = 0; i < n; i++) {
        const version_lib_t *l = &libs[i];
        fprintf(out, "%s %s", l->name, l->built);
        if (l->running[0] && strcmp(l->running, l->built) != 0)
            fprintf(out, " (running %s)", l->running);
        if (l->note[0]) fprintf(out, " (%s)", l->note);
        fputc('\n', out);
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: bankstream version   (or bankstream --version)\n\n"
               "Print bankstream's version, then one line per library: the version it was\n"
               "built with and, where the library loaded now differs, '(running X)'.\n");
        return 0;
    }
    if (argc > 1) {
        log_error("version takes no arguments (got '%s')", argv[1]);
        return 2;
    }
    if (version_print(stdout) != 0) {
        log_error("cannot write the version report to stdout");
        return 1;
    }
    return 0;
}
