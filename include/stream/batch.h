/* batch.h - one micro-batch of the stream, from cut to acknowledged: its
 * rows, and the state machine it goes through.
 *
 * A batch is a set of per-partition offset ranges [start, end) and one row
 * per consumed message, in (partition, offset) order. A row is a
 * transaction to decide, a duplicate (an id seen before) or a dead letter
 * (could not be decoded); the raw bytes of the last two and the decode
 * errors live in the batch's arena.
 *
 * The lifecycle, in the manner of SQLite's pager.c. Every transition is made
 * by one function, on one thread, and checked (batch_enter aborts the
 * process on a transition the diagram does not have: that is a bug, never
 * an input problem).
 *
 *            batch_cut (cutter.c)               main thread, rank 0
 *   (none) ----------------------> CUT          decode, drop duplicates,
 *                                   |           record the offsets
 *            stream_decide          |           main thread, rank 0 + every
 *            (decide.c)             v           worker (collective)
 *                                DECIDED
 *            archiver->append       |           main thread, rank 0 (HDF5
 *            (archiver.c)           v           is not thread-safe)
 *                                ARCHIVED
 *            commitq_submit         |           main thread -> sink thread
 *            (commitq.c)            v
 *                                 QUEUED
 *            sink->commit           |           sink thread, rank 0: one
 *            (sink_pg.c, sink.c)    v           PostgreSQL commit (one
 *                                   |           transaction, or N slices
 *                                   |           and two-phase commit)
 *                                COMMITTED
 *            commitq's ack          |           sink thread, rank 0: Kafka
 *            (kafka_source_commit)  v           offsets (monitoring only)
 *                                  ACKED -----> counted, freed
 *
 * A snapshot is a barrier between batches (coordinator.c): commitq_drain
 * waits until every QUEUED batch is ACKED (or the sink failed), then the
 * archiver publishes the interval's archive (one rename and a directory
 * fsync), then every rank writes its users (cluster_step_snap_write). A
 * failed commit stops the machine: the batch stays COMMITTED-less, the run
 * ends, and the next run resumes from the batch log. */
#ifndef BS_BATCH_H
#define BS_BATCH_H

#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

enum batch_state {
    BATCH_CUT = 1,
    BATCH_DECIDED,
    BATCH_ARCHIVED,
    BATCH_QUEUED,
    BATCH_COMMITTED,
    BATCH_ACKED,
};

enum row_kind { ROW_TXN = 0, ROW_DUPLICATE = 1, ROW_DEAD = 2 };

typedef struct batch_row {
    txn_record_t rec;          /* the transaction (ROW_TXN, ROW_DUPLICATE: its id) */
    uint8_t kind;              /* enum row_kind */
    uint32_t raw_off, raw_len; /* arena bytes (duplicates and dead letters) */
    uint32_t err_off, err_len; /* arena bytes (dead letters) */
} batch_row_t;

/* What a batch holds, counted once (batch_count) for the batch log, the
 * metrics and the run's totals. */
typedef struct batch_counts {
    int64_t messages;                /* rows of every kind */
    int64_t by_status[STATUS_COUNT]; /* the transactions decided */
    int64_t by_reason[REASON_COUNT]; /* the transactions decided, by motivo */
    int64_t duplicates, dead;
} batch_counts_t;

typedef struct batch {
    enum batch_state state;
    int64_t id;
    int nparts;
    int64_t *start_offsets, *end_offsets; /* [nparts] */
    batch_row_t *rows;
    size_t nrows, rows_cap;
    char *arena;
    size_t arena_len, arena_cap;
    /* when it reached each state (µs since the epoch), for the per-stage
     * figures of report.c */
    int64_t start_us;        /* CUT (processing start) */
    int64_t result_us;       /* DECIDED (results gathered) */
    int64_t queued_us;       /* QUEUED */
    int64_t commit_start_us; /* the sink took it */
    int64_t committed_us;    /* COMMITTED */
    int64_t acked_us;        /* ACKED */
    double cut_decide_seconds;
    int ranks;
    const char *note;      /* batch_log.nota, or NULL (not owned: lives as long as the run) */
    batch_counts_t counts; /* filled by batch_count, once DECIDED */
    /* DECIDED: the transaction rows in the order they were decided (event
     * order: data_horario, Kafka timestamp, partition and offset) */
    uint32_t *decided;
    size_t ndecided;
} batch_t;

/* Allocate an empty batch for nparts partitions, not yet in any state
 * (batch_cut fills it and enters CUT). NULL when out of memory. */
batch_t *batch_new(int nparts);
void batch_free(batch_t *b);

/* Append a row; returns it (zeroed), or NULL when out of memory. */
batch_row_t *batch_add_row(batch_t *b);
/* Copy bytes into the arena; returns 0 and the offset, or -1. */
int batch_arena_put(batch_t *b, const void *p, size_t len, uint32_t *off);

/* Count the rows into b->counts. */
void batch_count(batch_t *b);

/* Move b to state `next`, which must follow its current state in the
 * diagram (CUT from a new batch). A transition the diagram does not have
 * prints the batch, both states and the caller, then aborts. */
#define batch_enter(b, next) batch_enter_at((b), (next), __FILE__, __LINE__)
void batch_enter_at(batch_t *b, enum batch_state next, const char *file, int line);

/* The state's name ("DECIDED"), for messages. */
const char *batch_state_name(enum batch_state s);

#endif
