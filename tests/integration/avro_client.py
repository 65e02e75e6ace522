#!/usr/bin/env python3
"""avro_client.py - Confluent's own Python client (confluent-kafka with its
AvroSerializer, AvroDeserializer and SchemaRegistryClient) on bankstream's
topics, for tests/integration/93-avro.sh.

  avro_client.py mix      B JSON_TOPIC AVRO_TOPIC OUT_TOPIC
      OUT gets, partition by partition, offset by offset, the JSON message at
      even offsets and the Avro one at odd offsets (both topics were produced
      by `bankstream produce` with the same flags), with the JSON message's
      key and Kafka timestamp: the same transactions, mixed encodings.
  avro_client.py produce  B REGISTRY JSON_TOPIC OUT_TOPIC [CASE]
      OUT gets every JSON message re-encoded by AvroSerializer (schema
      auto-registered under OUT_TOPIC-value), same partition, key and
      timestamp. CASE (default original) is a writer schema of issue 17's
      evolution cases; the expected transacoes rows go to stdout.
  avro_client.py consume  B REGISTRY AVRO_TOPIC JSON_TOPIC
      AvroDeserializer reads what `bankstream produce --format avro` wrote;
      every record must equal the JSON message at the same partition and offset.
  avro_client.py bad      B REGISTRY OUT_TOPIC
      3 messages whose writer schema cannot be resolved (valor_transacao a
      string) and 2 framed with a schema id the registry does not know.
Exit status 0 on success; errors to stderr.
"""
import copy
import datetime
import json
import struct
import sys
from decimal import ROUND_HALF_EVEN, Decimal

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ORIGINAL = {"type": "record", "name": "BankTransaction", "fields": [
    {"name": "id_transacao", "type": "string"},
    {"name": "id_usuario_pagador", "type": "string"},
    {"name": "id_usuario_recebedor", "type": "string"},
    {"name": "id_regiao", "type": "string"},
    {"name": "modalidade_pagamento", "type": "string"},
    {"name": "data_horario", "type": "long"},
    {"name": "valor_transacao", "type": "double"}]}

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def schema_for(case):
    s = copy.deepcopy(ORIGINAL)
    f = {x["name"]: x for x in s["fields"]}
    if case == "added":
        s["fields"].insert(4, {"name": "canal", "type": "string", "default": "app"})
    elif case == "removed":
        s["fields"].remove(f["modalidade_pagamento"])
    elif case == "float":
        f["valor_transacao"]["type"] = "float"
    elif case == "iso":
        f["data_horario"]["type"] = "string"
    elif case == "unresolvable":
        f["valor_transacao"]["type"] = "string"
    elif case != "original":
        sys.exit("unknown case " + case)
    return s


def cents_of(reais):
    return int(Decimal(reais).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)


def transform(case, v):
    """The JSON message's dict as the case's writer sends it, and the row bankstream
    must write for it: id payer receiver region modality data_horario_us cents."""
    r = dict(v)
    us = v["data_horario"] * 1000
    mod, reais = v["modalidade_pagamento"], v["valor_transacao"]
    if case == "added":
        r["canal"] = "web"
    elif case == "removed":
        del r["modalidade_pagamento"]
        mod = "DOC"  # bankstream's reader default
    elif case == "float":
        reais = struct.unpack("<f", struct.pack("<f", reais))[0]
    elif case == "iso":
        r["data_horario"] = (EPOCH + datetime.timedelta(milliseconds=v["data_horario"])) \
            .strftime("%Y-%m-%dT%H:%M:%S.%f")
    row = "%s\t%s\t%s\t%s\t%s\t%d\t%d" % (v["id_transacao"], v["id_usuario_pagador"],
                                          v["id_usuario_recebedor"], v["id_regiao"], mod, us,
                                          cents_of(reais))
    return r, row


def read_all(brokers, topic):
    """Every message of topic: {partition: [message, ...]} in offset order."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "avro-client-%s" % topic,
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, eof = {p: [] for p in parts}, set()
    while len(eof) < len(parts):
        m = c.poll(5)
        if m is None:
            sys.exit("timeout reading " + topic)
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            sys.exit("reading %s: %s" % (topic, m.error()))
        out[m.partition()].append(m)
    c.close()
    return out


def producer(brokers):
    return Producer({"bootstrap.servers": brokers, "linger.ms": 5})


def flush(p):
    if p.flush(30) != 0:
        sys.exit("messages left unsent")


def cmd_mix(brokers, json_topic, avro_topic, out_topic):
    js, av = read_all(brokers, json_topic), read_all(brokers, avro_topic)
    p = producer(brokers)
    n = 0
    for part, msgs in js.items():
        if len(av.get(part, [])) != len(msgs):
            sys.exit("partition %d: %d JSON and %d Avro messages" % (part, len(msgs), len(av[part])))
        for j, a in zip(msgs, av[part]):
            if j.key() != a.key():
                sys.exit("partition %d offset %d: keys differ" % (part, j.offset()))
            value = j.value() if j.offset() % 2 == 0 else a.value()
            p.produce(out_topic, value, j.key(), partition=part, timestamp=j.timestamp()[1])
            n += 1
    flush(p)
    print("mixed %d messages" % n, file=sys.stderr)


def cmd_produce(brokers, registry, json_topic, out_topic, case="original"):
    src = read_all(brokers, json_topic)
    sr = SchemaRegistryClient({"url": registry})
    ser = AvroSerializer(sr, json.dumps(schema_for(case)))
    ctx = SerializationContext(out_topic, MessageField.VALUE)
    p = producer(brokers)
    rows = []
    for part, msgs in src.items():
        for m in msgs:
            rec, row = transform(case, json.loads(m.value()))
            p.produce(out_topic, ser(rec, ctx), m.key(), partition=part,
                      timestamp=m.timestamp()[1])
            rows.append(row)
    flush(p)
    print("\n".join(sorted(rows)))


def cmd_consume(brokers, registry, avro_topic, json_topic):
    sr = SchemaRegistryClient({"url": registry})
    de = AvroDeserializer(sr)
    av, js = read_all(brokers, avro_topic), read_all(brokers, json_topic)
    n = 0
    for part, msgs in av.items():
        for a, j in zip(msgs, js[part]):
            rec = de(a.value(), SerializationContext(avro_topic, MessageField.VALUE))
            want = json.loads(j.value())
            if rec != want:
                sys.exit("partition %d offset %d: Avro %r, JSON %r" % (part, a.offset(), rec, want))
            n += 1
        if len(msgs) != len(js[part]):
            sys.exit("partition %d: %d Avro and %d JSON messages" % (part, len(msgs), len(js[part])))
    print("consumed %d Avro messages, each equal to its JSON twin" % n)


def cmd_bad(brokers, registry, out_topic):
    sr = SchemaRegistryClient({"url": registry})
    ser = AvroSerializer(sr, json.dumps(schema_for("unresolvable")))
    ctx = SerializationContext(out_topic, MessageField.VALUE)
    p = producer(brokers)
    rec = {"id_transacao": "123e4567-e89b-12d3-a456-426614174000",
           "id_usuario_pagador": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
           "id_usuario_recebedor": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
           "id_regiao": "SP", "modalidade_pagamento": "PIX", "data_horario": 1750428191123,
           "valor_transacao": "123.40"}
    for _ in range(3):
        p.produce(out_topic, ser(rec, ctx), partition=0)
    for _ in range(2):
        p.produce(out_topic, b"\x00" + struct.pack(">I", 999999) + b"\x02\x00", partition=1)
    flush(p)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"mix": cmd_mix, "produce": cmd_produce, "consume": cmd_consume, "bad": cmd_bad}[cmd](*args)


if __name__ == "__main__":
    main()
