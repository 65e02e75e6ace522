#!/usr/bin/env python3
"""tests/kafka/txn_produce.py - a transactional Kafka producer for the tests.

    txn_produce.py BROKERS TOPIC FILE PLAN [--compression CODEC]

FILE holds key<TAB>value lines (as `bankstream produce --output -` writes
them). PLAN is a comma-separated list of STEP:N, STEP commit or abort: the
next N lines of FILE go into one transaction that is then committed or
aborted (an abort still writes the messages to the log, followed by an
ABORT marker; a read_committed consumer must skip them). Lines left over
after the plan are not sent. Prints one line per transaction to stderr;
exits 1 on any error.

Needs the confluent-kafka package (scripts/install-deps.sh installs it in
~/.cache/bankstream/pyclients); kcat cannot abort a transaction.
"""
import argparse
import sys

from confluent_kafka import KafkaException, Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("brokers")
    ap.add_argument("topic")
    ap.add_argument("file")
    ap.add_argument("plan")
    ap.add_argument("--compression", default="none")
    ap.add_argument("--transactional-id", default="bankstream-test-txn")
    a = ap.parse_args()

    lines = []
    with open(a.file, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            key, _, value = line.partition("\t")
            lines.append((key, value))

    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    p = Producer({
        "bootstrap.servers": a.brokers,
        "transactional.id": a.transactional_id,
        "compression.type": a.compression,
        "linger.ms": 5,
    })
    try:
        p.init_transactions(30)
        pos = 0
        for step in a.plan.split(","):
            what, _, n = step.partition(":")
            n = int(n)
            if what not in ("commit", "abort") or pos + n > len(lines):
                sys.exit(f"txn_produce: bad plan step '{step}' ({len(lines)} lines in {a.file})")
            p.begin_transaction()
            for key, value in lines[pos:pos + n]:
                p.produce(a.topic, key=key.encode() if key else None, value=value.encode(),
                          on_delivery=delivered)
                p.poll(0)
            # Make sure the messages are in the log before the marker.
            p.flush(30)
            if errors:
                sys.exit(f"txn_produce: delivery failed: {errors[0]}")
            if what == "commit":
                p.commit_transaction(30)
            else:
                p.abort_transaction(30)
            print(f"txn_produce: {what} {n} messages (lines {pos + 1}..{pos + n})", file=sys.stderr)
            pos += n
    except KafkaException as e:
        sys.exit(f"txn_produce: {e}")


if __name__ == "__main__":
    main()
