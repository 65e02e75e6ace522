/* loader.c - stream reference data and ledger deltas from PostgreSQL into the
 * workers' shards (rank 0 reads, owners receive, in chunks of LOAD_CHUNK
 * records: one ENGINE_CMD_USERS or ENGINE_CMD_DELTAS step per chunk). */
#include "cluster/loader.h"
#include "engine/exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_CHUNK (1 << 18)

typedef struct chunker {
    engine_t *e;
    int cmd;
    size_t record_size;
    char *records, *packed;
    int *dest, *counts;
    size_t n;
    int rc;
} chunker_t;

static int chunker_init(chunker_t *c, engine_t *e, int cmd, size_t record_size)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->cmd = cmd;
    c->record_size = record_size;
    c->records = malloc(LOAD_CHUNK * record_size);
    c->packed = malloc(LOAD_CHUNK * record_size);
    c->dest = malloc(LOAD_CHUNK * sizeof *c->dest);
    c->counts = malloc((size_t)e->size * sizeof *c->counts);
    return c->records && c->packed && c->dest && c->counts ? 0 : -1;
}

static void chunker_free(chunker_t *c)
{
    free(c->records);
    free(c->packed);
    free(c->dest);
    free(c->counts);
}

/* Send what has been collected to the owners (one collective step). */
static int chunker_flush(chunker_t *c)
{
    if (c->rc != MPI_SUCCESS || c->n == 0) return c->rc;
    c->rc = exchange_pack(c->records, c->n, c->record_size, c->dest, c->e->size, c->packed,
                          c->counts, NULL);
    if (c->rc == MPI_SUCCESS) c->rc = engine_send_command(c->e, c->cmd);
    if (c->rc == MPI_SUCCESS)
        c->rc = c->cmd == ENGINE_CMD_USERS
                    ? engine_step_users(c->e, (user_state_t *)c->packed, c->counts)
                    : engine_step_deltas(c->e, (ledger_delta_t *)c->packed, c->counts);
    c->n = 0;
    return c->rc;
}

static int chunker_add(chunker_t *c, const void *record, const uint8_t owner_id[16])
{
    memcpy(c->records + c->n * c->record_size, record, c->record_size);
    c->dest[c->n++] = engine_owner_rank(c->e, owner_id);
    if (c->n == LOAD_CHUNK && chunker_flush(c) != MPI_SUCCESS) return -1;
    return 0;
}

static int on_user(void *ctx, const user_state_t *u)
{
    return chunker_add(ctx, u, u->id);
}

static int on_delta(void *ctx, const ledger_delta_t *d)
{
    return chunker_add(ctx, d, d->id);
}

int loader_users(engine_t *e, pgsink_t *sink, char *err, size_t errsize)
{
    chunker_t ch;
    int rc = chunker_init(&ch, e, ENGINE_CMD_USERS, sizeof(user_state_t));
    if (rc != 0) snprintf(err, errsize, "out of memory");
    if (rc == 0) rc = pgsink_each_user(sink, on_user, &ch, err, errsize);
    if (rc == 0 && chunker_flush(&ch) != MPI_SUCCESS) rc = -1;
    chunker_free(&ch);
    return rc;
}

int loader_deltas(engine_t *e, pgsink_t *sink, int64_t after_batch, char *err, size_t errsize)
{
    chunker_t ch;
    int rc = chunker_init(&ch, e, ENGINE_CMD_DELTAS, sizeof(ledger_delta_t));
    if (rc != 0) snprintf(err, errsize, "out of memory");
    if (rc == 0) rc = pgsink_each_ledger_delta(sink, after_batch, on_delta, &ch, err, errsize);
    if (rc == 0 && chunker_flush(&ch) != MPI_SUCCESS) rc = -1;
    chunker_free(&ch);
    return rc;
}
