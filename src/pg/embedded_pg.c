/* embedded_pg.c - initdb, start, stop and query a private PostgreSQL cluster.
 *
 * Why: bankstream works out of the box with no database given, like the
 * original's Docker Compose did, without asking the user to set up a server.
 *
 * State diagram of DIR (see embedded_pg.h for the layout):
 *
 *   absent --pg_initdb()--> initialized --pg_start_server()--> running
 *                                ^                                |
 *                                +------- pg_stop_server() -------+
 *
 * "initialized" is marked by the include of bankstream.conf that pg_initdb()
 * appends to postgresql.conf as its last step, so an interrupted initdb is
 * redone (initdb itself refuses a non-empty directory and says so).
 * bankstream.conf and pg_hba.conf are rewritten at every start (port,
 * listen addresses, socket directory, settings; the networks that log in
 * with a password: embedded_pg_net.c). The server programs run in a forked child that drops to the
 * cluster owner when we are root; their output goes to DIR/log. */
#include "pg/embedded_pg.h"
#include "base/memlimit.h"
#include "base/mkdirs.h"
#include "pg/embedded_pg_net.h"

#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define PG_DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"
#define PG_WAIT_SECONDS   60
#define PG_MARKER         "include_if_exists = 'bankstream.conf'"

/* Everything a call needs to know about one cluster directory. */
typedef struct pgctx {
    char dir[PATH_MAX];    /* absolute DIR */
    char data[PATH_MAX];   /* DIR/data */
    char logdir[PATH_MAX]; /* DIR/log */
    char bindir[PATH_MAX]; /* server binaries */
    int switch_user;       /* 1: run the server programs as uid/gid below */
    uid_t uid;
    gid_t gid;
    gid_t groups[64]; /* supplementary groups of that user */
    int ngroups;
    char user[64];
} pgctx_t;

const char *embedded_pg_default_dir(void)
{
    const char *d = getenv("BANKSTREAM_PGDIR");
    return (d && *d) ? d : EMBEDDED_PG_DEFAULT_DIR;
}

static void pg_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double pg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* snprintf that reports truncation: 0 or -1. */
static int pg_path(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* The last non-empty line of a text file (at most size-1 bytes of it), or "". */
static void pg_last_line(const char *file, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(file, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n == 0) continue;
        if (n >= size) n = size - 1;
        memcpy(out, line, n);
        out[n] = '\0';
    }
    fclose(f);
}

/* Fill c for dir without touching the disk except realpath(); dir must exist. */
static int pg_ctx_init(pgctx_t *c, const char *dir, char *errstr, size_t errsize)
{
    memset(c, 0, sizeof *c);
    if (!realpath(dir, c->dir)) {
        snprintf(errstr, errsize, "cannot resolve the cluster directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    const char *bindir = getenv("BANKSTREAM_PG_BINDIR");
    snprintf(c->bindir, sizeof c->bindir, "%s", (bindir && *bindir) ? bindir : PG_DEFAULT_BINDIR);
    if (pg_path(c->data, sizeof c->data, c->dir, "data") != 0 ||
        pg_path(c->logdir, sizeof c->logdir, c->dir, "log") != 0) {
        snprintf(errstr, errsize, "cluster directory path too long: %s", c->dir);
        return -1;
    }
    if (geteuid() != 0) return 0;

    /* Root: run the server as the owner of an existing data directory, else
     * as postgres (PostgreSQL refuses to run as root). */
    struct stat st;
    struct passwd *pw = NULL;
    if (stat(c->data, &st) == 0 && st.st_uid != 0) pw = getpwuid(st.st_uid);
    if (!pw) pw = getpwnam("postgres");
    if (!pw) {
        snprintf(errstr, errsize,
                 "PostgreSQL refuses to run as root and there is no 'postgres' user; "
                 "create one (apt-get install postgresql-15 does) or run as another user");
        return -1;
    }
    c->switch_user = 1;
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    snprintf(c->user, sizeof c->user, "%s", pw->pw_name);
    /* Looked up here, not after fork(): NSS is not async-signal-safe. */
    c->ngroups = (int)(sizeof c->groups / sizeof c->groups[0]);
    if (getgrouplist(c->user, c->gid, c->groups, &c->ngroups) < 0) {
        c->groups[0] = c->gid;
        c->ngroups = 1;
    }
    return 0;
}

/* In a forked child: become the cluster owner (system calls only, as the
 * parent may have other threads). Returns 0 or -1. */
static int pg_child_drop(const pgctx_t *c)
{
    if (!c->switch_user) return 0;
    if (setgroups((size_t)c->ngroups, c->groups) != 0) return -1;
    if (setgid(c->gid) != 0) return -1;
    if (setuid(c->uid) != 0) return -1;
    return 0;
}

static int pg_wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Make sure the cluster owner can reach and write c->dir: every ancestor must
 * be searchable by it. Returns 0, or -1 with errstr naming the first
 * directory that is not. */
static int pg_check_reachable(const pgctx_t *c, char *errstr, size_t errsize)
{
    if (!c->switch_user) return 0;
    /* Prefixes of c->dir, as lengths: "/", "/a", "/a/b", ..., c->dir itself. */
    size_t ends[PATH_MAX / 2];
    int n = 0;
    ends[n++] = 1;
    for (size_t i = 1; c->dir[i]; i++)
        if (c->dir[i] == '/') ends[n++] = i;
    if (c->dir[1]) ends[n++] = strlen(c->dir);

    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errstr, errsize, "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (pg_child_drop(c) != 0) _exit(255);
        char prefix[PATH_MAX];
        for (int i = 0; i < n; i++) {
            memcpy(prefix, c->dir, ends[i]);
            prefix[ends[i]] = '\0';
            int mode = (i == n - 1) ? (R_OK | W_OK | X_OK) : X_OK;
            if (access(prefix, mode) != 0) _exit(i < 250 ? i + 1 : 250);
        }
        _exit(0);
    }
    int rc = pg_wait_child(pid);
    if (rc == 0) return 0;
    if (rc >= 1 && rc <= n && rc < 250)
        snprintf(errstr, errsize,
                 "the PostgreSQL server runs as user '%s', which cannot %s %.*s; "
                 "use a cluster directory it can reach (e.g. --dir /tmp/bankstream-pg or "
                 "BANKSTREAM_PGDIR=/var/tmp/bankstream-pg)",
                 c->user, rc == n ? "write to" : "enter", (int)ends[rc - 1], c->dir);
    else
        snprintf(errstr, errsize, "user '%s' cannot reach %s", c->user, c->dir);
    return -1;
}

/* Run bindir/prog with args (NULL-terminated, args[0] = prog) as the cluster
 * owner, in c->dir, output appended to logfile. Returns the exit status, or -1
 * with errstr filled when it could not be run at all. */
static int pg_run(const pgctx_t *c, const char *logfile, char *const args[], char *errstr,
                  size_t errsize)
{
    char exe[PATH_MAX];
    if (pg_path(exe, sizeof exe, c->bindir, args[0]) != 0 || access(exe, X_OK) != 0) {
        snprintf(errstr, errsize,
                 "PostgreSQL 15 server program %s not found; install postgresql-15 or set "
                 "BANKSTREAM_PG_BINDIR",
                 exe);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errstr, errsize, "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (pg_child_drop(c) != 0) _exit(126);
        int in = open("/dev/null", O_RDONLY);
        int out = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        if (chdir(c->dir) != 0) _exit(126);
        execv(exe, args);
        _exit(127);
    }
    int rc = pg_wait_child(pid);
    if (rc == 126 || rc == 127) {
        snprintf(errstr, errsize, "could not run %s as user '%s' (output in %s)", exe,
                 c->switch_user ? c->user : "current", logfile);
        return -1;
    }
    return rc;
}

/* 1 if every entry of c->dir belongs to a bankstream cluster directory (so
 * handing it to the cluster owner harms nothing), else 0. */
static int pg_dir_is_ours(const pgctx_t *c)
{
    DIR *d = opendir(c->dir);
    if (!d) return 0;
    int ours = 1;
    struct dirent *e;
    while (ours && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        ours = !strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "data") || !strcmp(n, "log") ||
               !strcmp(n, "lock") || !strncmp(n, "conninfo", 8) || !strncmp(n, ".s.PGSQL.", 9) ||
               !strncmp(n, "network", 7) || !strncmp(n, "pgpass", 6);
    }
    closedir(d);
    return ours;
}

/* Create DIR/log; when running as root, give DIR and DIR/log to the cluster
 * owner, but only if DIR is new or already a cluster directory. */
static int pg_prepare_dirs(const pgctx_t *c, char *errstr, size_t errsize)
{
    struct stat st;
    if (c->switch_user) {
        if (stat(c->dir, &st) != 0) {
            snprintf(errstr, errsize, "cannot stat %s: %s", c->dir, strerror(errno));
            return -1;
        }
        if (st.st_uid != c->uid) {
            if (!pg_dir_is_ours(c)) {
                snprintf(errstr, errsize,
                         "%s is not empty and not a bankstream cluster directory; pass a new or "
                         "empty directory with --dir",
                         c->dir);
                return -1;
            }
            if (chown(c->dir, c->uid, c->gid) != 0) {
                snprintf(errstr, errsize, "cannot give %s to user '%s': %s", c->dir, c->user,
                         strerror(errno));
                return -1;
            }
        }
    }
    if (mkdir(c->logdir, 0755) != 0 && errno != EEXIST) {
        snprintf(errstr, errsize, "cannot create %s: %s", c->logdir, strerror(errno));
        return -1;
    }
    if (c->switch_user && chown(c->logdir, c->uid, c->gid) != 0) {
        snprintf(errstr, errsize, "cannot give %s to user '%s': %s", c->logdir, c->user,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Take DIR/lock (exclusive, blocking). Returns the fd or -1. */
static int pg_lock(const pgctx_t *c, char *errstr, size_t errsize)
{
    char path[PATH_MAX];
    if (pg_path(path, sizeof path, c->dir, "lock") != 0) {
        snprintf(errstr, errsize, "path too long: %s/lock", c->dir);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            snprintf(errstr, errsize, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Read DIR/data/postmaster.pid: the postmaster's pid and port, or 0. */
static long pg_pidfile(const pgctx_t *c, int *port)
{
    char path[PATH_MAX];
    if (pg_path(path, sizeof path, c->data, "postmaster.pid") != 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[PATH_MAX];
    long pid = 0, p = 0;
    for (int i = 1; i <= 4 && fgets(line, sizeof line, f); i++) {
        if (i == 1) pid = strtol(line, NULL, 10);
        if (i == 4) p = strtol(line, NULL, 10);
    }
    fclose(f);
    if (port) *port = (int)p;
    return pid > 0 ? pid : 0;
}

/* 1 if process pid exists (zombies included), else 0. */
static int pg_pid_exists(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* 1 if process pid is a zombie (killed, not reaped yet). */
static int pg_pid_zombie(long pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    stat[n] = '\0';
    fclose(f);
    const char *rp = strrchr(stat, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Returns 1 if postmaster.pid names a live process (then *port is the port
 * written there), 0 if there is none or it is stale. */
static int pg_running(const pgctx_t *c, int *port)
{
    int p = 0;
    long pid = pg_pidfile(c, &p);
    if (pid == 0 || !pg_pid_exists(pid) || pg_pid_zombie(pid)) return 0;
    if (port) *port = p;
    return 1;
}

/* A postmaster killed a moment ago stays a zombie until reaped, and a new
 * postmaster refuses to start while the pid in postmaster.pid exists: wait
 * (a few seconds at most) for it to go. */
static void pg_wait_zombie(const pgctx_t *c)
{
    long pid = pg_pidfile(c, NULL);
    double deadline = pg_now() + 10;
    while (pid && pg_pid_exists(pid) && pg_pid_zombie(pid) && pg_now() < deadline)
        pg_sleep_ms(50);
}

static void pg_admin_conninfo(int port, char *out, size_t size)
{
    snprintf(out, size, "host=127.0.0.1 port=%d dbname=postgres user=postgres connect_timeout=5",
             port);
}

/* libpq messages end with a newline; keep errstr to one line. */
static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n') *p = (p[1] ? ' ' : '\0');
}

/* A superuser session on the server at port, or NULL (errstr says why). */
static PGconn *pg_admin_connect(int port, char *errstr, size_t errsize)
{
    char ci[256];
    pg_admin_conninfo(port, ci, sizeof ci);
    PGconn *conn = PQconnectdb(ci);
    if (PQstatus(conn) == CONNECTION_OK) return conn;
    snprintf(errstr, errsize, "cannot connect to the embedded PostgreSQL on port %d: %s", port,
             PQerrorMessage(conn));
    one_line(errstr);
    PQfinish(conn);
    return NULL;
}

/* Wait until the server on port accepts connections (PG_WAIT_SECONDS at
 * most). Returns 0 when it does, 1 if the server process went away meanwhile
 * (errstr filled), -1 on timeout (errstr filled). */
static int pg_wait_ready(const pgctx_t *c, int port, char *errstr, size_t errsize)
{
    char ci[256];
    pg_admin_conninfo(port, ci, sizeof ci);
    double deadline = pg_now() + PG_WAIT_SECONDS;
    for (;;) {
        if (PQping(ci) == PQPING_OK) return 0;
        if (!pg_running(c, NULL)) {
            snprintf(errstr, errsize,
                     "the PostgreSQL server under %s exited; see %s/postgresql.log", c->dir,
                     c->logdir);
            return 1;
        }
        if (pg_now() > deadline) break;
        pg_sleep_ms(50);
    }
    snprintf(errstr, errsize,
             "the PostgreSQL server under %s does not accept connections on port %d; see "
             "%s/postgresql.log",
             c->dir, port, c->logdir);
    return -1;
}

/* 1 if nothing listens on 127.0.0.1:port, 0 if something does, -1 on error. */
static int pg_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 1 : (errno == EADDRINUSE ? 0 : -1);
    close(fd);
    return rc;
}

/* Write text to path atomically (temp file + rename), mode 0644, owned by the
 * cluster owner if chown_it. */
static int pg_write_file(const pgctx_t *c, const char *path, const char *text, int chown_it,
                         char *errstr, size_t errsize)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) goto fail;
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad) goto fail;
    if (chown_it && c->switch_user && chown(tmp, c->uid, c->gid) != 0) goto fail;
    if (rename(tmp, path) != 0) goto fail;
    return 0;
fail:
    snprintf(errstr, errsize, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

/* 1 if postgresql.conf carries our include line (initdb completed), else 0. */
static int pg_initialized(const pgctx_t *c)
{
    char path[PATH_MAX];
    if (pg_path(path, sizeof path, c->data, "postgresql.conf") != 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, PG_MARKER, strlen(PG_MARKER)) == 0;
    fclose(f);
    return found;
}

/* initdb the data directory and hook bankstream.conf into postgresql.conf. */
static int pg_initdb(const pgctx_t *c, char *errstr, size_t errsize)
{
    char logfile[PATH_MAX], conf[PATH_MAX];
    if (pg_path(logfile, sizeof logfile, c->logdir, "initdb.log") != 0 ||
        pg_path(conf, sizeof conf, c->data, "postgresql.conf") != 0) {
        snprintf(errstr, errsize, "path too long under %s", c->dir);
        return -1;
    }
    char *args[] = {"initdb", "-D", (char *)c->data, "-U",          "postgres", "-A",
                    "trust",  "-E", "UTF8",          "--no-locale", NULL};
    int rc = pg_run(c, logfile, args, errstr, errsize);
    if (rc < 0) return -1;
    if (rc != 0) {
        char last[512];
        pg_last_line(logfile, last, sizeof last);
        snprintf(errstr, errsize, "initdb of %s failed: %s (see %s)", c->data, last, logfile);
        return -1;
    }
    /* The marker goes last: a cluster without it is not considered ready. */
    FILE *f = fopen(conf, "a");
    if (!f) goto fail;
    int bad = fprintf(f, "\n# bankstream: settings rewritten by 'bankstream db start'\n%s\n",
                      PG_MARKER) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad) goto fail;
    return 0;
fail:
    snprintf(errstr, errsize, "cannot append to %s: %s", conf, strerror(errno));
    return -1;
}

/* Rewrite DIR/data/pg_hba.conf for net (embedded_pg_net.h, invariants 1-2). */
static int pg_write_hba(const pgctx_t *c, const pgnet_t *net, char *errstr, size_t errsize)
{
    char path[PATH_MAX], text[4096];
    if (pg_path(path, sizeof path, c->data, "pg_hba.conf") != 0 ||
        pgnet_hba(net, text, sizeof text) != 0) {
        snprintf(errstr, errsize, "pg_hba.conf under %s: path or networks too long", c->data);
        return -1;
    }
    return pg_write_file(c, path, text, 1, errstr, errsize);
}

/* shared_buffers in MB: a quarter of memlimit_bytes(), as PostgreSQL's manual
 * advises for a server's own machine, between SHARED_BUFFERS_MIN_MB and
 * SHARED_BUFFERS_MAX_MB (SHARED_BUFFERS_MIN_MB when memory is unknown).
 * Why: every row adds an entry at a random place in each index keyed by
 * random UUIDs (the README's "rate as history grows"); once they outgrow
 * the buffers, each insert evicts a page and reads one back through the
 * kernel. Measured over 20 million transactions, 1 million users, -np 2 on
 * a 24 GiB machine (tests/bench/memory.sh, with the index on
 * transacoes_scores that schema.c no longer makes), the last quarter of
 * the run committed at 50-52 % of the first quarter's rate with 256 MB
 * (3 runs), at 61-65 % with 6 GB (5 runs).
 * The server maps the buffers at start but touches them only as it uses
 * them. ALTER SYSTEM SET shared_buffers overrides this (postgresql.auto.conf
 * is read after bankstream.conf). */
#define SHARED_BUFFERS_MIN_MB 256ULL
#define SHARED_BUFFERS_MAX_MB 8192ULL
static unsigned long long shared_buffers_mb(void)
{
    unsigned long long mb = memlimit_bytes() / 4 / (1024 * 1024);
    if (mb < SHARED_BUFFERS_MIN_MB) return SHARED_BUFFERS_MIN_MB;
    return mb > SHARED_BUFFERS_MAX_MB ? SHARED_BUFFERS_MAX_MB : mb;
}

/* Rewrite DIR/data/bankstream.conf for port and net's listen addresses. */
static int pg_write_conf(const pgctx_t *c, int port, const pgnet_t *net, char *errstr,
                         size_t errsize)
{
    char path[PATH_MAX];
    if (pg_path(path, sizeof path, c->data, "bankstream.conf") != 0) {
        snprintf(errstr, errsize, "path too long under %s", c->data);
        return -1;
    }
    /* A Unix socket path must fit sockaddr_un; without one, clients use TCP. */
    struct sockaddr_un un;
    char sockdir[PATH_MAX * 2] = "";
    if (strlen(c->dir) + sizeof "/.s.PGSQL.65535" <= sizeof un.sun_path) {
        size_t k = 0;
        for (const char *p = c->dir; *p && k + 2 < sizeof sockdir; p++) {
            if (*p == '\'') sockdir[k++] = '\'';
            sockdir[k++] = *p;
        }
        sockdir[k] = '\0';
    }
    char text[PATH_MAX * 3], listen[600];
    pgnet_listen_addresses(net, listen, sizeof listen);
    snprintf(text, sizeof text,
             "# written by 'bankstream db start' at every start; edit with care\n"
             "listen_addresses = '%s'\n"
             "port = %d\n"
             "unix_socket_directories = '%s'\n"
             "max_connections = 200\n"
             "max_prepared_transactions = 64\n"
             "shared_buffers = %lluMB\n"
             "work_mem = 16MB\n"
             "maintenance_work_mem = 256MB\n"
             "wal_level = minimal\n"
             "max_wal_senders = 0\n"
             "wal_buffers = 16MB\n"
             "max_wal_size = 2GB\n"
             "min_wal_size = 256MB\n"
             "checkpoint_timeout = 15min\n"
             "checkpoint_completion_target = 0.9\n"
             "fsync = on\n"
             "synchronous_commit = on\n"
             "full_page_writes = on\n"
             "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
             "log_timezone = 'UTC'\n"
             "timezone = 'UTC'\n"
             "password_encryption = 'scram-sha-256'\n",
             listen, port, sockdir, shared_buffers_mb());
    return pg_write_file(c, path, text, 1, errstr, errsize);
}

/* pg_ctl start; returns 0 or -1 with errstr filled. */
static int pg_start_server(const pgctx_t *c, int port, char *errstr, size_t errsize)
{
    char logfile[PATH_MAX], ctllog[PATH_MAX];
    if (pg_path(logfile, sizeof logfile, c->logdir, "postgresql.log") != 0 ||
        pg_path(ctllog, sizeof ctllog, c->logdir, "pg_ctl.log") != 0) {
        snprintf(errstr, errsize, "path too long under %s", c->logdir);
        return -1;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", PG_WAIT_SECONDS);
    char *args[] = {"pg_ctl", "start", "-D", (char *)c->data, "-l", logfile, "-w", "-t",
                    timeout,  "-s",    NULL};
    int rc = pg_run(c, ctllog, args, errstr, errsize);
    if (rc < 0) return -1;
    if (rc != 0) {
        char last[512];
        pg_last_line(logfile, last, sizeof last);
        if (!last[0]) pg_last_line(ctllog, last, sizeof last);
        snprintf(errstr, errsize, "PostgreSQL under %s did not start: %s (see %s)", c->dir, last,
                 logfile);
        return -1;
    }
    return pg_wait_ready(c, port, errstr, errsize) == 0 ? 0 : -1;
}

static int pg_stop_server(const pgctx_t *c, char *errstr, size_t errsize)
{
    char ctllog[PATH_MAX];
    if (pg_path(ctllog, sizeof ctllog, c->logdir, "pg_ctl.log") != 0) {
        snprintf(errstr, errsize, "path too long under %s", c->logdir);
        return -1;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", PG_WAIT_SECONDS);
    char *args[] = {"pg_ctl", "stop", "-D", (char *)c->data, "-m", "fast", "-w", "-t",
                    timeout,  "-s",   NULL};
    int rc = pg_run(c, ctllog, args, errstr, errsize);
    if (rc < 0) return -1;
    if (rc != 0 && pg_running(c, NULL)) {
        char last[512];
        pg_last_line(ctllog, last, sizeof last);
        snprintf(errstr, errsize, "could not stop PostgreSQL under %s: %s", c->dir, last);
        return -1;
    }
    return 0;
}

/* CREATE DATABASE bank unless it exists. */
static int pg_ensure_database(int port, char *errstr, size_t errsize)
{
    int rc = -1;
    PGresult *res = NULL;
    PGconn *conn = pg_admin_connect(port, errstr, errsize);
    if (conn == NULL) return -1;
    const char *params[1] = {EMBEDDED_PG_DBNAME};
    res = PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "cannot list databases: %s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = PQexec(conn, "CREATE DATABASE " EMBEDDED_PG_DBNAME);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && !strcmp(state, "42P04"))) {
            snprintf(errstr, errsize, "cannot create database %s: %s", EMBEDDED_PG_DBNAME,
                     PQerrorMessage(conn));
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0) one_line(errstr);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* Port recorded in DIR/conninfo, or 0. */
static int pg_recorded_port(const pgctx_t *c)
{
    char path[PATH_MAX], line[512] = "";
    if (pg_path(path, sizeof path, c->dir, "conninfo") != 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
    int port = 0;
    PQconninfoOption *opts = PQconninfoParse(line, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "port") && o->val) port = atoi(o->val);
    PQconninfoFree(opts);
    return (port > 0 && port < 65536) ? port : 0;
}

static void pg_conninfo(int port, char *out, size_t size)
{
    snprintf(out, size, "host=127.0.0.1 port=%d dbname=%s user=postgres", port, EMBEDDED_PG_DBNAME);
}

/* With the server up: apply net to it (reload pg_hba.conf when it was
 * running already, and check that it listens where net says), then the
 * network login role when net listens beyond loopback. */
static int pg_apply_network(const pgctx_t *c, int port, const pgnet_t *net, int reload,
                            embedded_pg_remote_t *remote, char *errstr, size_t errsize)
{
    char want[600];
    int rc = -1;
    PGresult *res = NULL;
    PGconn *conn = pg_admin_connect(port, errstr, errsize);
    if (conn == NULL) return -1;
    if (reload) {
        res = PQexec(conn, "SELECT pg_reload_conf(), current_setting('listen_addresses')");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(errstr, errsize, "cannot reload the configuration: %s", PQerrorMessage(conn));
            goto done;
        }
        pgnet_listen_addresses(net, want, sizeof want);
        if (strcmp(PQgetvalue(res, 0, 1), want) != 0) {
            snprintf(errstr, errsize,
                     "the cluster under %s runs listening on '%s', not '%s'; stop it first "
                     "with 'bankstream db stop --dir %s'",
                     c->dir, PQgetvalue(res, 0, 1), want, c->dir);
            goto done;
        }
    }
    if (pgnet_remote(net) && remote) {
        char passfile[PATH_MAX];
        if (pgnet_ensure_role(conn, c->dir, port, EMBEDDED_PG_DBNAME, passfile, sizeof passfile,
                              errstr, errsize) != 0)
            goto done;
        pgnet_conninfo(net, port, remote->conninfo, sizeof remote->conninfo);
        snprintf(remote->passfile, sizeof remote->passfile, "%s", passfile);
        snprintf(remote->trust, sizeof remote->trust, "%s", net->trust);
    }
    rc = 0;
done:
    if (rc != 0) one_line(errstr);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int embedded_pg_start(const char *dir, int port, char *conninfo, size_t conninfo_size, char *errstr,
                      size_t errsize)
{
    return embedded_pg_start_net(dir, port, NULL, NULL, conninfo, conninfo_size, NULL, errstr,
                                 errsize);
}

int embedded_pg_start_net(const char *dir, int port, const char *listen, const char *trust,
                          char *conninfo, size_t conninfo_size, embedded_pg_remote_t *remote,
                          char *errstr, size_t errsize)
{
    pgctx_t c;
    pgnet_t recorded, net;
    int rc = EMBEDDED_PG_ERR, lockfd = -1, running_port = 0;
    if (remote) memset(remote, 0, sizeof *remote);
    if (port < 0 || port > 65535) {
        snprintf(errstr, errsize, "invalid port %d", port);
        return EMBEDDED_PG_ERR;
    }
    if (mkdirs(dir) != 0) {
        snprintf(errstr, errsize, "cannot create the cluster directory %s: %s", dir,
                 strerror(errno));
        return EMBEDDED_PG_ERR;
    }
    if (pg_ctx_init(&c, dir, errstr, errsize) != 0) return EMBEDDED_PG_ERR;
    if (pg_prepare_dirs(&c, errstr, errsize) != 0) return EMBEDDED_PG_ERR;
    if (pg_check_reachable(&c, errstr, errsize) != 0) return EMBEDDED_PG_ERR;
    if ((lockfd = pg_lock(&c, errstr, errsize)) < 0) return EMBEDDED_PG_ERR;
    if (pgnet_load(c.dir, &recorded, errstr, errsize) != 0 ||
        pgnet_resolve(listen, trust, &recorded, &net, errstr, errsize) != 0)
        goto done;

    int running = pg_running(&c, &running_port), reload = 0;
    if (running) {
        if (port != 0 && port != running_port) {
            snprintf(errstr, errsize,
                     "the cluster under %s already runs on port %d, not %d; stop it first with "
                     "'bankstream db stop --dir %s'",
                     c.dir, running_port, port, dir);
            goto done;
        }
        int wr = pg_wait_ready(&c, running_port, errstr, errsize);
        if (wr < 0) goto done;
        if (wr == 0) port = running_port;
        running = wr == 0; /* wr == 1: it died meanwhile (killed), start it anew */
        /* Asked for other networks: new pg_hba.conf, reloaded below. */
        if (running && (listen != NULL || trust != NULL)) {
            if (pg_write_hba(&c, &net, errstr, errsize) != 0) goto done;
            reload = 1;
        }
    }
    if (!running) {
        if (port == 0) port = pg_recorded_port(&c);
        if (port == 0) port = EMBEDDED_PG_DEFAULT_PORT;
        if (pg_port_free(port) == 0) {
            snprintf(errstr, errsize,
                     "port %d on 127.0.0.1 is already in use by another program; choose another "
                     "with --port",
                     port);
            rc = EMBEDDED_PG_PORT_BUSY;
            goto done;
        }
        int nb = pgnet_check_bind(&net, port, errstr, errsize);
        if (nb <= 0) {
            rc = nb == 0 ? EMBEDDED_PG_PORT_BUSY : EMBEDDED_PG_ERR;
            goto done;
        }
        pg_wait_zombie(&c);
        if (!pg_initialized(&c) && pg_initdb(&c, errstr, errsize) != 0) goto done;
        if (pg_write_conf(&c, port, &net, errstr, errsize) != 0 ||
            pg_write_hba(&c, &net, errstr, errsize) != 0)
            goto done;
        int sr = pg_start_server(&c, port, errstr, errsize);
        if (sr != 0) {
            rc = sr;
            if (pg_running(&c, NULL)) {
                char ignored[256];
                pg_stop_server(&c, ignored, sizeof ignored);
            }
            goto done;
        }
    }
    if (pg_ensure_database(port, errstr, errsize) != 0) goto done;
    if (pg_apply_network(&c, port, &net, reload, remote, errstr, errsize) != 0) goto done;
    if ((listen != NULL || trust != NULL) && pgnet_save(c.dir, &net, errstr, errsize) != 0)
        goto done;

    char ci[256], path[PATH_MAX], text[300];
    pg_conninfo(port, ci, sizeof ci);
    snprintf(text, sizeof text, "%s\n", ci);
    if (pg_path(path, sizeof path, c.dir, "conninfo") != 0) {
        snprintf(errstr, errsize, "path too long: %s/conninfo", c.dir);
        goto done;
    }
    if (pg_write_file(&c, path, text, 0, errstr, errsize) != 0) goto done;
    if ((size_t)snprintf(conninfo, conninfo_size, "%s", ci) >= conninfo_size) {
        snprintf(errstr, errsize, "conninfo buffer too small");
        goto done;
    }
    rc = EMBEDDED_PG_OK;
done:
    close(lockfd);
    return rc;
}

int embedded_pg_stop(const char *dir, char *errstr, size_t errsize)
{
    pgctx_t c;
    struct stat st;
    if (stat(dir, &st) != 0) return 0; /* no cluster there: nothing runs */
    if (pg_ctx_init(&c, dir, errstr, errsize) != 0) return -1;
    int lockfd = pg_lock(&c, errstr, errsize);
    if (lockfd < 0) return -1;
    int rc = 0;
    if (pg_running(&c, NULL)) rc = pg_stop_server(&c, errstr, errsize) == 0 ? 1 : -1;
    close(lockfd);
    return rc;
}

int embedded_pg_status(const char *dir, char *conninfo, size_t conninfo_size,
                       embedded_pg_remote_t *remote, char *errstr, size_t errsize)
{
    pgctx_t c;
    struct stat st;
    if (conninfo && conninfo_size) conninfo[0] = '\0';
    if (remote) memset(remote, 0, sizeof *remote);
    if (stat(dir, &st) != 0) return 0;
    if (pg_ctx_init(&c, dir, errstr, errsize) != 0) return -1;
    int port = pg_recorded_port(&c);
    int running_port = 0;
    int running = pg_running(&c, &running_port);
    if (running && running_port > 0) port = running_port;
    if (conninfo && conninfo_size && port > 0) pg_conninfo(port, conninfo, conninfo_size);
    pgnet_t net;
    char ignored[256];
    if (remote && port > 0 && pgnet_load(c.dir, &net, ignored, sizeof ignored) == 0 &&
        pgnet_remote(&net)) {
        pgnet_conninfo(&net, port, remote->conninfo, sizeof remote->conninfo);
        if (pg_path(remote->passfile, sizeof remote->passfile, c.dir, "pgpass") != 0)
            remote->passfile[0] = '\0';
        snprintf(remote->trust, sizeof remote->trust, "%s", net.trust);
    }
    return running;
}
