/* produce_sink.h - where `bankstream produce` puts what it generates: a Kafka
 * topic, a file of key<TAB>value lines, or an HDF5 transaction archive. Each
 * is a produce_sink_t (a struct of function pointers) filled by its open
 * function below, in produce_sink_<kind>.c, so the command's loop is the same
 * for all three.
 *
 * One message, as the loop hands it over:
 *   line = reserve(s)      room for PRODUCE_LINE_MAX bytes, valid until the
 *                          next send; NULL when the sink takes records only
 *                          (the archive): then no line is written
 *   write key '\t' value '\n' into line (klen 0: no key)
 *   send(s, &txn, klen, vlen)
 * Writing in place saves a copy per message. A sink never reorders: what it
 * writes, in each file or partition, is in send order. */
#ifndef BS_PRODUCE_SINK_H
#define BS_PRODUCE_SINK_H

#include "base/ids.h"
#include "base/json_encode.h"
#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

#define PRODUCE_LINE_MAX (IDS_TEXT_LEN + 1 + JSON_ENCODE_TXN_MAX + 1)

typedef struct produce_sink produce_sink_t;
struct produce_sink {
    char *(*reserve)(produce_sink_t *s);
    /* Take one message: t, and for a line sink the line just written
     * (klen, vlen exclude the separators). Returns 0 or -1 with errstr. */
    int (*send)(produce_sink_t *s, const txn_t *t, size_t klen, size_t vlen, char *errstr,
                size_t errsize);
    /* Called before the pacer sleeps: push out what is buffered, serve
     * callbacks. Returns 0 or -1 with errstr. */
    int (*idle)(produce_sink_t *s, char *errstr, size_t errsize);
    /* Flush (publish, for the archive), within a bound that is short when
     * stopping (a stop signal came). Returns 0, or -1 with errstr when
     * something was lost or not written. */
    int (*finish)(produce_sink_t *s, int stopping, char *errstr, size_t errsize);
    /* Free everything, also after a failure (what is not finished is dropped). */
    void (*destroy)(produce_sink_t *s);
};

/* What the Kafka sink needs from the command line. */
typedef struct produce_kafka_conf {
    const char *brokers, *topic;
    const char *const *overrides; /* -X key=value, applied last */
    size_t n_overrides;
    uint64_t seed; /* --seed: the partitions of messages without a key */
} produce_kafka_conf_t;

/* A librdkafka producer on c->topic, after checking within a few seconds that
 * the cluster answers. A message with a key goes where librdkafka's default
 * partitioner puts it (CRC32 of the key); one without a key (klen 0) goes to
 * the next draw of rng stream RNG_STREAM_PARTITIONS of c->seed, uniform over
 * the topic's partitions, so the same flags give the same topic. With another
 * partitioner (-X partitioner=...) or an unknown partition count, librdkafka
 * chooses. Returns the sink, or NULL with errstr (nothing left allocated). */
produce_sink_t *produce_sink_kafka_open(const produce_kafka_conf_t *c, char *errstr,
                                        size_t errsize);

/* Lines into path ("-" = standard output; created or truncated). Returns the
 * sink, or NULL with errstr. */
produce_sink_t *produce_sink_file_open(const char *path, char *errstr, size_t errsize);

/* Exactly count rows into a new HDF5 archive at path (h5archive.h; source
 * "produce", rows undecided), published by finish only if all count rows
 * came; otherwise finish fails and nothing is left at path. Returns the sink,
 * or NULL with errstr. */
produce_sink_t *produce_sink_hdf5_open(const char *path, const char *topic, uint64_t seed,
                                       int64_t count, char *errstr, size_t errsize);

#endif
