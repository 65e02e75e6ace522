#!/usr/bin/env python3
"""avro_crosscheck.py - bankstream's Avro decoder against fastavro, an
independent implementation, on generated and evolved records.

Why: bankstream decodes Avro with a decoder of its own (src/base/avro_*.c);
its unit tests build bytes by hand. Here fastavro writes the records (with
the writer schemas of issue 17's evolution cases and some with every Avro
type to skip) and reads them back through bankstream's reader schema (Avro
schema resolution, fastavro's); the transaction that follows from fastavro's
record under the JSON decoder's rules (serial_ref.py's, in Python) must be
exactly what build/avro/avro_check prints, and a record that fastavro cannot
resolve or that the rules refuse must be refused by bankstream too (naming
the field, when the rules name one).

Usage: avro_crosscheck.py AVRO_CHECK_BINARY [--count N] [--seed S] [--workdir DIR]
Exit status 0 when every record agrees; otherwise the differences are printed.
"""
import argparse
import copy
import datetime
import io
import json
import os
import random
import struct
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal

import fastavro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serial_ref as ref  # noqa: E402  (the JSON rules, written once)

# bankstream's reader schema (include/base/avro_decode.h, AVRO_TXN_READER_SCHEMA)
READER = {"type": "record", "name": "BankTransaction", "fields": [
    {"name": "id_transacao", "type": "string"},
    {"name": "id_usuario_pagador", "type": "string"},
    {"name": "id_usuario_recebedor", "type": "string"},
    {"name": "id_regiao", "type": "string"},
    {"name": "modalidade_pagamento", "type": "string", "default": "DOC"},
    {"name": "data_horario", "type": ["long", "string"]},
    {"name": "valor_transacao", "type": "double"}]}

ORIGINAL = {"type": "record", "name": "BankTransaction", "fields": [
    {"name": "id_transacao", "type": "string"},
    {"name": "id_usuario_pagador", "type": "string"},
    {"name": "id_usuario_recebedor", "type": "string"},
    {"name": "id_regiao", "type": "string"},
    {"name": "modalidade_pagamento", "type": "string"},
    {"name": "data_horario", "type": "long"},
    {"name": "valor_transacao", "type": "double"}]}

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def field(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


def evolved(change):
    s = copy.deepcopy(ORIGINAL)
    change(s)
    return s


def set_type(name, t):
    return lambda s: field(s, name).__setitem__("type", t)


def drop(name):
    return lambda s: s["fields"].remove(field(s, name))


def add_fields(s):
    tag = {"type": "record", "name": "Tag", "fields": [
        {"name": "k", "type": "string"}, {"name": "v", "type": ["null", "double"]},
        {"name": "n", "type": "null"}]}
    extra = [
        (1, {"name": "canal", "type": "string", "default": "app"}),
        (3, {"name": "tags", "type": {"type": "array", "items": tag}, "default": []}),
        (5, {"name": "extra", "type": {"type": "map", "values": "long"}, "default": {}}),
        (6, {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]},
             "default": "A"}),
        (8, {"name": "fx", "type": {"type": "fixed", "name": "Fx", "size": 4}}),
        (9, {"name": "blob", "type": "bytes", "default": ""}),
        (10, {"name": "flag", "type": "boolean", "default": False}),
        (11, {"name": "score", "type": ["null", "float", "Tag"], "default": None}),
    ]
    for pos, f in extra:
        s["fields"].insert(pos, f)
    s["namespace"] = "br.fgv.bank"


WRITERS = {
    "original": ORIGINAL,
    "added_fields": evolved(add_fields),
    "removed_modalidade": evolved(drop("modalidade_pagamento")),
    "float_amount": evolved(set_type("valor_transacao", "float")),
    "iso_time": evolved(set_type("data_horario", "string")),
    "millis_logical_int_amount": evolved(lambda s: (
        set_type("data_horario", {"type": "long", "logicalType": "timestamp-millis"})(s),
        set_type("valor_transacao", "int")(s))),
    "micros_logical_long_amount": evolved(lambda s: (
        set_type("data_horario", {"type": "long", "logicalType": "timestamp-micros"})(s),
        set_type("valor_transacao", "long")(s))),
    "unions": evolved(lambda s: (
        set_type("id_regiao", ["null", "string"])(s),
        set_type("data_horario", ["null", "long", "string"])(s),
        set_type("valor_transacao", ["float", "double"])(s))),
}


def uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    u = "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))
    return u.upper() if rng.random() < 0.1 else u


def iso(rng, us):
    dt = EPOCH + datetime.timedelta(microseconds=us)
    s = dt.strftime("%Y-%m-%d") + rng.choice("T ") + dt.strftime("%H:%M:%S")
    if rng.random() < 0.7:
        s += "." + ("%06d" % dt.microsecond)[:rng.randint(1, 6)]
    return s + rng.choice(["", "", "Z", "+00:00"])


def gen(name, rng):
    """A record for writer `name`: valid mostly, sometimes with one bad value."""
    w = WRITERS[name]
    us = rng.randrange(0, 4102444800) * 1_000_000 + rng.randrange(1000) * 1000
    cents = rng.choice([1, 99, 12340, 999999, rng.randrange(1, 10**9)])
    r = {"id_transacao": uuid(rng), "id_usuario_pagador": uuid(rng),
         "id_usuario_recebedor": uuid(rng), "id_regiao": rng.choice(ref.UFS),
         "modalidade_pagamento": rng.choice(list(ref.MODALITIES)),
         "data_horario": us // 1000, "valor_transacao": cents / 100}
    bad = rng.random() < 0.15 and rng.choice(
        ["region", "modality", "uuid", "time", "amount", "zero", "huge"])
    if bad == "region":
        r["id_regiao"] = rng.choice(["XX", "sp", "", "SPX"])
    elif bad == "modality":
        r["modalidade_pagamento"] = rng.choice(["pix", "Pix", "BOLETO", ""])
    elif bad == "uuid":
        r["id_usuario_pagador"] = rng.choice(["g" * 36, r["id_transacao"][:35], "x"])
    elif bad == "time":
        r["data_horario"] = rng.choice([-1, 4102444800001, -10**12])
    elif bad == "amount":
        r["valor_transacao"] = -cents / 100
    elif bad == "zero":
        r["valor_transacao"] = rng.choice([0.0, 0.004])
    elif bad == "huge":
        r["valor_transacao"] = 1e16
    types = {f["name"]: f["type"] for f in w["fields"]}
    if "modalidade_pagamento" not in types:
        del r["modalidade_pagamento"]
    t = types["data_horario"]
    if t == "string":
        r["data_horario"] = iso(rng, us) if bad != "time" else rng.choice(
            ["yesterday", "2025-02-30T00:00:00", "2025-06-20T14:03:11.1234567", "2101-01-01T00:00:00Z"])
    elif isinstance(t, dict) and t.get("logicalType") == "timestamp-micros":
        r["data_horario"] = us if bad != "time" else -1
    elif isinstance(t, list):
        r["data_horario"] = rng.choice([r["data_horario"], iso(rng, us), None if rng.random() < 0.2 else us // 1000])
    a = types["valor_transacao"]
    if a in ("int", "long"):
        r["valor_transacao"] = int(r["valor_transacao"]) if abs(r["valor_transacao"]) < 2**31 else 2**31 - 1
    if isinstance(types["id_regiao"], list) and rng.random() < 0.1:
        r["id_regiao"] = None
    if name == "added_fields":
        r.update(canal=rng.choice(["app", "web", ""]),
                 tags=[{"k": "t%d" % i, "v": rng.choice([None, rng.random()]), "n": None}
                       for i in range(rng.randrange(4))],
                 extra={"k%d" % i: rng.randrange(-10**12, 10**12) for i in range(rng.randrange(3))},
                 kind=rng.choice("ABC"), fx=bytes(rng.randrange(256) for _ in range(4)),
                 blob=bytes(rng.randrange(256) for _ in range(rng.randrange(20))),
                 flag=rng.random() < 0.5,
                 score=rng.choice([None, 1.5, {"k": "x", "v": None, "n": None}]))
    return r


def expected(writer, record_bytes, reader):
    """What bankstream must print for these bytes: 'ok ...' or ('err', field or None)."""
    try:
        rec = fastavro.schemaless_reader(io.BytesIO(record_bytes), writer, reader)
    except Exception:  # fastavro cannot resolve the value (a union branch, ...)
        return ("err", None)
    try:
        ids = []
        for f in ("id_transacao", "id_usuario_pagador", "id_usuario_recebedor"):
            v = rec[f]
            if not ref.UUID_RE.fullmatch(v):
                raise ref.Invalid(f)
            ids.append(v.lower())
        if rec["id_regiao"] not in ref.UFS:
            raise ref.Invalid("id_regiao")
        if rec["modalidade_pagamento"] not in ref.MODALITIES:
            raise ref.Invalid("modalidade_pagamento")
        t = rec["data_horario"]
        if isinstance(t, datetime.datetime):  # fastavro applied the writer's logicalType
            us = (t - EPOCH) // datetime.timedelta(microseconds=1)
        elif isinstance(t, str):
            try:
                us = ref.parse_iso(t)
            except ref.Invalid:
                raise ref.Invalid("data_horario") from None
        else:
            us = t * 1000
        if not ref.TIME_MIN_US <= us <= ref.TIME_MAX_US:
            raise ref.Invalid("data_horario")
        reais = float(rec["valor_transacao"])
        if reais != reais or abs(reais) == float("inf") or abs(reais) > ref.MAX_TXN_CENTS:
            raise ref.Invalid("valor_transacao")
        cents = int(Decimal(reais).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)
        if cents <= 0 or cents > ref.MAX_TXN_CENTS:
            raise ref.Invalid("valor_transacao")
    except ref.Invalid as e:
        return ("err", str(e))
    return "ok %s %s %s %s %s %d %d" % (*ids, rec["id_regiao"], rec["modalidade_pagamento"], us,
                                        cents)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("avro_check")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--workdir", default="/tmp")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    reader = fastavro.parse_schema(READER)
    bad = 0
    for name, schema in WRITERS.items():
        writer = fastavro.parse_schema(copy.deepcopy(schema))
        bodies, want = [], []
        for _ in range(a.count):
            rec = gen(name, rng)
            buf = io.BytesIO()
            try:
                fastavro.schemaless_writer(buf, writer, rec)
            except Exception as e:
                sys.exit("generator bug for %s: %s (%r)" % (name, e, rec))
            bodies.append(buf.getvalue())
            want.append(expected(writer, buf.getvalue(), reader))
        path = os.path.join(a.workdir, "writer-%s.avsc" % name)
        with open(path, "w") as f:
            json.dump(schema, f)
        out = subprocess.run([a.avro_check, path], input="".join(b.hex() + "\n" for b in bodies),
                             capture_output=True, text=True, check=False)
        got = out.stdout.splitlines()
        if out.returncode != 0 or len(got) != len(want):
            print("%s: avro_check failed (exit %d): %s %s" % (name, out.returncode,
                                                              out.stdout[:300], out.stderr[:300]))
            bad += 1
            continue
        n_ok = n_err = 0
        for i, (g, w) in enumerate(zip(got, want)):
            if isinstance(w, tuple):
                fine = g.startswith("err ") and (w[1] is None or w[1] in g)
                n_err += fine
            else:
                fine = g == w
                n_ok += fine
            if not fine:
                bad += 1
                if bad <= 10:
                    print("%s record %d: bankstream '%s', fastavro + rules %r (bytes %s)"
                          % (name, i, g, w, bodies[i].hex()))
        print("%-28s %5d decoded alike, %4d refused by both" % (name, n_ok, n_err))
    if bad:
        print("FAILED: %d records differ" % bad)
        return 1
    print("ok: bankstream's decoder agrees with fastavro %s on every record" % fastavro.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
