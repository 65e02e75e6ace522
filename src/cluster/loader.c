/* loader.c - stream reference data and ledger deltas from PostgreSQL into the
 * workers' shards (rank 0 reads, owners receive, in chunks of LOAD_CHUNK
 * records: one CLUSTER_CMD_USERS or CLUSTER_CMD_DELTAS step per chunk). */
#include "cluster/loader.h"
#include "base/log.h"
#include "engine/exchange.h"
#include "pg/pgstate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_CHUNK (1 << 18)

typedef struct chunker {
    cluster_t *c;
    int cmd;
    size_t record_size;
    char *records, *packed;
    int *dest, *counts;
    size_t n;
    int64_t missing; /* deltas of users no worker has */
    PGconn *db;      /* where the records come from */
    int64_t after;   /* deltas: of the batches after this one */
    char err[1024];  /* why a step failed */
} chunker_t;

static int chunker_init(chunker_t *ch, cluster_t *c, int cmd, size_t record_size)
{
    memset(ch, 0, sizeof *ch);
    ch->c = c;
    ch->cmd = cmd;
    ch->record_size = record_size;
    ch->records = malloc(LOAD_CHUNK * record_size);
    ch->packed = malloc(LOAD_CHUNK * record_size);
    ch->dest = malloc(LOAD_CHUNK * sizeof *ch->dest);
    ch->counts = malloc((size_t)c->size * sizeof *ch->counts);
    return ch->records && ch->packed && ch->dest && ch->counts ? 0 : -1;
}

static void chunker_free(chunker_t *ch)
{
    free(ch->records);
    free(ch->packed);
    free(ch->dest);
    free(ch->counts);
}

/* Send what has been collected to the owners (one collective step). */
static int chunker_flush(chunker_t *ch)
{
    if (ch->n == 0) return 0;
    char *err = ch->err;
    size_t es = sizeof ch->err;
    int64_t missing = 0;
    int rc = exchange_pack(ch->records, ch->n, ch->record_size, ch->dest, ch->c->size, ch->packed,
                           ch->counts, NULL, err, es);
    if (rc == 0) rc = cluster_command(ch->c, ch->cmd, err, es);
    if (rc == 0)
        rc = ch->cmd == CLUSTER_CMD_USERS
                 ? cluster_step_users(ch->c, (user_state_t *)ch->packed, ch->counts, err, es)
                 : cluster_step_deltas(ch->c, (ledger_delta_t *)ch->packed, ch->counts, &missing,
                                       err, es);
    ch->missing += missing;
    ch->n = 0;
    return rc;
}

static int chunker_add(chunker_t *ch, const void *record, const uint8_t owner_id[16])
{
    memcpy(ch->records + ch->n * ch->record_size, record, ch->record_size);
    ch->dest[ch->n++] = cluster_owner_rank(ch->c, owner_id);
    return ch->n == LOAD_CHUNK ? chunker_flush(ch) : 0;
}

static int on_user(void *ctx, const user_state_t *u)
{
    return chunker_add(ctx, u, u->id);
}

static int on_delta(void *ctx, const ledger_delta_t *d)
{
    return chunker_add(ctx, d, d->id);
}

/* Read the records with `read` into a chunker (which sends them as it
 * fills), then send the rest. 0 or -1 with errstr. */
static int load(cluster_t *c, PGconn *db, int64_t after, int cmd, size_t record_size,
                int (*read)(chunker_t *ch, char *, size_t), int64_t *missing, char *errstr,
                size_t errsize)
{
    chunker_t ch;
    int rc = chunker_init(&ch, c, cmd, record_size);
    ch.db = db;
    ch.after = after;
    if (rc != 0) snprintf(errstr, errsize, "out of memory");
    if (rc == 0 && read(&ch, errstr, errsize) != 0) {
        if (ch.err[0]) snprintf(errstr, errsize, "%s", ch.err); /* the step's own failure */
        rc = -1;
    }
    if (rc == 0 && chunker_flush(&ch) != 0) {
        snprintf(errstr, errsize, "%s", ch.err);
        rc = -1;
    }
    if (missing) *missing = ch.missing;
    chunker_free(&ch);
    return rc;
}

static int read_users(chunker_t *ch, char *errstr, size_t errsize)
{
    return pgstate_each_user(ch->db, on_user, ch, errstr, errsize);
}

static int read_deltas(chunker_t *ch, char *errstr, size_t errsize)
{
    return pgstate_each_ledger_delta(ch->db, ch->after, on_delta, ch, errstr, errsize);
}

int loader_users(cluster_t *c, PGconn *db, char *errstr, size_t errsize)
{
    return load(c, db, 0, CLUSTER_CMD_USERS, sizeof(user_state_t), read_users, NULL, errstr,
                errsize);
}

int loader_deltas(cluster_t *c, PGconn *db, int64_t after_batch, char *errstr, size_t errsize)
{
    int64_t missing = 0;
    int rc = load(c, db, after_batch, CLUSTER_CMD_DELTAS, sizeof(ledger_delta_t), read_deltas,
                  &missing, errstr, errsize);
    if (rc == 0 && missing > 0)
        log_warn("the ledger names %" PRId64 " users missing from usuarios; their balances are "
                 "skipped",
                 missing);
    return rc;
}
