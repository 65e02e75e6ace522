#!/usr/bin/env python3
"""decide_ref.py - the serial reference for tests/mpi/decide_driver.c.

Why: 45-engine.sh checks that the engine's MPI paths agree with each other
on every rank count; agreeing is not being right. This script decides the
same input in one plain loop, with the rule code of serial_ref.py (the
project's independent Python reference, imported, not copied), and prints
the digest the driver prints, so that the test can compare them byte for byte.

Input: `decide_driver dump SEED` on stdin or in the file named:
  rules   max_age_ms N
  region  UF LAT LON
  user    ID UF BALANCE LIMIT_PIX LIMIT_TED LIMIT_DOC LIMIT_BOLETO   (centavos)
  row     I BATCH PAYER RECEIVER UF MODALITY DATA_HORARIO_US VALOR KAFKA_TS_MS
Rows come in batch order; inside a batch they are decided in event order
(data_horario, Kafka timestamp, row number).

Rules: serial_ref.decide (unknown payer; dated in the future; older than the
last approved beyond the tolerance; unknown receiver; balance; limit; risk),
with one rule it does not have put where rules.h puts it: after the unknown
payer, a row whose Kafka timestamp is more than max_age_ms after
data_horario is not processed (atrasada).
Debits at once; credits when the batch ends.

Output: `row I STATUS REASON T5 T6 T7` for every row (\\N for none), then
`user ID BALANCE` sorted by id, tab-separated.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serial_ref  # noqa: E402  (the rule code this reference shares)


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    max_age_ms, regions, users, balance, rows = 0, {}, {}, {}, []
    for line in src:
        f = line.rstrip("\n").split("\t")
        if f[0] == "rules" and f[1] == "max_age_ms":
            max_age_ms = int(f[2])
        elif f[0] == "region":
            regions[f[1]] = (float(f[2]), float(f[3]))
        elif f[0] == "user":
            users[f[1]] = {"regiao": f[2], "saldo": int(f[3]), "limite_pix": int(f[4]),
                           "limite_ted": int(f[5]), "limite_doc": int(f[6]),
                           "limite_boleto": int(f[7])}
            balance[f[1]] = int(f[3])
        elif f[0] == "row":
            rows.append({"i": int(f[1]), "batch": int(f[2]), "id_transacao": f[1],
                         "id_usuario_pagador": f[3], "id_usuario_recebedor": f[4],
                         "id_regiao": f[5], "modalidade_pagamento": f[6], "us": int(f[7]),
                         "cents": int(f[8]), "kafka_ts_ms": int(f[9])})
        else:
            raise SystemExit("decide_ref: unknown line: %r" % line)

    out = {}
    last_approved, credits, batch = {}, {}, None
    for t in sorted(rows, key=lambda t: (t["batch"], t["us"], t["kafka_ts_ms"], t["i"])):
        if t["batch"] != batch:  # a batch ends: its credits land
            for u, c in credits.items():
                balance[u] += c
            credits, batch = {}, t["batch"]
        scores = []
        if t["id_usuario_pagador"] in users and max_age_ms > 0 and \
                t["kafka_ts_ms"] - t["us"] // 1000 > max_age_ms:
            status, motivo = "nao_processada", "atrasada"
        else:
            status, motivo, _ = serial_ref.decide(t, t["kafka_ts_ms"], users, regions, balance,
                                                  last_approved, credits, scores)
        score = scores[0].split("\t")[1:] if scores else ["\\N"] * 3
        out[t["i"]] = "\t".join(["row", str(t["i"]), status, motivo or "\\N"] + score)
    for u, c in credits.items():
        balance[u] += c
    out = [out[i] for i in sorted(out)]
    for u in sorted(balance):
        out.append("user\t%s\t%d" % (u, balance[u]))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
