#!/usr/bin/env python3
"""serial_ref.py - an independent, serial reference of bankstream's processing rules.

Why: `bankstream run` cuts batches on rank 0, routes them to MPI workers and
commits them to PostgreSQL; its results must depend only on the input and the
batch boundaries. This script computes the same tables from the same input in
the simplest possible way (one loop, in Python, sharing no code with the C
sources) so that tests can compare the database with it, for any number of ranks.

Input: the topic (read with kcat), usuarios and regioes (read with psql), and the
batch size. Output: canonical text dumps, one line per row, sorted bytewise,
tab-separated, NULL written as \\N (the test makes the same dumps from the database):

  transacoes.txt    id payer receiver region modality data_horario_us valor
                    aprovada(t|f|\\N) status motivo batch partition offset
  scores.txt        id t5 t6 t7                  (floats as '%.12g')
  duplicadas.txt    id batch partition offset md5(payload)
  dead_letters.txt  batch partition offset md5(payload) t   (t: erro is non-empty;
                    payload: the message's first 64 KiB, as dead_letters keeps)
  batch_log.txt     batch topic {start_offsets} {end_offsets} n_mensagens
                    n_aprovadas n_rejeitadas n_nao_processadas n_dead_letters
  saldos.txt        id_usuario final_balance_in_centavos
  rows.txt          partition offset md5(payload) kind status motivo
                    (kind: txn|dup|dead; one line per message, for test checks)

Rules (the specification, not a translation of the C code):
  * batches: quota(p) = max(1, K // P + (1 if p < K % P else 0)); from the
    earliest offset of each partition, each batch takes for every partition in
    order the next min(quota(p), remaining) messages, until all are consumed.
    Rows of a batch are ordered by (partition, offset); batch ids 1, 2, ...
  * a message is valid when it is a JSON object (whitespace around it only)
    with the seven fields; ids are 36-character UUIDs (either case), the region
    one of the 27 UFs, the modality PIX|TED|DOC|Boleto, data_horario integral
    epoch ms or ISO-8601 'YYYY-MM-DD(T| )HH:MM:SS[.f{1,6}][Z|+HH:MM|-HH:MM]'
    (UTC when zone-less) within [1970-01-01, 2100-01-01], valor_transacao a
    JSON number rounded to centavos: nearest to its exact binary value, exact
    ties to even (as Python's round(x, 2) in the original producer, and printf),
    0 < valor <= 9,999,999,999,999.99 (what numeric(15,2) holds). Duplicate keys (top level), 'NaN',
    '\\u0000', unpaired surrogate escapes, a byte order mark and more than 65536
    bytes make it invalid; extra fields are ignored.
  * duplicates: a valid message whose id was already seen (valid messages only,
    in (partition, offset) order).
  * decision order: the batch's other valid transactions, in event order:
    data_horario, then the Kafka timestamp, then partition and offset.
  * decision per transaction, first failure wins: unknown payer; dated more
    than MAX_FUTURE_MS (60 s) after its Kafka timestamp; dated more
    than OLDER_THAN_LAST_MS (1 s) before the payer's last approved one; unknown
    receiver; (scores) balance < amount; amount over the modality's limit;
    score > 6; else approved. Debits are immediate, credits are applied at the
    end of the batch.

Usage:
  serial_ref.py --brokers B --topic T --pg CONNINFO --batch-size K --out DIR
                [--kafka-dump FILE]   (kcat -f '%p %o %T %S\\n%s' output; default: run kcat)
"""
import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

UFS = ("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE "
       "TO").split()
MODALITIES = {"PIX": "pix", "TED": "ted", "DOC": "doc", "Boleto": "boleto"}
FIELDS = ("id_transacao", "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
          "modalidade_pagamento", "data_horario", "valor_transacao")
MAX_BYTES = 65536
MAX_TXN_CENTS = 999_999_999_999_999        # R$ 9,999,999,999,999.99: numeric(15,2)
DEAD_LETTER_MAX = 65536                    # dead_letters.payload keeps the first 64 KiB
TIME_MIN_US, TIME_MAX_US = 0, 4_102_444_800_000_000  # 1970-01-01, 2100-01-01 (inclusive)
T6_CENTS = 200_000                         # t6 = 1 when amount > 2,000.00
RISK_THRESHOLD = 6.0
OLDER_THAN_LAST_MS = 1000                  # [rules] older_than_last_ms
MAX_FUTURE_MS = 60000                      # [rules] max_future_ms
ZONE = ZoneInfo("America/Sao_Paulo")

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
BAD_CHAR_RE = re.compile("[\x00\ud800-\udfff]")  # from \u0000 or lone \uD8xx escapes
ISO_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                    r"(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2})?")


class Invalid(Exception):
    """A message that goes to dead_letters; the text is the reason."""


class _Obj(list):
    """A JSON object as its list of (key, value) pairs, to see duplicate keys."""


def _no_constant(name):
    raise Invalid("non-JSON constant " + name)


def _walk_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):  # arrays and _Obj
        for x in v:
            if isinstance(x, tuple):
                yield x[0]
                yield from _walk_strings(x[1])
            else:
                yield from _walk_strings(x)


def parse_iso(s):
    """ISO-8601 text -> µs since the epoch (UTC), or raise Invalid."""
    m = ISO_RE.fullmatch(s)
    if not m:
        raise Invalid("data_horario is not ISO-8601")
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    try:
        if y < 1:
            raise ValueError
        dt = datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc)
    except ValueError:
        raise Invalid("data_horario is not a calendar date") from None
    us = ((dt - datetime(1970, 1, 1, tzinfo=timezone.utc)).days * 86400 + h * 3600 + mi * 60
          + sec) * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0)
    zone = m.group(8)
    if zone and zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise Invalid("bad zone offset")
        off = (oh * 3600 + om * 60) * 1_000_000
        us -= off if zone[0] == "+" else -off
    return us


def to_float(v, field):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid(field + " is not a number")
    try:
        return float(v)
    except OverflowError:
        return math.inf


def decode(payload):
    """Raw message bytes -> dict of the transaction, or raise Invalid."""
    if payload is None or len(payload) == 0:
        raise Invalid("empty message")
    if len(payload) > MAX_BYTES:
        raise Invalid("message too large")
    # Bytes that are not UTF-8 can only sit in strings nobody checks (anywhere
    # else they break the JSON or the field): they are not a reason to refuse.
    text = payload.decode("utf-8", errors="replace")
    try:
        root = json.loads(text, object_pairs_hook=_Obj, parse_constant=_no_constant)
    except Invalid:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError, int digits limit
        raise Invalid("not valid JSON: %s" % e) from None
    if not isinstance(root, _Obj):
        raise Invalid("not a JSON object")
    if "\\u" in text and any(BAD_CHAR_RE.search(s) for s in _walk_strings(root)):
        raise Invalid("\\u0000 or an unpaired surrogate escape in a string")
    keys = [k for k, _ in root]
    if len(set(keys)) != len(keys):
        raise Invalid("duplicate key")
    obj = dict(root)
    for f in FIELDS:
        if f not in obj:
            raise Invalid("missing field " + f)
    t = {}
    for f in ("id_transacao", "id_usuario_pagador", "id_usuario_recebedor"):
        v = obj[f]
        if not isinstance(v, str) or not UUID_RE.fullmatch(v):
            raise Invalid(f + " is not a UUID")
        t[f] = v.lower()
    if not isinstance(obj["id_regiao"], str) or obj["id_regiao"] not in UFS:
        raise Invalid("unknown id_regiao")
    t["id_regiao"] = obj["id_regiao"]
    if not isinstance(obj["modalidade_pagamento"], str) or \
            obj["modalidade_pagamento"] not in MODALITIES:
        raise Invalid("unknown modalidade_pagamento")
    t["modalidade_pagamento"] = obj["modalidade_pagamento"]

    v = obj["data_horario"]
    if isinstance(v, str):
        us = parse_iso(v)
    else:
        ms = to_float(v, "data_horario")
        if not (TIME_MIN_US / 1000 <= ms <= TIME_MAX_US / 1000) or ms != math.floor(ms):
            raise Invalid("data_horario is not integral epoch ms in range")
        us = int(ms) * 1000
    if not TIME_MIN_US <= us <= TIME_MAX_US:
        raise Invalid("data_horario out of range")
    t["us"] = us

    reais = to_float(obj["valor_transacao"], "valor_transacao")
    if not math.isfinite(reais) or abs(reais) > MAX_TXN_CENTS:  # (quantize needs few digits)
        raise Invalid("valor_transacao is not finite or out of range")
    cents = int(Decimal(reais).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)
    if cents <= 0 or cents > MAX_TXN_CENTS:
        raise Invalid("valor_transacao out of range")
    t["cents"] = cents
    return t


# ------------------------------------------------------------------ inputs

def read_kafka_dump(data):
    """kcat -f '%p %o %T %S\\n%s' output -> {partition: [(offset, ts_ms, bytes|None)]}."""
    parts, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        p, o, ts, n = (int(x) for x in data[i:nl].split(b" "))
        i = nl + 1
        payload = None if n < 0 else data[i:i + n]
        i += max(n, 0)
        parts.setdefault(p, []).append((o, ts, payload))
    for msgs in parts.values():
        msgs.sort(key=lambda m: m[0])
    return parts


def kafka_partitions(brokers, topic):
    out = subprocess.run(["kcat", "-L", "-J", "-b", brokers, "-t", topic], check=True,
                         capture_output=True).stdout
    for t in json.loads(out)["topics"]:
        if t["topic"] == topic:
            return len(t["partitions"])
    raise SystemExit("serial_ref: topic %s not found" % topic)


def psql_copy(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
                          "COPY (%s) TO STDOUT" % sql], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def cents_of(text):
    """numeric(15,2) text ('1234.5', '-0.50', '7') -> centavos, exactly."""
    return int(Decimal(text) * 100)


# ------------------------------------------------------------------ the run

def quota(k, nparts, p):
    return max(1, k // nparts + (1 if p < k % nparts else 0))


def fmt_cents(c):
    sign = "-" if c < 0 else ""
    return "%s%d.%02d" % (sign, abs(c) // 100, abs(c) % 100)


def local_hour(us):
    return datetime.fromtimestamp(us // 1_000_000, tz=ZONE).hour


def simulate(parts, nparts, k, topic, users, regions):
    """Everything the processor writes, from the messages and reference data."""
    balance = {u: v["saldo"] for u, v in users.items()}
    last_approved = {}
    seen = set()
    out = {n: [] for n in ("transacoes", "scores", "duplicadas", "dead_letters", "batch_log",
                           "rows")}
    idx = [0] * nparts
    pos = [parts[p][0][0] if parts.get(p) else 0 for p in range(nparts)]
    batch_id = 0
    while any(idx[p] < len(parts.get(p, [])) for p in range(nparts)):
        batch_id += 1
        starts = list(pos)
        rows = []
        for p in range(nparts):
            msgs = parts.get(p, [])
            take = msgs[idx[p]:idx[p] + quota(k, nparts, p)]
            idx[p] += len(take)
            for o, ts, payload in take:
                rows.append((p, o, ts, payload))
                pos[p] = o + 1
        credits = {}
        n = {"apr": 0, "rej": 0, "np": 0, "dead": 0}
        todo = []  # the transactions to decide, with their (partition, offset, ts)
        for p, o, ts, payload in rows:
            md5 = hashlib.md5(payload or b"").hexdigest()
            try:
                t = decode(payload)
            except Invalid:
                kept = hashlib.md5((payload or b"")[:DEAD_LETTER_MAX]).hexdigest()
                out["dead_letters"].append("%d\t%d\t%d\t%s\tt" % (batch_id, p, o, kept))
                out["rows"].append("%d\t%d\t%s\tdead\t\\N\t\\N" % (p, o, md5))
                n["dead"] += 1
                continue
            tid = t["id_transacao"]
            if tid in seen:
                out["duplicadas"].append("%s\t%d\t%d\t%d\t%s" % (tid, batch_id, p, o, md5))
                out["rows"].append("%d\t%d\t%s\tdup\t\\N\t\\N" % (p, o, md5))
                n["np"] += 1
                continue
            seen.add(tid)
            todo.append((t["us"], ts, p, o, t, md5))
        for _, ts, p, o, t, md5 in sorted(todo, key=lambda x: x[:4]):
            tid = t["id_transacao"]
            status, motivo, approved = decide(t, ts, users, regions, balance, last_approved,
                                              credits, out["scores"])
            n[{"aprovada": "apr", "rejeitada": "rej", "nao_processada": "np"}[status]] += 1
            out["transacoes"].append("\t".join((
                tid, t["id_usuario_pagador"], t["id_usuario_recebedor"], t["id_regiao"],
                t["modalidade_pagamento"], str(t["us"]), fmt_cents(t["cents"]),
                {True: "t", False: "f", None: "\\N"}[approved], status, motivo or "\\N",
                str(batch_id), str(p), str(o))))
            out["rows"].append("%d\t%d\t%s\ttxn\t%s\t%s" % (p, o, md5, status, motivo or "\\N"))
        for u, c in credits.items():
            balance[u] += c
        out["batch_log"].append("%d\t%s\t{%s}\t{%s}\t%d\t%d\t%d\t%d\t%d" % (
            batch_id, topic, ",".join(map(str, starts)), ",".join(map(str, pos)), len(rows),
            n["apr"], n["rej"], n["np"], n["dead"]))
    out["saldos"] = ["%s\t%d" % (u, c) for u, c in balance.items()]
    return out


def decide(t, kafka_ts_ms, users, regions, balance, last_approved, credits, scores):
    """Apply the rules to one transaction; returns (status, motivo, transacao_aprovada)."""
    payer, receiver = t["id_usuario_pagador"], t["id_usuario_recebedor"]
    if payer not in users:
        return "rejeitada", "pagador_desconhecido", False
    if t["us"] // 1000 - kafka_ts_ms > MAX_FUTURE_MS:
        return "nao_processada", "data_futura", False
    if payer in last_approved and t["us"] < last_approved[payer] - OLDER_THAN_LAST_MS * 1000:
        return "nao_processada", "anterior_a_ultima", False
    if receiver not in users:
        return "rejeitada", "recebedor_desconhecido", False
    at, home = regions[t["id_regiao"]], regions[users[payer]["regiao"]]
    dlat, dlon = at[0] - home[0], at[1] - home[1]
    t5 = math.sqrt(dlat * dlat + dlon * dlon)
    t6 = 1.0 if t["cents"] > T6_CENTS else 0.0
    t7 = abs(local_hour(t["us"]) - 12) / 12
    score = t5 * t6 * t7 / 3
    scores.append("%s\t%.12g\t%.12g\t%.12g" % (t["id_transacao"], t5, t6, t7))
    if balance[payer] < t["cents"]:
        return "rejeitada", "saldo_insuficiente", False
    if t["cents"] > users[payer]["limite_" + MODALITIES[t["modalidade_pagamento"]]]:
        return "rejeitada", "limite_excedido", False
    if score > RISK_THRESHOLD:
        return "rejeitada", "risco", False
    balance[payer] -= t["cents"]
    last_approved[payer] = max(last_approved.get(payer, t["us"]), t["us"])
    credits[receiver] = credits.get(receiver, 0) + t["cents"]
    return "aprovada", None, True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--pg", required=True, help="conninfo of a database holding usuarios/regioes")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--out", required=True, help="directory for the dumps")
    ap.add_argument("--kafka-dump", help="kcat -f '%%p %%o %%T %%S\\n%%s' output (default: run kcat)")
    a = ap.parse_args()
    if a.batch_size < 1:
        ap.error("--batch-size must be >= 1")

    nparts = kafka_partitions(a.brokers, a.topic)
    if a.kafka_dump:
        with open(a.kafka_dump, "rb") as f:
            data = f.read()
    else:
        data = subprocess.run(["kcat", "-C", "-b", a.brokers, "-t", a.topic, "-e", "-o",
                               "beginning", "-q", "-f", "%p %o %T %S\n%s"], check=True,
                              capture_output=True).stdout
    parts = read_kafka_dump(data)
    users = {}
    for u, reg, saldo, lpix, lted, ldoc, lbol in psql_copy(
            a.pg, "SELECT id_usuario, id_regiao, saldo, limite_pix, limite_ted, limite_doc, "
                  "limite_boleto FROM usuarios"):
        users[u] = {"regiao": reg, "saldo": cents_of(saldo), "limite_pix": cents_of(lpix),
                    "limite_ted": cents_of(lted), "limite_doc": cents_of(ldoc),
                    "limite_boleto": cents_of(lbol)}
    regions = {r: (float(lat), float(lon)) for r, lat, lon in
               psql_copy(a.pg, "SELECT id_regiao, latitude, longitude FROM regioes")}

    out = simulate(parts, nparts, a.batch_size, a.topic, users, regions)
    os.makedirs(a.out, exist_ok=True)
    for name, lines in out.items():
        with open(os.path.join(a.out, name + ".txt"), "w") as f:
            f.writelines(line + "\n" for line in sorted(lines))
    counts = {}
    for line in out["rows"]:
        kind, status, motivo = line.split("\t")[3:6]
        key = kind if kind != "txn" else status + ("" if motivo == "\\N" else "/" + motivo)
        counts[key] = counts.get(key, 0) + 1
    print("serial_ref: %d messages in %d partitions, %d batches: %s" % (
        len(out["rows"]), nparts, len(out["batch_log"]),
        ", ".join("%s %d" % kv for kv in sorted(counts.items()))))


if __name__ == "__main__":
    sys.exit(main())
