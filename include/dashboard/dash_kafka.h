/* dash_kafka.h - the topic panel, in the manner of Kafka UI: partitions,
 * their leaders and replicas, first and next offsets (message counts), the
 * consumer group's committed offsets and lag per partition, and the group's
 * state and members.
 *
 * A thread of the dashboard process asks the cluster every interval with
 * librdkafka (metadata, watermark offsets, OffsetFetch through a consumer
 * handle that never subscribes, so it never joins or disturbs the group,
 * and ListGroups), and keeps the last answer as JSON.
 *
 * Life cycle: dash_kafka_start -> dash_kafka_json (any thread) ->
 * dash_kafka_stop. */
#ifndef BS_DASH_KAFKA_H
#define BS_DASH_KAFKA_H

#include <stddef.h>

typedef struct dash_kafka dash_kafka_t;

/* Watch topic and group on brokers every interval_ms. Returns the watcher,
 * or NULL with err when librdkafka refuses the configuration or the thread
 * cannot start. An unreachable cluster is not an error here (the JSON says
 * so). */
dash_kafka_t *dash_kafka_start(const char *brokers, const char *topic, const char *group,
                               int interval_ms, char *err, size_t errsize);

/* The last answer as JSON (malloc'ed, the caller frees; NULL when out of
 * memory): {"brokers", "topic", "grupo", "ok", "erro", "atualizado_em",
 * "particoes": [{"particao", "lider", "replicas", "isr", "inicio", "fim",
 * "mensagens", "commitado", "lag"}], "total_mensagens", "lag_total",
 * "estado_grupo", "membros"}. k NULL gives {"brokers": null, ...}. */
char *dash_kafka_json(dash_kafka_t *k, size_t *len);

/* Stop the thread and free. NULL-safe. */
void dash_kafka_stop(dash_kafka_t *k);

#endif
