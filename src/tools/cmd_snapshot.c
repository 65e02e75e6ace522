/* cmd_snapshot.c - `bankstream snapshot ls|show`: inspect HDF5 state snapshots.
 *
 * A thin command layer over h5snap.h, serial (no MPI needed): list a
 * directory's published snapshots verifying each, or print one snapshot's
 * meta after verifying it. Exit 0 success, 1 missing/foreign/corrupt file or
 * unreadable directory, 2 bad usage. */
#include "base/cli.h"
#include "commands.h"
#include "h5/h5snap.h"
#include "base/log.h"
#include "base/money.h"
#include "base/timeparse.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void snapshot_usage(FILE *out)
{
    fprintf(out,
            "usage: bankstream snapshot ls [--no-verify] [DIR]\n"
            "       bankstream snapshot show FILE\n"
            "\n"
            "Inspect the HDF5 state snapshots written by 'bankstream run' (one file per\n"
            "snapshot, DIR/snap-<batch>.h5; unfinished .partial files are never listed).\n"
            "\n"
            "  ls    one line per snapshot, newest first: file, batch, users, total money\n"
            "        in reais, creation time (UTC) and 'ok' or 'CORRUPT: reason'. DIR defaults to\n"
            "        ./%s. Every snapshot is read in full to verify its checksums,\n"
            "        unless --no-verify (then only its layout and meta are checked).\n"
            "  show  format version, batch, creation time, topic, origin, users, total money\n"
            "        and the Kafka offset of every partition, after verifying FILE in full;\n"
            "        exits 1 if FILE is missing, not a snapshot, or corrupt.\n",
            H5SNAP_DEFAULT_DIR);
}

/* "R$ 1234.56" */
static void snapshot_money(int64_t cents, char *buf, size_t size)
{
    char num[40];
    money_format(cents, num, sizeof num);
    snprintf(buf, size, "R$ %s", num);
}

static int snapshot_ls(const char *dir, int verify)
{
    char errstr[1024] = "";
    char **paths = NULL;
    int n = 0;
    if (h5snap_list(dir, &paths, &n, errstr, sizeof errstr) != 0) {
        log_error("cannot list snapshots: %s", errstr);
        return 1;
    }
    if (n == 0) {
        log_info("no snapshots in %s", dir);
        return 0;
    }
    printf("%-40s %12s %10s %18s %-27s %s\n", "FILE", "BATCH", "USERS", "TOTAL_R$", "CREATED_UTC",
           "STATUS");
    for (int i = 0; i < n; i++) {
        h5snap_meta_t m;
        char money[48] = "-", created[40] = "-", batch[24] = "-", users[24] = "-";
        errstr[0] = '\0';
        int rc = h5snap_read_meta(paths[i], verify, &m, errstr, sizeof errstr);
        if (m.format_version > 0) {
            snprintf(batch, sizeof batch, "%" PRId64, m.batch_id);
            snprintf(users, sizeof users, "%" PRId64, m.n_users);
            money_format(m.total_balance_cents, money, sizeof money);
            timeparse_format_utc(m.created_us, created, sizeof created);
        }
        /* The reason without the file name, which starts the line already. */
        const char *why = errstr;
        size_t plen = strlen(paths[i]);
        if (!strncmp(why, paths[i], plen) && !strncmp(why + plen, ": ", 2)) why += plen + 2;
        printf("%-40s %12s %10s %18s %-27s %s%s\n", paths[i], batch, users, money, created,
               rc == 0 ? "ok" : "CORRUPT: ", rc == 0 ? "" : why);
    }
    h5snap_list_free(paths, n);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int snapshot_show(const char *file)
{
    char errstr[1024] = "";
    h5snap_meta_t m;
    if (h5snap_read_meta(file, 1, &m, errstr, sizeof errstr) != 0) {
        log_error("%s", errstr);
        return 1;
    }
    char money[48], created[40];
    snapshot_money(m.total_balance_cents, money, sizeof money);
    timeparse_format_utc(m.created_us, created, sizeof created);
    printf("file:           %s\n", file);
    printf("format_version: %d\n", m.format_version);
    printf("batch:          %" PRId64 "\n", m.batch_id);
    printf("created:        %s\n", created);
    printf("topic:          %s\n", m.topic);
    printf("origin:         %s\n", m.origin[0] ? m.origin : "-");
    printf("writer_ranks:   %d\n", m.writer_ranks);
    printf("users:          %" PRId64 "\n", m.n_users);
    printf("total_money:    %s\n", money);
    printf("checksum:       0x%016" PRIx64 " (verified)\n", m.checksum);
    printf("partitions:     %d\n", m.nparts);
    for (int p = 0; p < m.nparts; p++)
        printf("offset[%d]:%*s%" PRId64 "\n", p,
               p < 10    ? 6
               : p < 100 ? 5
                         : 4,
               "", m.end_offsets[p]);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_snapshot(int argc, char **argv)
{
    if (argc < 2) {
        log_error("missing action; use 'bankstream snapshot ls [DIR]' or 'bankstream snapshot "
                  "show FILE' (see --help)");
        return 2;
    }
    const char *action = argv[1];
    if (!strcmp(action, "--help") || !strcmp(action, "-h")) {
        snapshot_usage(stdout);
        return 0;
    }
    int is_ls = !strcmp(action, "ls"), is_show = !strcmp(action, "show");
    if (!is_ls && !is_show) {
        log_error("unknown action '%s'; use ls or show (see 'bankstream snapshot --help')", action);
        return 2;
    }

    static const struct option opts[] = {
        {"no-verify", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int verify = 1, c;
    opterr = 0;
    optind = 1;
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    while ((c = getopt_long(sub_argc, sub_argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!is_ls) {
                log_error("--no-verify applies to 'snapshot ls' only");
                return 2;
            }
            verify = 0;
            break;
        case 'h':
            snapshot_usage(stdout);
            return 0;
        default:
            return cli_usage_error("snapshot", sub_argv, optind, optopt);
        }
    }
    const char *arg = optind < sub_argc ? sub_argv[optind++] : NULL;
    if (optind < sub_argc) return cli_extra_argument("snapshot", sub_argv[optind]);
    if (is_ls) return snapshot_ls(arg ? arg : H5SNAP_DEFAULT_DIR, verify);
    if (!arg) {
        log_error("missing FILE; use 'bankstream snapshot show FILE'");
        return 2;
    }
    return snapshot_show(arg);
}
