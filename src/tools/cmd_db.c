/* cmd_db.c - `bankstream db start|stop|status`: the embedded PostgreSQL cluster.
 *
 * A thin command layer over embedded_pg.h: parse flags, call, print one line,
 * choose the exit status (status: 0 running, 3 stopped, as pg_ctl does). */
#include "base/cli.h"
#include "commands.h"
#include "pg/embedded_pg.h"
#include "base/log.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void db_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream db start  [--dir DIR] [--port P]\n"
            "       bankstream db stop   [--dir DIR]\n"
            "       bankstream db status [--dir DIR]\n"
            "\n"
            "Manage a private PostgreSQL 15 cluster under DIR (default $BANKSTREAM_PGDIR, else\n"
            "%s), listening on 127.0.0.1 only, with database '%s'.\n"
            "\n"
            "  start   initdb if needed, start (or reuse the running cluster), create the\n"
            "          database; prints its conninfo, also stored in DIR/conninfo\n"
            "  stop    stop it (fast mode; exit 1 when DIR holds no cluster)\n"
            "  status  print 'running: CONNINFO' (exit 0) or 'stopped' (exit 3)\n"
            "\n"
            "  --dir DIR   cluster directory\n"
            "  --port P    TCP port for start (default: the previous one, else %d)\n",
            EMBEDDED_PG_DEFAULT_DIR, EMBEDDED_PG_DBNAME, EMBEDDED_PG_DEFAULT_PORT);
}

int cmd_db(int argc, char **argv)
{
    if (argc < 2) {
        log_error("missing action; use 'bankstream db start|stop|status' (see --help)");
        return 2;
    }
    const char *action = argv[1];
    if (!strcmp(action, "--help") || !strcmp(action, "-h")) {
        db_usage(stdout);
        return 0;
    }
    if (strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "status")) {
        log_error("unknown action '%s'; use start, stop or status", action);
        return 2;
    }

    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = embedded_pg_default_dir();
    int64_t port = 0;
    int c;
    opterr = 0;
    optind = 1;
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    while ((c = getopt_long(sub_argc, sub_argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!optarg[0]) {
                log_error("--dir expects a directory, got ''");
                return 2;
            }
            dir = optarg;
            break;
        case 'p':
            if (strcmp(action, "start") != 0) {
                log_error("--port applies to 'db start' only");
                return 2;
            }
            if (cli_parse_int64("--port", optarg, 1, 65535, &port) != 0) return 2;
            break;
        case 'h':
            db_usage(stdout);
            return 0;
        default:
            return cli_usage_error("db", sub_argv, optind, optopt);
        }
    }
    if (optind < sub_argc) return cli_extra_argument("db", sub_argv[optind]);

    char errstr[1024] = "", conninfo[256] = "";
    if (!strcmp(action, "start")) {
        int rc =
            embedded_pg_start(dir, (int)port, conninfo, sizeof conninfo, errstr, sizeof errstr);
        if (rc != EMBEDDED_PG_OK) {
            log_error("%s", errstr);
            return 1;
        }
        printf("%s\n", conninfo);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (!strcmp(action, "stop")) {
        int rc = embedded_pg_stop(dir, errstr, sizeof errstr);
        if (rc < 0) {
            log_error("%s", errstr);
            return 1;
        }
        if (rc == 0 &&
            embedded_pg_status(dir, conninfo, sizeof conninfo, errstr, sizeof errstr) == 0 &&
            !conninfo[0]) {
            /* a typo in --dir must not read as a stopped cluster */
            log_error("no cluster under %s (is --dir right? 'bankstream db status --dir DIR' says)",
                      dir);
            return 1;
        }
        printf("%s\n", rc == 1 ? "stopped" : "not running");
        return 0;
    }
    int rc = embedded_pg_status(dir, conninfo, sizeof conninfo, errstr, sizeof errstr);
    if (rc < 0) {
        log_error("%s", errstr);
        return 1;
    }
    if (rc == 1) {
        printf("running: %s\n", conninfo);
        return 0;
    }
    if (conninfo[0])
        printf("stopped: %s\n", conninfo);
    else
        printf("stopped: no cluster under %s\n", dir);
    return 3;
}
