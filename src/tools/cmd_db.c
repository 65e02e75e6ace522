/* cmd_db.c - `bankstream db start|stop|status`: the embedded PostgreSQL cluster.
 *
 * A thin command layer over embedded_pg.h: parse flags, call, print one line,
 * choose the exit status (status: 0 running, 3 stopped, as pg_ctl does). */
#include "base/cli.h"
#include "commands.h"
#include "pg/embedded_pg.h"
#include "pg/embedded_pg_net.h"
#include "base/log.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void db_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream db start  [--dir DIR] [--port P] [--listen ADDR[,ADDR...]]\n"
            "                            [--trust NET[,NET...]]\n"
            "       bankstream db stop   [--dir DIR]\n"
            "       bankstream db status [--dir DIR]\n"
            "\n"
            "Manage a private PostgreSQL 15 cluster under DIR (default $BANKSTREAM_PGDIR, else\n"
            "%s), listening on 127.0.0.1, with database '%s'.\n"
            "\n"
            "  start   initdb if needed, start (or reuse the running cluster), create the\n"
            "          database; prints its conninfo, also stored in DIR/conninfo\n"
            "  stop    stop it (fast mode; exit 1 when DIR holds no cluster)\n"
            "  status  print 'running: CONNINFO' (exit 0) or 'stopped' (exit 3)\n"
            "\n"
            "  --dir DIR      cluster directory\n"
            "  --port P       TCP port for start (default: the previous one, else %d)\n"
            "  --listen ADDR  also listen on these addresses of this host ('*': all), for\n"
            "                 ranks on other hosts; 127.0.0.1 alone = loopback only\n"
            "                 (default: the previous start's choice, else loopback only)\n"
            "  --trust NET    client networks (CIDR) that log in from there, with a password\n"
            "                 (scram-sha-256) as role '%s', owner of database '%s'\n"
            "                 (default: the networks of the --listen addresses). Loopback\n"
            "                 needs no password; no other network gets in. start then\n"
            "                 prints the conninfo those hosts use; the password is in\n"
            "                 DIR/pgpass (mode 0600, ~/.pgpass format)\n",
            EMBEDDED_PG_DEFAULT_DIR, EMBEDDED_PG_DBNAME, EMBEDDED_PG_DEFAULT_PORT,
            EMBEDDED_PG_NET_ROLE, EMBEDDED_PG_DBNAME);
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
        {"dir", required_argument, NULL, 'd'},    {"port", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'}, {"trust", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *dir = embedded_pg_default_dir();
    int64_t port = 0;
    const char *listen = NULL, *trust = NULL;
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
        case 'l':
        case 't':
            if (strcmp(action, "start") != 0) {
                log_error("--%s applies to 'db start' only", c == 'l' ? "listen" : "trust");
                return 2;
            }
            if (c == 'l')
                listen = optarg;
            else
                trust = optarg;
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
    embedded_pg_remote_t remote;
    if (!strcmp(action, "start")) {
        int rc = embedded_pg_start_net(dir, (int)port, listen, trust, conninfo, sizeof conninfo,
                                       &remote, errstr, sizeof errstr);
        if (rc != EMBEDDED_PG_OK) {
            log_error("%s", errstr);
            return 1;
        }
        if (remote.conninfo[0]) {
            /* The line other hosts need; where the password is, on stderr. */
            log_info("hosts on %s log in as role '%s' with the password in %s (mode 0600, "
                     "~/.pgpass format): on each host set PGPASSFILE to it (mpirun -x "
                     "PGPASSFILE) or add its line to ~/.pgpass; local tools keep using %s",
                     remote.trust, EMBEDDED_PG_NET_ROLE, remote.passfile, conninfo);
            printf("%s\n", remote.conninfo);
        } else {
            printf("%s\n", conninfo);
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (!strcmp(action, "stop")) {
        int rc = embedded_pg_stop(dir, errstr, sizeof errstr);
        if (rc < 0) {
            log_error("%s", errstr);
            return 1;
        }
        if (rc == 0 &&
            embedded_pg_status(dir, conninfo, sizeof conninfo, &remote, errstr, sizeof errstr) ==
                0 &&
            !conninfo[0]) {
            /* a typo in --dir must not read as a stopped cluster */
            log_error("no cluster under %s (is --dir right? 'bankstream db status --dir DIR' says)",
                      dir);
            return 1;
        }
        printf("%s\n", rc == 1 ? "stopped" : "not running");
        return 0;
    }
    int rc = embedded_pg_status(dir, conninfo, sizeof conninfo, &remote, errstr, sizeof errstr);
    if (rc < 0) {
        log_error("%s", errstr);
        return 1;
    }
    if (rc == 1) {
        printf("running: %s\n", conninfo);
        if (remote.conninfo[0])
            printf("network: %s (from %s; password in %s)\n", remote.conninfo, remote.trust,
                   remote.passfile);
        return 0;
    }
    if (conninfo[0])
        printf("stopped: %s\n", conninfo);
    else
        printf("stopped: no cluster under %s\n", dir);
    return 3;
}
