/* embedded_pg_net.c - the embedded cluster's addresses, trusted networks and
 * network login role (see embedded_pg_net.h for the invariants).
 *
 * Why a role of its own: a cluster made by initdb -A trust lets anyone who
 * reaches the port in as the superuser. Beyond loopback, clients log in as
 * EMBEDDED_PG_NET_ROLE with a password (scram-sha-256), which owns the
 * database and can do what the processor does (create its tables with
 * `init`, read and write them), but cannot read files, run programs or
 * change roles as a superuser could. */
#include "pg/embedded_pg_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PGNET_FILE     "network"
#define PGNET_PASSFILE "pgpass"

/* One numeric address, IPv4 or IPv6. */
typedef struct pgnet_addr {
    int family;
    uint8_t bytes[16];
} pgnet_addr_t;

static int pgnet_parse_addr(const char *text, pgnet_addr_t *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, text, a->bytes) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, a->bytes) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -1;
}

static int pgnet_addr_len(const pgnet_addr_t *a)
{
    return a->family == AF_INET ? 4 : 16;
}

static int pgnet_is_wildcard(const char *a)
{
    return !strcmp(a, "*") || !strcmp(a, "0.0.0.0") || !strcmp(a, "::");
}

static int pgnet_is_loopback(const char *a)
{
    return !strcmp(a, "127.0.0.1") || !strcmp(a, "localhost") || a[0] == '\0';
}

/* Split a comma-separated list in place; calls fn on each trimmed item.
 * Returns the first nonzero fn result, else 0. */
static int pgnet_each(char *list, int (*fn)(const char *item, void *arg), void *arg)
{
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            t[--n] = '\0';
        int rc = fn(t, arg);
        if (rc) return rc;
    }
    return 0;
}

/* Append item to a comma-separated list unless present. -1 when full. */
static int pgnet_append(char *list, size_t size, const char *item)
{
    size_t n = strlen(list), k = strlen(item);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == k && !strncmp(p, item, k)) return 0;
        p += len + (p[len] == ',');
    }
    if (n + (n ? 1 : 0) + k + 1 > size) return -1;
    if (n) list[n++] = ',';
    memcpy(list + n, item, k + 1);
    return 0;
}

/* ------------------------------------------------------------ DIR/network */

int pgnet_load(const char *dir, pgnet_t *net, char *errstr, size_t errsize)
{
    char path[PATH_MAX], line[1200];
    memset(net, 0, sizeof *net);
    snprintf(path, sizeof path, "%s/%s", dir, PGNET_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return 0;
        snprintf(errstr, errsize, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "listen = ", 9) && strlen(line + 9) < sizeof net->listen)
            strcpy(net->listen, line + 9);
        else if (!strncmp(line, "trust = ", 8) && strlen(line + 8) < sizeof net->trust)
            strcpy(net->trust, line + 8);
        else if (line[0] != '#' && line[0] != '\0')
            rc = -1;
    }
    fclose(f);
    if (rc != 0)
        snprintf(errstr, errsize, "%s is not one bankstream wrote; remove it and start again",
                 path);
    return rc;
}

/* Write text to path through a temporary file and rename, with mode. */
static int pgnet_write(const char *path, const char *text, mode_t mode, char *errstr,
                       size_t errsize)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) goto fail;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            goto fail;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || close(fd) != 0 || rename(tmp, path) != 0) goto fail;
    return 0;
fail:
    snprintf(errstr, errsize, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

int pgnet_save(const char *dir, const pgnet_t *net, char *errstr, size_t errsize)
{
    char path[PATH_MAX], text[1700];
    snprintf(path, sizeof path, "%s/%s", dir, PGNET_FILE);
    snprintf(text, sizeof text,
             "# written by 'bankstream db start' (--listen, --trust); kept by later starts\n"
             "listen = %s\ntrust = %s\n",
             net->listen, net->trust);
    return pgnet_write(path, text, 0644, errstr, errsize);
}

/* ------------------------------------------------------------- resolving */

typedef struct pgnet_job {
    pgnet_t *out;
    char *errstr;
    size_t errsize;
} pgnet_job_t;

static int pgnet_add_listen(const char *item, void *arg)
{
    pgnet_job_t *j = arg;
    pgnet_addr_t a;
    if (pgnet_is_loopback(item)) return 0;
    if ((pgnet_is_wildcard(item) && j->out->listen[0]) || pgnet_is_wildcard(j->out->listen)) {
        snprintf(j->errstr, j->errsize, "--listen: '%s' listens on every address; give it alone",
                 item);
        return -1;
    }
    if (!pgnet_is_wildcard(item) && pgnet_parse_addr(item, &a) != 0) {
        snprintf(j->errstr, j->errsize,
                 "--listen '%s' is not a numeric IPv4 or IPv6 address (nor '*')", item);
        return -1;
    }
    if (pgnet_append(j->out->listen, sizeof j->out->listen, item) != 0) {
        snprintf(j->errstr, j->errsize, "--listen: too many addresses");
        return -1;
    }
    return 0;
}

/* "NET/PREFIX" or "ADDR" -> the network with its host bits cleared. */
static int pgnet_norm_cidr(const char *item, char *out, size_t size)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(item, '/');
    size_t alen = slash ? (size_t)(slash - item) : strlen(item);
    if (alen == 0 || alen >= sizeof addr) return -1;
    memcpy(addr, item, alen);
    addr[alen] = '\0';
    pgnet_addr_t a;
    if (pgnet_parse_addr(addr, &a) != 0) return -1;
    int bits = pgnet_addr_len(&a) * 8;
    long prefix = bits;
    if (slash) {
        char *end;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix < 0 || prefix > bits) return -1;
    }
    for (int i = 0; i < pgnet_addr_len(&a); i++) {
        int keep = (int)prefix - 8 * i;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        a.bytes[i] &= mask;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(a.family, a.bytes, text, sizeof text);
    snprintf(out, size, "%s/%ld", text, prefix);
    return 0;
}

static int pgnet_add_trust(const char *item, void *arg)
{
    pgnet_job_t *j = arg;
    char cidr[INET6_ADDRSTRLEN + 8];
    if (pgnet_norm_cidr(item, cidr, sizeof cidr) != 0) {
        snprintf(j->errstr, j->errsize,
                 "--trust '%s' is not a network (NET/PREFIX, e.g. 10.0.0.0/24) or an address",
                 item);
        return -1;
    }
    if (pgnet_append(j->out->trust, sizeof j->out->trust, cidr) != 0) {
        snprintf(j->errstr, j->errsize, "--trust: too many networks");
        return -1;
    }
    return 0;
}

/* The network (CIDR) of the interface holding address item. */
static int pgnet_add_iface_net(const char *item, void *arg)
{
    pgnet_job_t *j = arg;
    pgnet_addr_t want;
    if (pgnet_is_wildcard(item)) {
        snprintf(j->errstr, j->errsize,
                 "--listen '%s' listens on every interface: say which client networks may log "
                 "in with --trust NET/PREFIX[,...]",
                 item);
        return -1;
    }
    if (pgnet_parse_addr(item, &want) != 0) return -1;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) {
        snprintf(j->errstr, j->errsize, "cannot list the network interfaces: %s", strerror(errno));
        return -1;
    }
    int found = 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != want.family) continue;
        const uint8_t *ab, *mb;
        if (want.family == AF_INET) {
            ab = (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
            mb = (const uint8_t *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
        } else {
            ab = (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            mb = (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
        }
        if (memcmp(ab, want.bytes, (size_t)pgnet_addr_len(&want)) != 0) continue;
        int prefix = 0;
        for (int k = 0; k < pgnet_addr_len(&want); k++)
            prefix += __builtin_popcount(mb[k]);
        char item2[INET6_ADDRSTRLEN + 8];
        snprintf(item2, sizeof item2, "%s/%d", item, prefix);
        found = 1;
        if (pgnet_add_trust(item2, j) != 0) found = -1;
    }
    freeifaddrs(ifs);
    if (found == 0)
        snprintf(j->errstr, j->errsize,
                 "--listen %s: no interface of this host has that address (ip -br addr lists "
                 "them)",
                 item);
    return found == 1 ? 0 : -1;
}

int pgnet_resolve(const char *listen, const char *trust, const pgnet_t *recorded, pgnet_t *out,
                  char *errstr, size_t errsize)
{
    char buf[1024];
    pgnet_job_t j = {out, errstr, errsize};
    memset(out, 0, sizeof *out);
    if (listen == NULL) {
        *out = *recorded;
        if (trust == NULL) return 0;
        out->trust[0] = '\0';
    } else {
        if (strlen(listen) >= sizeof buf) {
            snprintf(errstr, errsize, "--listen: value too long");
            return -1;
        }
        strcpy(buf, listen);
        if (pgnet_each(buf, pgnet_add_listen, &j) != 0) return -1;
    }
    if (!pgnet_remote(out)) {
        if (trust != NULL && *trust) {
            snprintf(errstr, errsize,
                     "--trust needs --listen ADDR: the cluster listens on 127.0.0.1 only");
            return -1;
        }
        out->trust[0] = '\0';
        return 0;
    }
    if (trust != NULL) {
        if (strlen(trust) >= sizeof buf) {
            snprintf(errstr, errsize, "--trust: value too long");
            return -1;
        }
        strcpy(buf, trust);
        if (pgnet_each(buf, pgnet_add_trust, &j) != 0) return -1;
        if (out->trust[0] == '\0') {
            snprintf(errstr, errsize, "--trust '%s' names no network", trust);
            return -1;
        }
        return 0;
    }
    strcpy(buf, out->listen);
    return pgnet_each(buf, pgnet_add_iface_net, &j);
}

/* --------------------------------------------------------------- outputs */

int pgnet_remote(const pgnet_t *net)
{
    return net->listen[0] != '\0';
}

void pgnet_listen_addresses(const pgnet_t *net, char *out, size_t size)
{
    if (!pgnet_remote(net))
        snprintf(out, size, "127.0.0.1");
    else if (pgnet_is_wildcard(net->listen))
        snprintf(out, size, "*");
    else
        snprintf(out, size, "127.0.0.1,%s", net->listen);
}

int pgnet_hba(const pgnet_t *net, char *out, size_t size)
{
    int n = snprintf(out, size,
                     "# written by 'bankstream db start' at every start; edit with care\n"
                     "# TYPE  DATABASE     USER  ADDRESS          METHOD\n"
                     "local   all          all                    trust\n"
                     "host    all          all   127.0.0.1/32     trust\n"
                     "host    all          all   ::1/128          trust\n"
                     "local   replication  all                    trust\n"
                     "host    replication  all   127.0.0.1/32     trust\n");
    if (n < 0 || (size_t)n >= size) return -1;
    char list[sizeof net->trust];
    strcpy(list, net->trust);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = snprintf(out + n, size - (size_t)n,
                         "host    all          all   %-16s scram-sha-256\n", t);
        if (k < 0 || (size_t)k >= size - (size_t)n) return -1;
        n += k;
    }
    return 0;
}

typedef struct pgnet_bind_job {
    int port;
    char *errstr;
    size_t errsize;
} pgnet_bind_job_t;

/* 0 when port can be bound on item, 1 when it is taken or not ours, -1. */
static int pgnet_bind_one(const char *item, void *arg)
{
    pgnet_bind_job_t *j = arg;
    int port = j->port;
    pgnet_addr_t a;
    const char *host = item;
    if (!strcmp(item, "*")) host = "0.0.0.0";
    if (pgnet_parse_addr(host, &a) != 0) return -1;
    int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(j->errstr, j->errsize, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, err = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (a.family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_port = htons((uint16_t)port);
        memcpy(&s->sin_addr, a.bytes, 4);
        len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons((uint16_t)port);
        memcpy(&s->sin6_addr, a.bytes, 16);
        len = sizeof *s;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) err = errno;
    close(fd);
    if (err == 0) return 0;
    if (err == EADDRINUSE)
        snprintf(j->errstr, j->errsize,
                 "port %d on %s is already in use by another program; choose another with --port",
                 port, item);
    else if (err == EADDRNOTAVAIL)
        snprintf(j->errstr, j->errsize,
                 "--listen %s is not an address of this host (ip -br addr lists them)", item);
    else
        snprintf(j->errstr, j->errsize, "cannot listen on %s:%d: %s", item, port, strerror(err));
    return err == EADDRINUSE || err == EADDRNOTAVAIL ? 1 : -1;
}

int pgnet_check_bind(const pgnet_t *net, int port, char *errstr, size_t errsize)
{
    char list[sizeof net->listen];
    strcpy(list, net->listen);
    pgnet_bind_job_t j = {port, errstr, errsize};
    int rc = pgnet_each(list, pgnet_bind_one, &j);
    return rc == 0 ? 1 : rc > 0 ? 0 : -1;
}

void pgnet_conninfo(const pgnet_t *net, int port, char *out, size_t size)
{
    char host[256];
    size_t n = strcspn(net->listen, ",");
    if (n >= sizeof host) n = sizeof host - 1;
    memcpy(host, net->listen, n);
    host[n] = '\0';
    if (pgnet_is_wildcard(host) && gethostname(host, sizeof host) != 0) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(out, size, "host=%s port=%d dbname=bank user=%s", host, port, EMBEDDED_PG_NET_ROLE);
}

/* ----------------------------------------------------------- role, secret */

/* The password of DIR/pgpass's line for our role, or "" when there is none. */
static void pgnet_read_password(const char *path, char *pw, size_t size)
{
    char line[512];
    pw[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        /* host:port:database:user:password; ours has no ':' or '\' inside */
        char *fields[5] = {0};
        int k = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, ":", &save); t && k < 5; t = strtok_r(NULL, ":", &save))
            fields[k++] = t;
        if (k == 5 && !strcmp(fields[3], EMBEDDED_PG_NET_ROLE) && strlen(fields[4]) < size &&
            strlen(fields[4]) >= 16)
            strcpy(pw, fields[4]);
    }
    fclose(f);
}

static int pgnet_new_password(char *pw, size_t size, char *errstr, size_t errsize)
{
    uint8_t raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(errstr, errsize, "cannot draw a random password: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    if (size < 2 * sizeof raw + 1) return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(pw + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int pgnet_exec(PGconn *c, const char *sql, const char *what, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        snprintf(errstr, errsize, "%s failed: %s", what, PQerrorMessage(c));
        errstr[strcspn(errstr, "\n")] = '\0';
    }
    PQclear(r);
    return ok ? 0 : -1;
}

int pgnet_ensure_role(PGconn *admin, const char *dir, int port, const char *dbname, char *passfile,
                      size_t passfile_size, char *errstr, size_t errsize)
{
    char pw[64], text[256], sql[512];
    char *hash = NULL, *lit = NULL, *db = NULL;
    int rc = -1;
    if ((size_t)snprintf(passfile, passfile_size, "%s/%s", dir, PGNET_PASSFILE) >= passfile_size) {
        snprintf(errstr, errsize, "path too long: %s/%s", dir, PGNET_PASSFILE);
        return -1;
    }
    pgnet_read_password(passfile, pw, sizeof pw);
    if (pw[0] == '\0' && pgnet_new_password(pw, sizeof pw, errstr, errsize) != 0) return -1;
    snprintf(text, sizeof text,
             "# the password of role %s of bankstream's embedded PostgreSQL (~/.pgpass format)\n"
             "*:%d:*:%s:%s\n",
             EMBEDDED_PG_NET_ROLE, port, EMBEDDED_PG_NET_ROLE, pw);
    if (pgnet_write(passfile, text, 0600, errstr, errsize) != 0) return -1;

    const char *params[1] = {EMBEDDED_PG_NET_ROLE};
    PGresult *r = PQexecParams(admin, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, NULL, params,
                               NULL, NULL, 0);
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) == 1 : -1;
    PQclear(r);
    if (exists < 0) {
        snprintf(errstr, errsize, "reading pg_roles failed: %s", PQerrorMessage(admin));
        errstr[strcspn(errstr, "\n")] = '\0';
        return -1;
    }
    /* The password reaches the server hashed, so no log line can show it. */
    hash = PQencryptPasswordConn(admin, pw, EMBEDDED_PG_NET_ROLE, "scram-sha-256");
    lit = hash ? PQescapeLiteral(admin, hash, strlen(hash)) : NULL;
    db = PQescapeIdentifier(admin, dbname, strlen(dbname));
    if (lit == NULL || db == NULL) {
        snprintf(errstr, errsize, "preparing the password of role %s failed: %s",
                 EMBEDDED_PG_NET_ROLE, PQerrorMessage(admin));
        errstr[strcspn(errstr, "\n")] = '\0';
        goto done;
    }
    snprintf(sql, sizeof sql,
             exists ? "ALTER ROLE " EMBEDDED_PG_NET_ROLE
                      " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s"
                    : "CREATE ROLE " EMBEDDED_PG_NET_ROLE
                      " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
             lit);
    if (pgnet_exec(admin, sql, "setting the login role " EMBEDDED_PG_NET_ROLE, errstr, errsize))
        goto done;
    snprintf(sql, sizeof sql, "ALTER DATABASE %s OWNER TO " EMBEDDED_PG_NET_ROLE, db);
    if (pgnet_exec(admin, sql, "giving the database to " EMBEDDED_PG_NET_ROLE, errstr, errsize))
        goto done;
    rc = 0;
done:
    memset(pw, 0, sizeof pw);
    if (hash) PQfreemem(hash);
    if (lit) PQfreemem(lit);
    if (db) PQfreemem(db);
    return rc;
}
