"""tests/bench/kafka_latency.py - latency.sh's reference: how long Kafka itself
takes from a message's timestamp to a consumer holding it, measured with
another client library (Confluent's Python client, with its own librdkafka),
fetching as bankstream's consumer does (fetch.wait.max.ms 20).

usage: kafka_latency.py BROKERS TOPIC COUNT
Assigns every partition of TOPIC (a new, empty one) from its start, with no
group to join, prints 'ready' once the assignment is in place, then reads
COUNT messages (or until none came for 10 s) and prints one line:
'p50 N ms, p99 N ms, max N ms over N messages'.
"""
import sys
import time

import confluent_kafka as ck


def main():
    brokers, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    c = ck.Consumer({"bootstrap.servers": brokers, "group.id": "bankstream-bench-reference",
                     "enable.auto.commit": False, "fetch.wait.max.ms": 20})
    meta = c.list_topics(topic, timeout=10)
    parts = meta.topics[topic].partitions
    c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in parts])
    c.consume(num_messages=1, timeout=1.0)  # the assignment takes effect
    print("ready", flush=True)
    lat = []
    last = time.time() + 60  # the producer starts after 'ready'
    while len(lat) < count and time.time() - last < 10:
        msgs = c.consume(num_messages=100000, timeout=0.001)
        now_ms = time.time() * 1000
        for m in msgs:
            if m.error() is None:
                lat.append(now_ms - m.timestamp()[1])
        if msgs:
            last = time.time()
    c.close()
    if not lat:
        sys.exit("no message read from %s" % topic)
    lat.sort()
    at = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print("p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d messages" % (at(0.5), at(0.99), lat[-1], len(lat)))


if __name__ == "__main__":
    main()
