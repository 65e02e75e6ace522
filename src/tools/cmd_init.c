/* cmd_init.c - `bankstream init`: create the schema and load the reference
 * data, upgrade an older bankstream database, or adopt the original system's.
 *
 * Replaces the original's manual historic_data_mock.py run plus container
 * restarts with one step. Design:
 *   1. ONE Postgres transaction: the schema lock, the processor lock (no
 *      init while a processor runs, pg/pglock.h), inspect bankstream_meta,
 *      (drop,) check, create/upgrade, check, load or adopt, record, roles;
 *      any failure rolls everything back, so a failed init leaves the
 *      database as it was.
 *   2. Idempotent: the same --users/--seed as recorded changes no row (it
 *      re-applies the schema's definitions, upgrades an older schema
 *      version in place and creates or updates the roles asked for); other
 *      parameters need --force, which drops and recreates bankstream's tables.
 *   3. Adoption: a database whose usuarios or transacoes hold rows that no
 *      init recorded (the original's seed script built it) keeps them: its
 *      tables get bankstream's columns (its transactions status
 *      'historico'), usuarios stays as it is (balances start from saldo),
 *      bankstream_meta records users = their count, seed = 'adotado'. A
 *      same-named table of another layout fails before anything changes.
 *   4. Fast: users are generated while streamed with binary COPY (pgcopy.h)
 *      in 1 MiB chunks into a table emptied in this transaction (COPY
 *      FREEZE; no WAL with wal_level=minimal), and the primary key is built
 *      after the load. Measured for 1,000,000 users: text COPY with the key
 *      in place 4.9 s, text COPY then key 2.7 s, binary COPY then key 1.9 s.
 *   5. Passwords of the roles come from a file or the environment, never
 *      from the command line (which every local user can read). */
#include "base/cli.h"
#include "commands.h"
#include "base/log.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/pglock.h"
#include "pg/pgprepared.h"
#include "pg/pgroles.h"
#include "pg/pgstate.h"
#include "base/refdata.h"
#include "base/regions.h"
#include "base/rng.h"
#include "pg/schema.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A role asked for with --app-role or --reader-role. */
typedef struct init_role {
    const char *name;          /* NULL: not asked for */
    const char *password_file; /* --*-password-file, else the environment */
    const char *env;           /* BANKSTREAM_APP_PASSWORD, BANKSTREAM_READER_PASSWORD */
    const char *flag;          /* "--app-role" */
    pgrole_kind_t kind;
    char password[1024];
} init_role_t;

typedef struct init_opts {
    const char *pg;
    int64_t users;
    int64_t seed;
    int64_t pg_wait;
    int force;
    int users_given, seed_given;
    init_role_t roles[2]; /* app, reader */
} init_opts_t;

static void init_usage(FILE *out)
{
    fprintf(
        out,
        "usage: bankstream init [--pg CONNINFO] [--pg-wait S] [--users N] [--seed S] [--force]\n"
        "                       [--app-role NAME [--app-password-file F]]\n"
        "                       [--reader-role NAME [--reader-password-file F]]\n"
        "\n"
        "Create bankstream's tables, views and function in the database and load the\n"
        "reference data: the 27 regions and N users drawn from seed S. Runs as one\n"
        "transaction; running it again with the same N and S changes no row, and\n"
        "upgrades a database of an older bankstream in place. A database built by the\n"
        "original system (its usuarios or transacoes hold rows) is adopted: every row\n"
        "is kept, no user is generated, its transactions get status 'historico', and\n"
        "balances start from usuarios.saldo. Refused while a processor runs on it.\n"
        "\n"
        "  --pg CONNINFO  libpq conninfo or URI (default: PG* environment, else the\n"
        "                 embedded cluster under $BANKSTREAM_PGDIR or ./var/pg)\n"
        "  --pg-wait S    wait up to S seconds for a database that is down or starting\n"
        "                 up (default %d)\n"
        "  --users N      number of users, 1..%d (default %d)\n"
        "  --seed S       generator seed (default %d)\n"
        "  --force        drop and recreate bankstream's tables (all data!) and reload\n"
        "  --app-role NAME          create (or update) a login role for the original's\n"
        "                 applications: SELECT on usuarios, regioes, transacoes,\n"
        "                 transacoes_scores and the views, INSERT on transacoes and\n"
        "                 transacoes_scores, EXECUTE on limpar_transacoes_antigas\n"
        "  --reader-role NAME       create (or update) a read-only login role for\n"
        "                 dashboards: SELECT on every table, view and sequence, also\n"
        "                 those created later, EXECUTE on limpar_transacoes_antigas\n"
        "  --app-password-file F    the app role's password: the first line of F\n"
        "                 (default: $BANKSTREAM_APP_PASSWORD)\n"
        "  --reader-password-file F the reader role's password (default:\n"
        "                 $BANKSTREAM_READER_PASSWORD)\n"
        "Passwords are never taken from the command line. The roles get no SUPERUSER,\n"
        "CREATEDB or CREATEROLE; running init again resets their password.\n",
        PGCONN_WAIT_SECONDS, REFDATA_MAX_USERS, REFDATA_DEFAULT_USERS, REFDATA_DEFAULT_SEED);
}

/* Read the role's password from its file or environment variable into
 * r->password. 0, or -1 after printing why (usage: exit 2). */
static int init_role_password(init_role_t *r)
{
    if (r->name == NULL) {
        if (r->password_file) {
            log_error("%s-password-file needs %s", r->flag, r->flag);
            return -1;
        }
        return 0;
    }
    if (r->password_file) {
        FILE *f = fopen(r->password_file, "r");
        if (f == NULL) {
            log_error("cannot read %s %s: %s", r->flag, r->password_file, strerror(errno));
            return -1;
        }
        if (fgets(r->password, sizeof r->password, f) == NULL) r->password[0] = '\0';
        fclose(f);
        r->password[strcspn(r->password, "\r\n")] = '\0';
    } else {
        const char *v = getenv(r->env);
        snprintf(r->password, sizeof r->password, "%s", v ? v : "");
    }
    if (r->password[0] == '\0') {
        log_error("%s %s needs a password: put it in a file given with %s-password-file, or in "
                  "$%s (never on the command line)",
                  r->flag, r->name, r->flag, r->env);
        return -1;
    }
    return 0;
}

static double init_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int init_load_regions(PGconn *conn, uint64_t seed, char *err, size_t errsize)
{
    refdata_region_t regs[REGION_COUNT];
    refdata_regions_generate(seed, regs);
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    for (int i = 0; i < REGION_COUNT; i++) {
        pgcopy_row(&b, 5);
        pgcopy_text(&b, region_table[i].code, 2);
        pgcopy_float8(&b, region_table[i].latitude);
        pgcopy_float8(&b, region_table[i].longitude);
        pgcopy_numeric_cents(&b, regs[i].media_cents);
        pgcopy_int4(&b, regs[i].fraudes);
    }
    pgcopy_end(&b);
    int rc = pgcopy_send(conn,
                         "COPY regioes (id_regiao, latitude, longitude, media_transacional_mensal,"
                         " num_fraudes_ult_30d) FROM STDIN (FORMAT binary, FREEZE)",
                         &b, err, errsize);
    pgcopy_free(&b);
    return rc;
}

/* Users are generated while they stream out, PGCOPY_CHUNK at a time. */
static int init_load_users(PGconn *conn, int64_t n, uint64_t seed, char *err, size_t errsize)
{
    if (pgcopy_stream_open(conn,
                           "COPY usuarios (id_usuario, id_regiao, saldo, limite_pix, limite_ted,"
                           " limite_doc, limite_boleto) FROM STDIN (FORMAT binary, FREEZE)",
                           err, errsize) != 0)
        return -1;
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    rng_t r;
    refdata_users_seed(&r, seed);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        refdata_user_t u;
        refdata_user_next(&r, &u);
        pgcopy_row(&b, 7);
        pgcopy_uuid(&b, u.id);
        pgcopy_text(&b, region_table[u.region].code, 2);
        pgcopy_numeric_cents(&b, u.saldo_cents);
        for (int k = 0; k < 4; k++)
            pgcopy_numeric_cents(&b, u.limite_cents);
        rc = pgcopy_stream_flush(conn, &b, PGCOPY_CHUNK, err, errsize);
    }
    if (rc == 0) {
        pgcopy_end(&b);
        rc = pgcopy_stream_close(conn, &b, err, errsize);
    }
    pgcopy_free(&b);
    return rc;
}

/* What bankstream_meta says. */
typedef struct init_meta {
    int initialized; /* users and seed recorded */
    int adopted;     /* seed 'adotado': the original's database, adopted */
    int64_t users, seed, version;
} init_meta_t;

/* Read bankstream_meta if the table exists. Returns 0, or -1 with err
 * filled; an unreadable table (another layout) is an error, except with
 * force, where it counts as not initialized (a savepoint keeps the
 * transaction usable). */
static int init_read_meta(PGconn *conn, int force, init_meta_t *m, char *err, size_t errsize)
{
    memset(m, 0, sizeof *m);
    PGresult *res = NULL;
    int rc = -1;
    if (pgconn_exec(conn, "SAVEPOINT init_meta", NULL, err, errsize) != 0) return -1;
    res = PQexec(conn, "SELECT chave::text, valor::text FROM bankstream_meta"
                       " WHERE chave IN ('users', 'seed', 'schema_version')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int missing = state && !strcmp(state, "42P01"); /* undefined_table */
        if (!missing)
            pgconn_error(conn, res,
                         "reading bankstream_meta failed (use --force to drop and recreate it)",
                         err, errsize);
        PQclear(res);
        res = NULL;
        if (pgconn_exec(conn, "ROLLBACK TO SAVEPOINT init_meta", NULL, err, errsize) != 0)
            goto done;
        if (missing || force) rc = 0;
        goto done;
    }
    int have_users = 0, have_seed = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *k = PQgetvalue(res, i, 0), *text = PQgetvalue(res, i, 1);
        int64_t v = strtoll(text, NULL, 10);
        if (!strcmp(k, "users")) m->users = v, have_users = 1;
        if (!strcmp(k, "seed")) m->seed = v, have_seed = 1, m->adopted = !strcmp(text, "adotado");
        if (!strcmp(k, "schema_version")) m->version = v;
    }
    m->initialized = have_users && have_seed;
    rc = pgconn_exec(conn, "RELEASE SAVEPOINT init_meta", NULL, err, errsize);
done:
    PQclear(res);
    return rc;
}

/* The first column of `sql` as a number (a count), or -1 with err. */
static int64_t init_count(PGconn *conn, const char *sql, char *err, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        pgconn_error(conn, res, "counting rows failed", err, errsize);
    PQclear(res);
    return n;
}

/* Without --force, refuse to load into tables that already hold rows nobody
 * recorded (for example the original system's data). */
static int init_check_empty(PGconn *conn, char *err, size_t errsize)
{
    for (const char *const *t = schema_tables; *t; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM %s)", *t);
        PGresult *res = PQexec(conn, sql);
        int bad = PQresultStatus(res) != PGRES_TUPLES_OK;
        int full = !bad && !strcmp(PQgetvalue(res, 0, 0), "t");
        if (bad) {
            pgconn_error(conn, res, "reading a bankstream table failed", err, errsize);
        } else if (full) {
            snprintf(err, errsize,
                     "table %s already holds rows that 'bankstream init' did not load; use "
                     "--force to drop bankstream's tables and reload (their data is lost)",
                     *t);
        }
        PQclear(res);
        if (bad || full) return -1;
    }
    return 0;
}

/* Record users and seed (text: 'adotado' for an adopted database), the
 * schema version, and a new identity. */
static int init_write_meta(PGconn *conn, const char *users, const char *seed, char *err,
                           size_t errsize)
{
    char version[16];
    snprintf(version, sizeof version, "%d", SCHEMA_VERSION);
    const char *params[3] = {version, users, seed};
    PGresult *res = PQexecParams(
        conn,
        "INSERT INTO bankstream_meta (chave, valor) VALUES ('schema_version', $1), ('users', $2),"
        " ('seed', $3), ('initialized_at', to_char(now() AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')), ('database_id', gen_random_uuid()::text)"
        " ON CONFLICT (chave) DO UPDATE SET valor = EXCLUDED.valor",
        3, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) pgconn_error(conn, res, "writing bankstream_meta failed", err, errsize);
    PQclear(res);
    return rc;
}

/* After an upgrade in place: the new schema version, nothing else (the
 * database keeps its identity, so that its snapshots stay usable). */
static int init_write_version(PGconn *conn, char *err, size_t errsize)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE bankstream_meta SET valor = '%d' WHERE chave = 'schema_version'",
             SCHEMA_VERSION);
    return pgconn_exec(conn, sql, "recording the schema version", err, errsize);
}

/* What an adoption kept, for its summary. */
typedef struct init_adopted {
    int64_t users, regions, transactions;
    int regions_loaded;
} init_adopted_t;

/* Design 3: keep every row; bankstream's own tables must be empty (they
 * hold nothing the original wrote). Regions are loaded only into an empty
 * regioes. 0, INIT_REFUSED-style -2, or -1 with err. */
static int init_adopt(PGconn *conn, const init_opts_t *o, init_adopted_t *a, char *err,
                      size_t errsize)
{
    static const char *const own[] = {"transacoes_duplicadas", "batch_log", "dead_letters",
                                      "saldos_expurgados", "transacoes_ids_expurgados"};
    memset(a, 0, sizeof *a);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) AS x", own[i]);
        int64_t n = init_count(conn, sql, err, errsize);
        if (n < 0) return -1;
        if (n > 0) {
            snprintf(err, errsize,
                     "table %s holds rows but bankstream_meta records no init: this is neither "
                     "the original system's database nor bankstream's; 'bankstream init' "
                     "changes nothing (--force drops bankstream's tables)",
                     own[i]);
            return -2;
        }
    }
    /* Every user needs a home region the rules know (one of the 27 UFs). */
    char sql[512];
    size_t len = (size_t)snprintf(sql, sizeof sql,
                                  "SELECT count(*) FROM usuarios WHERE id_regiao IS NULL OR"
                                  " id_regiao NOT IN (");
    for (int i = 0; i < REGION_COUNT; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s'%s'", i ? ", " : "",
                                region_table[i].code);
    snprintf(sql + len, sizeof sql - len, ")");
    int64_t homeless = init_count(conn, sql, err, errsize);
    if (homeless < 0) return -1;
    if (homeless > 0) {
        snprintf(err, errsize,
                 "%" PRId64 " users of usuarios have no id_regiao among the 27 UFs, which the "
                 "rules need; 'bankstream init' changes nothing: give them one, then run it again",
                 homeless);
        return -2;
    }
    if ((a->users = init_count(conn, "SELECT count(*) FROM usuarios", err, errsize)) < 0 ||
        (a->transactions = init_count(conn, "SELECT count(*) FROM transacoes", err, errsize)) < 0 ||
        (a->regions = init_count(conn, "SELECT count(*) FROM regioes", err, errsize)) < 0)
        return -1;
    if (a->regions == 0) {
        if (init_load_regions(conn, (uint64_t)o->seed, err, errsize) != 0) return -1;
        a->regions = REGION_COUNT;
        a->regions_loaded = 1;
    }
    char users[32];
    snprintf(users, sizeof users, "%" PRId64, a->users);
    return init_write_meta(conn, users, "adotado", err, errsize);
}

/* The roles asked for, in the open transaction; a line each into out. */
static int init_roles(PGconn *conn, const init_opts_t *o, char *out, size_t outsize, char *err,
                      size_t errsize)
{
    out[0] = '\0';
    for (int i = 0; i < 2; i++) {
        const init_role_t *r = &o->roles[i];
        if (r->name == NULL) continue;
        int created = pgroles_apply(conn, r->kind, r->name, r->password, err, errsize);
        if (created < 0) return -1;
        size_t len = strlen(out);
        snprintf(out + len, outsize - len, "role %s: %s (%s)\n", r->name,
                 created ? "created" : "password reset, grants applied",
                 r->kind == PGROLE_APP
                     ? "application: SELECT on usuarios, regioes, transacoes, transacoes_scores "
                       "and the views, INSERT on transacoes and transacoes_scores"
                     : "read-only: SELECT on every table, view and sequence, also later ones");
    }
    return 0;
}

/* Outcome of init_run. */
enum {
    INIT_LOADED = 0,
    INIT_ALREADY = 1,
    INIT_UPGRADED = 2,
    INIT_ADOPTED = 3,
    INIT_FAILED = -1,
    INIT_REFUSED = -2
};

/* What init_run did, for the summary. */
typedef struct init_result {
    init_meta_t meta;
    init_adopted_t adopted;
    char roles[1024]; /* a line per role */
} init_result_t;

/* Refuse unless the recorded parameters allow an init without --force:
 * INIT_ALREADY (or INIT_UPGRADED for an older schema), or INIT_REFUSED
 * with err. */
static int init_recorded(const init_opts_t *o, const init_meta_t *m, char *err, size_t errsize)
{
    if (m->version > SCHEMA_VERSION) {
        snprintf(err, errsize,
                 "the database has bankstream schema version %" PRId64
                 ", newer than this bankstream's (%d); use a newer bankstream",
                 m->version, SCHEMA_VERSION);
        return INIT_REFUSED;
    }
    if (m->adopted) {
        if (o->users_given || o->seed_given) {
            snprintf(err, errsize,
                     "the database was adopted from the original system (%" PRId64
                     " users of its own): --users and --seed do not apply; use --force to drop "
                     "everything and load generated users",
                     m->users);
            return INIT_REFUSED;
        }
    } else if (m->users != o->users || m->seed != o->seed) {
        snprintf(err, errsize,
                 "the database is already initialized with %" PRId64 " users, seed %" PRId64
                 " (schema version %" PRId64 "); use --force to drop everything and reload "
                 "with %" PRId64 " users, seed %" PRId64,
                 m->users, m->seed, m->version, o->users, o->seed);
        return INIT_REFUSED;
    }
    return m->version < SCHEMA_VERSION ? INIT_UPGRADED : INIT_ALREADY;
}

/* Load generated regions and users into empty tables (design 4). */
static int init_load(PGconn *conn, const init_opts_t *o, char *err, size_t errsize)
{
    char users[32], seed[32];
    if (pgconn_exec(conn,
                    "TRUNCATE regioes, usuarios;"
                    " ALTER TABLE usuarios DROP CONSTRAINT IF EXISTS usuarios_pkey",
                    NULL, err, errsize) != 0 ||
        init_load_regions(conn, (uint64_t)o->seed, err, errsize) != 0 ||
        init_load_users(conn, o->users, (uint64_t)o->seed, err, errsize) != 0 ||
        pgconn_exec(conn,
                    "ALTER TABLE usuarios ADD CONSTRAINT usuarios_pkey PRIMARY KEY (id_usuario)",
                    NULL, err, errsize) != 0)
        return -1;
    snprintf(users, sizeof users, "%" PRId64, o->users);
    snprintf(seed, sizeof seed, "%" PRId64, o->seed);
    return init_write_meta(conn, users, seed, err, errsize);
}

/* Prepared transactions that a processor stopped in the middle of a
 * sliced batch commit left behind (pg/pgprepared.h) hold locks on
 * transacoes that the schema's DDL would wait on for ever: resolve them
 * first, by batch_log, outside init's transaction (COMMIT PREPARED cannot
 * run inside one), holding the processor lock (the session keeps it until
 * init ends) and the fence (pg/pglock.h). Returns INIT_LOADED (nothing to
 * do, or done), INIT_REFUSED or INIT_FAILED with err. */
static int init_resolve_prepared(PGconn *conn, char *err, size_t errsize)
{
    char holder[700], id[128];
    int n = pgprepared_count(conn, err, errsize);
    if (n <= 0) return n < 0 ? INIT_FAILED : INIT_LOADED;
    int lock = pglock_take(conn, 0, holder, sizeof holder, NULL, err, errsize);
    if (lock == PGLOCK_ERROR) return INIT_FAILED;
    if (lock == PGLOCK_BUSY) {
        snprintf(err, errsize, "%s; stop it before 'bankstream init' (nothing was changed)",
                 holder);
        return INIT_REFUSED;
    }
    int fence = PGLOCK_BUSY;
    for (int i = 0; i < 50 && fence == PGLOCK_BUSY; i++) { /* sessions still ending: 10 s */
        fence = pglock_fence_take(conn, holder, sizeof holder, err, errsize);
        if (fence == PGLOCK_BUSY) nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    }
    if (fence == PGLOCK_ERROR) return INIT_FAILED;
    if (fence == PGLOCK_BUSY) {
        snprintf(err, errsize,
                 "slice sessions of a stopped processor are still open (%s); try again once "
                 "the server has ended them (nothing was changed)",
                 holder);
        return INIT_REFUSED;
    }
    pgprepared_counts_t k;
    int rc = pgstate_database_id(conn, id, sizeof id, err, errsize) == 0 &&
                     pgprepared_resolve(conn, id, &k, err, errsize) == 0
                 ? INIT_LOADED
                 : INIT_FAILED;
    char ignored[256];
    pglock_fence_release(conn, ignored, sizeof ignored);
    if (rc == INIT_LOADED && (k.committed || k.rolled_back))
        log_warn("resolved %d prepared transaction(s) of an interrupted batch commit: %d "
                 "committed (batch_log holds their batch), %d rolled back",
                 k.committed + k.rolled_back, k.committed, k.rolled_back);
    if (rc == INIT_LOADED && k.unknown)
        log_warn("%d prepared transaction(s) named like bankstream's ('%s') are not of a form "
                 "this version knows; left alone: finish them by hand (COMMIT PREPARED or "
                 "ROLLBACK PREPARED) if no other program made them",
                 k.unknown, k.first_unknown);
    return rc;
}

/* The one transaction (design 1). Leaves no transaction open. */
static int init_run(PGconn *conn, const init_opts_t *o, init_result_t *out, char *err,
                    size_t errsize)
{
    int rc = INIT_FAILED, kind = INIT_LOADED;
    init_meta_t *m = &out->meta;
    char holder[700];
    memset(out, 0, sizeof *out);
    if (pgconn_exec(conn,
                    "SET client_min_messages = warning; SET application_name = "
                    "'bankstream init'",
                    NULL, err, errsize) != 0)
        return rc;
    int resolved = init_resolve_prepared(conn, err, errsize);
    if (resolved != INIT_LOADED) return resolved;
    if (pgconn_exec(conn, "BEGIN", NULL, err, errsize) != 0) return rc;
    if (pgconn_exec(conn, schema_lock_sql, NULL, err, errsize) != 0) goto rollback;
    int lock = pglock_take(conn, 1, holder, sizeof holder, NULL, err, errsize);
    if (lock == PGLOCK_ERROR) goto rollback;
    if (lock == PGLOCK_BUSY) {
        snprintf(err, errsize, "%s; stop it before 'bankstream init' (nothing was changed)",
                 holder);
        rc = INIT_REFUSED;
        goto rollback;
    }
    if (init_read_meta(conn, o->force, m, err, errsize) != 0) goto rollback;
    if (m->initialized && !o->force) {
        kind = init_recorded(o, m, err, errsize);
        if (kind == INIT_REFUSED) {
            rc = INIT_REFUSED;
            goto rollback;
        }
    }
    if (o->force && schema_drop(conn, err, errsize) != 0) goto rollback;
    if (schema_check_upgradable(conn, err, errsize) != 0) {
        rc = INIT_REFUSED;
        goto rollback;
    }
    if (schema_create(conn, err, errsize) != 0) goto rollback;
    if (schema_check(conn, err, errsize) != 0) {
        rc = INIT_REFUSED;
        goto rollback;
    }
    if (kind == INIT_UPGRADED && init_write_version(conn, err, errsize) != 0) goto rollback;
    if (kind == INIT_LOADED && !o->force) {
        int64_t held = init_count(conn,
                                  "SELECT (EXISTS (SELECT 1 FROM usuarios) OR"
                                  " EXISTS (SELECT 1 FROM transacoes))::int",
                                  err, errsize);
        if (held < 0) goto rollback;
        if (held) kind = INIT_ADOPTED;
    }
    if (kind == INIT_ADOPTED) {
        int a = init_adopt(conn, o, &out->adopted, err, errsize);
        if (a != 0) {
            rc = a == -2 ? INIT_REFUSED : INIT_FAILED;
            goto rollback;
        }
    } else if (kind == INIT_LOADED) {
        if (!o->force && init_check_empty(conn, err, errsize) != 0) {
            rc = INIT_REFUSED;
            goto rollback;
        }
        if (init_load(conn, o, err, errsize) != 0) goto rollback;
    }
    if (init_roles(conn, o, out->roles, sizeof out->roles, err, errsize) != 0) goto rollback;
    if (pgconn_exec(conn, "COMMIT", NULL, err, errsize) != 0) return INIT_FAILED;
    return kind;
rollback:
    pgconn_rollback(conn);
    return rc;
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pg", required_argument, NULL, 'p'},
        {"users", required_argument, NULL, 'u'},
        {"seed", required_argument, NULL, 's'},
        {"force", no_argument, NULL, 'f'},
        {"pg-wait", required_argument, NULL, 'w'},
        {"app-role", required_argument, NULL, 'a'},
        {"app-password-file", required_argument, NULL, 'A'},
        {"reader-role", required_argument, NULL, 'r'},
        {"reader-password-file", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    init_opts_t o;
    memset(&o, 0, sizeof o);
    o.users = REFDATA_DEFAULT_USERS;
    o.seed = REFDATA_DEFAULT_SEED;
    o.pg_wait = PGCONN_WAIT_SECONDS;
    o.roles[0] =
        (init_role_t){.env = "BANKSTREAM_APP_PASSWORD", .flag = "--app-role", .kind = PGROLE_APP};
    o.roles[1] = (init_role_t){
        .env = "BANKSTREAM_READER_PASSWORD", .flag = "--reader-role", .kind = PGROLE_READER};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.pg = optarg;
            break;
        case 'u':
            if (cli_parse_int64("--users", optarg, 1, REFDATA_MAX_USERS, &o.users) != 0) return 2;
            o.users_given = 1;
            break;
        case 's':
            if (cli_parse_int64("--seed", optarg, 0, INT64_MAX, &o.seed) != 0) return 2;
            o.seed_given = 1;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'w':
            if (cli_parse_int64("--pg-wait", optarg, 0, 86400, &o.pg_wait) != 0) return 2;
            break;
        case 'a':
        case 'r':
            if (optarg[0] == '\0') {
                log_error("--%s expects a role name, got ''",
                          c == 'a' ? "app-role" : "reader-role");
                return 2;
            }
            o.roles[c == 'r'].name = optarg;
            break;
        case 'A':
        case 'R':
            o.roles[c == 'R'].password_file = optarg;
            break;
        case 'h':
            init_usage(stdout);
            return 0;
        default:
            return cli_usage_error("init", argv, optind, optopt);
        }
    }
    if (optind < argc) return cli_extra_argument("init", argv[optind]);
    if (init_role_password(&o.roles[0]) != 0 || init_role_password(&o.roles[1]) != 0) return 2;
    if (o.roles[0].name && o.roles[1].name && strcmp(o.roles[0].name, o.roles[1].name) == 0) {
        log_error("--app-role and --reader-role must name two roles, both are '%s'",
                  o.roles[0].name);
        return 2;
    }

    char conninfo[1024], err[1024] = "";
    if (pgconn_resolve(o.pg, conninfo, sizeof conninfo, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    PGconn *conn = pgconn_open_wait(conninfo, (int)o.pg_wait, err, sizeof err);
    if (!conn) {
        log_error("%s", err);
        return 1;
    }
    double t0 = init_now();
    init_result_t res;
    int rc = init_run(conn, &o, &res, err, sizeof err);
    for (size_t i = 0; i < 2; i++) /* no copy of a password outlives its use */
        memset(o.roles[i].password, 0, sizeof o.roles[i].password);
    double secs = init_now() - t0;
    const init_meta_t *m = &res.meta;
    const init_adopted_t *a = &res.adopted;
    int status = 0;
    switch (rc) {
    case INIT_LOADED:
        /* Fresh statistics for the planner; not part of the transaction. */
        if (pgconn_exec(conn, "ANALYZE regioes, usuarios", NULL, err, sizeof err) != 0)
            log_warn("ANALYZE after loading failed: %s", err);
        printf("initialized: %" PRId64 " users, %d regions, seed %" PRId64 " in %.2f s\n", o.users,
               REGION_COUNT, o.seed, secs);
        break;
    case INIT_ADOPTED:
        printf("adopted the existing database: %" PRId64 " users, %" PRId64
               " regions%s and %" PRId64
               " historic transactions (status '%s') kept; balances start from usuarios.saldo "
               "(%.2f s)\n",
               a->users, a->regions, a->regions_loaded ? " (loaded: regioes was empty)" : "",
               a->transactions, SCHEMA_STATUS_HISTORIC, secs);
        break;
    case INIT_UPGRADED:
        printf("upgraded the schema from version %" PRId64 " to %d; every row kept (%" PRId64
               " users, seed %" PRId64 ")\n",
               m->version, SCHEMA_VERSION, m->users, m->seed);
        break;
    case INIT_ALREADY:
        if (m->adopted)
            printf("already initialized (adopted database, %" PRId64
                   " users); use --force to drop it and load generated users\n",
                   m->users);
        else
            printf("already initialized (%" PRId64 " users, seed %" PRId64
                   "); use --force to reload\n",
                   m->users, m->seed);
        break;
    default:
        log_error("%s", err);
        status = 1;
    }
    if (status == 0) fputs(res.roles, stdout);
    PQfinish(conn);
    if (fflush(stdout) != 0) status = 1;
    return status;
}
