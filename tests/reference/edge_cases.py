#!/usr/bin/env python3
"""edge_cases.py - put hand-made edge-case messages into a topic, and check
that serial_ref.py classified each one as intended.

Why: the generated stream (`bankstream produce`) only holds well-formed,
known-user transactions of 2024-2025. The determinism test also needs malformed
messages, duplicates, unknown users, "older than the last approved", rounding
edges and local hours under Sao Paulo's former daylight-saving time, spread
over every partition. This script builds them from the users of a database,
writes them with kcat (explicit partition, raw bytes, empty values included),
and records what each one must become in a manifest.

  edge_cases.py inject --phase head|tail --pg CONNINFO --brokers B --topic T --manifest FILE
  edge_cases.py check MANIFEST ROWS     (ROWS: rows.txt written by serial_ref.py)

Phase 'head' runs before `bankstream produce` (its messages are the first of
partition 0: transactions dated 1985-2019 can only reach the scores while their
payer has no approved transaction yet); phase 'tail' runs after it and appends
to every partition. Manifest: one line per injected message, in the order they
were written: partition, head|tail, expected, name, id_transacao (or -), tab
separated. `check` matches them with the first/last rows of each partition.
expected is 'dead', 'dup', 'txn' (any outcome) or 'txn:<status>[/<motivo>]'.

The case named 'tie-10.125' carries valor_transacao 10.125, an exact binary
tie at the cent: it is stored as 10.12 (ties to even, as the original
producer's Python round(x, 2) and printf's "%.2f" do).
"""
import json
import math
import subprocess
import sys
import uuid

def psql_rows(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
                          "COPY (%s) TO STDOUT" % sql], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def fixed_uuid(n):
    """A deterministic version-4 UUID nobody else uses."""
    return str(uuid.UUID(int=(0xED6E_CA5E << 96) | n, version=4))


def build_cases(phase, users, regions, existing):
    """users: [(id, region, saldo, limit)] sorted richest first; existing: raw
    bytes of a message already in the topic (tail phase). Returns
    [(partition, expected, name, payload bytes)]."""
    def farthest(home):
        return max(regions, key=lambda r: math.hypot(regions[r][0] - regions[home][0],
                                                     regions[r][1] - regions[home][1]))

    # rich: among the users best able to pay, one whose home is far (> 20 degrees)
    # from some region, so that a 2,000.01 payment at local midnight scores > 6
    rich = next(u for u in users if math.hypot(
        regions[farthest(u[1])][0] - regions[u[1]][0],
        regions[farthest(u[1])][1] - regions[u[1]][1]) > 20)
    rich2, a, b, c = [u for u in users if u is not rich][:4]
    far = farthest(rich[1])
    serial = [0]

    def txn(**over):
        serial[0] += 1
        t = {"id_transacao": fixed_uuid(serial[0]), "id_usuario_pagador": a[0],
             "id_usuario_recebedor": b[0], "id_regiao": "SP", "modalidade_pagamento": "PIX",
             "data_horario": "2026-06-20T14:03:11.123456", "valor_transacao": 12.34}
        t.update(over)
        return t

    def js(t, drop=None):
        return json.dumps({k: v for k, v in t.items() if k != drop},
                          separators=(",", ":")).encode()

    def raw(t, amount_text):
        """JSON with valor_transacao written verbatim (json.dumps would reformat it)."""
        t = dict(t, valor_transacao=0)
        return js(t).replace(b'"valor_transacao":0', b'"valor_transacao":' + amount_text)

    cases = []

    def add(p, expected, name, payload):
        assert b"\x1e" not in payload and b"\x1f" not in payload, name
        cases.append((p, expected, name, payload))

    if phase == "head":
        # The first rows of the first batch; payers without any approval yet.
        # Sao Paulo kept daylight-saving time (UTC-2) until February 2019.
        add(0, "dead", "head-not-json", b"{")
        for i, (name, when) in enumerate((
                ("dst-before-start", "2018-11-04T02:30:00Z"),  # 23:30 on the 3rd, UTC-3
                ("dst-after-start", "2018-11-04T03:30:00Z"),   # 01:30, UTC-2
                ("dst-before-end", "2019-02-17T01:30:00Z"),    # 23:30 on the 16th, UTC-2
                ("dst-1985", "1985-12-01T12:00:00Z"))):
            u = users[10 + i]
            serial[0] = 0x100 + i
            add(0, "txn:aprovada", name,
                js(txn(id_usuario_pagador=u[0], id_regiao=u[1], valor_transacao=5.0,
                       data_horario=when)))
        # rich's last approval, for the tail's "older than the last approved"
        # cases (a later batch: within a batch the older one would simply be
        # decided first)
        serial[0] = 0x200
        add(3, "txn:aprovada", "last-approved-2026-01-01",
            js(txn(id_usuario_pagador=rich[0], id_regiao=rich[1], valor_transacao=1.0,
                   data_horario="2026-01-01T00:00:00Z")))
        return cases

    # -- partition 0: malformed
    add(0, "dead", "not-json", b"not json at all")
    add(0, "dead", "missing-field", js(txn(), drop="valor_transacao"))
    add(0, "dead", "bad-uuid", js(txn(id_transacao="1234-not-a-uuid")))
    add(0, "dead", "unknown-uf", js(txn(id_regiao="XX")))
    add(0, "dead", "modality-cash", js(txn(modalidade_pagamento="CASH")))
    add(0, "dead", "modality-lowercase", js(txn(modalidade_pagamento="pix")))
    add(0, "dead", "negative-amount", raw(txn(), b"-5.00"))
    add(0, "dead", "control-char", js(txn(extra="a_b")).replace(b"a_b", b"a\x01b"))
    add(0, "dead", "nul-escape", js(txn(extra="a\x00b")))
    # -- partition 1: malformed
    add(1, "dead", "zero-amount", raw(txn(), b"0"))
    add(1, "dead", "amount-over-numeric-15-2", raw(txn(), b"1e13"))
    add(1, "txn:rejeitada/saldo_insuficiente", "amount-1e12", raw(txn(), b"1e12"))
    add(1, "txn:rejeitada/saldo_insuficiente", "amount-max-numeric",
        raw(txn(), b"9999999999999.99"))
    add(1, "dead", "string-amount", js(txn(valor_transacao="10.00")))
    add(1, "dead", "trailing-garbage", js(txn()) + b" x")
    add(1, "dead", "empty", b"")
    add(1, "dead", "duplicate-key", js(txn())[:-1] + b',"id_regiao":"RJ"}')
    add(1, "dead", "binary", b"\x00\xff{\n\"a\"\t\x80")
    add(1, "dead", "nan-amount", raw(txn(), b"NaN"))
    # -- partition 2: malformed, then valid edges
    add(2, "dead", "amount-rounds-to-zero", raw(txn(), b"0.004"))
    add(2, "dead", "fractional-ms", js(txn(data_horario=1750000000000.5)))
    add(2, "dead", "year-2101-ms", js(txn(data_horario=4133980800000)))
    add(2, "dead", "json-array", b'["id_transacao", 1]')
    add(2, "dead", "iso-feb-30", js(txn(data_horario="2025-02-30T10:00:00")))
    add(2, "dead", "iso-7-digit-fraction", js(txn(data_horario="2026-02-03T10:00:00.1234567")))
    big = txn()
    add(2, "dead", "too-large", js(dict(big, pad="x" * (65537 - len(js(big)) - 9))))
    reused = txn(id_regiao="ZZ")
    add(2, "dead", "bad-uf-then-same-id-valid", js(reused))
    add(2, "txn", "same-id-as-dead-letter", js(dict(reused, id_regiao="MG")))
    add(2, "txn", "iso-form", js(txn()))
    add(2, "dup", "exact-duplicate-of-partition-0", existing)
    ok = txn(valor_transacao=7.5)
    add(2, "txn", "exactly-65536-bytes", js(dict(ok, pad="x" * (65536 - len(js(ok)) - 9))))
    add(2, "txn", "whitespace-and-extra-fields",
        b" \r\n\t" + js(txn(extra={"nested": [1, 2.5, None, True]}, more="x")) + b" \n")
    # -- partition 3: unknown users, ordering, risk, rounding
    unknown = txn(id_usuario_pagador=fixed_uuid(0xFFFF))
    add(3, "txn:rejeitada/pagador_desconhecido", "unknown-payer", js(unknown))
    add(3, "dup", "duplicate-of-rejected", js(unknown))
    add(3, "txn:rejeitada/recebedor_desconhecido", "unknown-receiver",
        js(txn(id_usuario_recebedor=fixed_uuid(0xFFFE))))
    # 2026-01-10T03:30Z is 00:30 in Sao Paulo: t7 = 1; 2000.01 > 2000: t6 = 1
    add(3, "txn:rejeitada/risco", "risk",
        js(txn(id_usuario_pagador=rich[0], id_regiao=far, valor_transacao=2000.01,
               data_horario="2026-01-10T03:30:00Z")))
    add(3, "txn:nao_processada/data_futura", "future-2099",
        js(txn(id_usuario_pagador=rich[0], id_regiao=rich[1], valor_transacao=1.0,
               data_horario="2099-01-01T00:00:00")))
    add(3, "txn:nao_processada/anterior_a_ultima", "older-than-last-approved",
        js(txn(id_usuario_pagador=rich[0], valor_transacao=1.0,
               data_horario="2025-12-31T23:59:58.999Z")))
    add(3, "txn:aprovada", "within-a-second-of-last-approved",
        js(txn(id_usuario_pagador=rich[0], id_regiao=rich[1], valor_transacao=1.0,
               data_horario="2025-12-31T23:59:59.000Z")))
    add(3, "txn:aprovada", "same-time-as-last-approved-epoch-ms",
        js(txn(id_usuario_pagador=rich[0], id_regiao=rich[1], valor_transacao=1.0,
               data_horario=1767225600000)))
    add(3, "txn:aprovada", "tie-10.125", raw(txn(id_usuario_pagador=rich2[0]), b"10.125"))
    add(3, "txn:aprovada", "tie-10.375", raw(txn(id_usuario_pagador=rich2[0]), b"10.375"))
    add(3, "txn", "amount-2000.005-at-noon",
        raw(txn(id_usuario_pagador=rich2[0], data_horario="2026-01-10T15:00:00Z"), b"2000.005"))
    add(3, "txn", "uppercase-uuids",
        js(txn(id_transacao=fixed_uuid(0xABC).upper(), id_usuario_pagador=c[0].upper(),
               id_usuario_recebedor=a[0].upper())))
    # payer b pays itself (receiver b): debited at once, credited at the end of the batch
    add(3, "txn", "iso-with-offset", js(txn(id_usuario_pagador=b[0],
                                            data_horario="2026-03-01T10:00:00-03:00")))
    add(3, "txn", "iso-space-separator", js(txn(id_usuario_pagador=b[0],
                                                data_horario="2026-03-01 11:00:00")))
    add(3, "txn", "integer-amount", raw(txn(id_usuario_pagador=b[0]), b"100"))
    add(3, "txn", "epoch-zero", js(txn(id_usuario_pagador=c[0], data_horario=0)))
    add(3, "txn:rejeitada/saldo_insuficiente", "max-amount",
        raw(txn(id_usuario_pagador=c[0]), b"1000000000.00"))
    add(3, "txn:nao_processada/data_futura", "year-2100-boundary",
        js(txn(id_usuario_pagador=c[0], data_horario=4102444800000)))
    return cases


def inject(args):
    opts = dict(zip(args[::2], args[1::2]))
    phase, pg, brokers, topic = opts["--phase"], opts["--pg"], opts["--brokers"], opts["--topic"]
    if phase not in ("head", "tail"):
        raise SystemExit("edge_cases: --phase is head or tail")
    users = [(u, r, float(s), float(lim)) for u, r, s, lim in psql_rows(
        pg, "SELECT id_usuario, id_regiao, saldo, limite_pix FROM usuarios "
            "ORDER BY least(saldo, limite_pix) DESC, id_usuario")]
    regions = {r: (float(lat), float(lon)) for r, lat, lon in psql_rows(
        pg, "SELECT id_regiao, latitude, longitude FROM regioes")}
    existing = None
    if phase == "tail":
        existing = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-p", "0", "-o",
                                   "20", "-c", "1", "-e", "-q", "-f", "%s"], check=True,
                                  capture_output=True).stdout
        if not existing:
            raise SystemExit("edge_cases: no message at partition 0 offset 20 of " + topic)
    cases = build_cases(phase, users, regions, existing)
    for p in sorted({c[0] for c in cases}):
        data = b"".join(b"edge\x1f" + c[3] + b"\x1e" for c in cases if c[0] == p)
        subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-p", str(p), "-K", "\\x1f",
                        "-D", "\\x1e"], input=data, check=True)
    with open(opts["--manifest"], "w" if phase == "head" else "a") as f:
        for p, expected, name, payload in cases:
            try:
                tid = json.loads(payload)["id_transacao"].lower()
            except Exception:  # not JSON, no id: nothing to name
                tid = "-"
            f.write("%d\t%s\t%s\t%s\t%s\n" % (p, phase, expected, name, tid))
    print("edge_cases: wrote %d messages (%s)" % (len(cases), phase))


def check(manifest, rows_file):
    want = {}
    with open(manifest) as f:
        for line in f:
            p, where, expected, name, _ = line.rstrip("\n").split("\t")
            want.setdefault((int(p), where), []).append((expected, name))
    rows = {}
    with open(rows_file) as f:
        for line in f:
            p, o, _, kind, status, motivo = line.rstrip("\n").split("\t")
            rows.setdefault(int(p), []).append((int(o), kind, status, motivo))
    bad = 0
    for (p, where), cases in want.items():
        part = sorted(rows.get(p, []))
        got = part[:len(cases)] if where == "head" else part[-len(cases):]
        if len(got) != len(cases):
            print("partition %d: %d rows, %d injected" % (p, len(got), len(cases)))
            return 1
        for (expected, name), (o, kind, status, motivo) in zip(cases, got):
            outcome = kind if kind != "txn" else "txn:%s%s" % (
                status, "" if motivo == "\\N" else "/" + motivo)
            if not (outcome == expected or outcome.startswith(expected + ":")
                    or outcome.startswith(expected + "/")):
                print("edge case %s (partition %d offset %d): expected %s, reference says %s"
                      % (name, p, o, expected, outcome))
                bad += 1
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "inject":
        return inject(sys.argv[2:])
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    print(__doc__.split("\n\n")[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
