#!/usr/bin/env python3
"""dashboard_check.py CONNINFO SHOWN.json [MODS H0 H1]

Compares what the dashboard page showed (SHOWN.json, written by
dashboard_page.mjs from the charts' own data) with the same figures computed
here by psql straight from the tables transacoes, transacoes_scores,
usuarios and regioes, the way the original dashboard computed them (with its
two errors corrected: the hour in São Paulo time, the reasons as recorded).
Prints one line per check; exits 1 if any differs."""
import json
import subprocess
import sys

conn, shown_path = sys.argv[1], sys.argv[2]
mods = sys.argv[3].split(",") if len(sys.argv) > 3 else ["PIX", "TED", "DOC", "Boleto"]
h0, h1 = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, 23)
shown = json.load(open(shown_path))
charts = shown["charts"]
failures = 0

HOUR = "extract(hour FROM (t.data_horario AT TIME ZONE 'UTC') AT TIME ZONE 'America/Sao_Paulo')::int"
WHERE = (f"t.modalidade_pagamento = ANY('{{{','.join(mods)}}}') AND {HOUR} BETWEEN {h0} AND {h1}")
APPROVED = "coalesce(t.transacao_aprovada, false)"


def q(sql):
    out = subprocess.run(["psql", conn, "-XAtq", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def check(what, got, want, tol=1e-9):
    global failures
    ok = len(got) == len(want) and all(
        (g is None and w is None) or (g is not None and w is not None and abs(float(g) - float(w)) <= tol * max(1.0, abs(float(w))))
        for g, w in zip(got, want))
    print(("ok   " if ok else "DIFF ") + what + ("" if ok else f": page {got} != sql {want}"))
    failures += 0 if ok else 1


def series(chart, i):
    return [None if v in (None, "-") else (v["value"] if isinstance(v, dict) else v)
            for v in charts[chart]["series"][i]["data"]]


# 1. share
tot, ap = map(int, q(f"SELECT count(*), count(*) FILTER (WHERE {APPROVED}) FROM transacoes t WHERE {WHERE}")[0])
check("1 share approved %", series("g1", 0), [100 * ap / tot])
check("1 share denied %", series("g1", 1), [100 * (tot - ap) / tot])
check("KPI total", [shown["kpis"]["total"]["valor"]], [tot])

# 2b and 5: per hour of São Paulo
rows = {int(h): (int(a), int(n)) for h, a, n in q(
    f"SELECT {HOUR}, count(*) FILTER (WHERE {APPROVED}), count(*) FILTER (WHERE NOT {APPROVED})"
    f" FROM transacoes t WHERE {WHERE} GROUP BY 1")}
hours = range(h0, h1 + 1)
check("2b approved per hour", series("g2b", 0), [rows.get(h, (0, 0))[0] for h in hours])
check("2b denied per hour", series("g2b", 1), [rows.get(h, (0, 0))[1] for h in hours])
t7 = {int(h): float(v) for h, v in q(
    f"SELECT {HOUR}, avg(s.t7_score) FROM transacoes t JOIN transacoes_scores s USING (id_transacao)"
    f" WHERE {WHERE} GROUP BY 1")}
check("5 mean time score t7 per hour", series("g5", 0), [t7.get(h) for h in hours])
check("5 approval rate per hour", series("g5", 1),
      [100 * rows[h][0] / sum(rows[h]) if h in rows and sum(rows[h]) else None for h in hours])

# 2a: amount histogram, cut at the 99th percentile (to R$ 10), bins of the page's width
p99 = float(q(f"SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY valor_transacao) FROM transacoes t WHERE {WHERE}")[0][0])
labels = charts["g2a"]["x"]
first_hi = labels[0].split("–")[1].replace(".", "")
width = int(first_hi)
cut = int(labels[-1].split("–")[1].replace(".", ""))
nbins = len(labels)
corte = int(charts["g2a"]["xname"].split("=")[1].replace(".", "").strip())
binned = {int(b): (int(a), int(n)) for b, a, n in q(
    f"SELECT floor(valor_transacao / {width}), count(*) FILTER (WHERE {APPROVED}), count(*) FILTER (WHERE NOT {APPROVED})"
    f"  FROM transacoes t WHERE {WHERE} AND valor_transacao < {corte} GROUP BY 1")}
print(f"     2a p99 {p99:.2f}, cut {corte}, width {width}, {nbins} bins up to {cut}")
check("2a at most 50 bins, width a multiple of R$ 10", [nbins <= 50, width % 10 == 0], [True, True], 0)
# the cut: the upper R$ 10 edge of the row percentile_cont(0.99) reads last
# (position ceil(0.99 (N - 1))), so every row of the 99th percentile is in
v_hi = float(q(f"SELECT valor_transacao FROM transacoes t WHERE {WHERE} ORDER BY valor_transacao"
               f" OFFSET (SELECT ceil(0.99::float8 * (count(*) - 1)) FROM transacoes t WHERE {WHERE}) LIMIT 1")[0][0])
check("2a the cut is the 99th percentile's last row rounded up to R$ 10", [p99 <= corte, corte],
      [True, (v_hi // 10) * 10 + 10], 0)
check("2a bins cover the cut", [cut >= corte > cut - width], [True], 0)
check("2a approved per bin", series("g2a", 0), [binned.get(i, (0, 0))[0] for i in range(nbins)])
check("2a denied per bin", series("g2a", 1), [binned.get(i, (0, 0))[1] for i in range(nbins)])

# 3: t5 box plot by amount band and approval, percentile_cont over the rows
BAND = ("CASE WHEN valor_transacao <= 500 THEN 0 WHEN valor_transacao <= 1000 THEN 1 WHEN valor_transacao <= 2500 THEN 2"
        " WHEN valor_transacao <= 5000 THEN 3 WHEN valor_transacao <= 10000 THEN 4 ELSE 5 END")
box = {}
for g, a, lo, q1, med, q3, hi in q(
        f"WITH r AS (SELECT {BAND} g, {APPROVED} a, s.t5_score t5 FROM transacoes t JOIN transacoes_scores s"
        f"            USING (id_transacao) WHERE {WHERE}),"
        f" p AS (SELECT g, a, percentile_cont(0.25) WITHIN GROUP (ORDER BY t5) q1,"
        f"              percentile_cont(0.5) WITHIN GROUP (ORDER BY t5) med,"
        f"              percentile_cont(0.75) WITHIN GROUP (ORDER BY t5) q3 FROM r GROUP BY g, a)"
        f" SELECT p.g, p.a, (SELECT min(t5) FROM r WHERE r.g = p.g AND r.a = p.a AND t5 >= q1 - 1.5 * (q3 - q1)),"
        f"        q1, med, q3, (SELECT max(t5) FROM r WHERE r.g = p.g AND r.a = p.a AND t5 <= q3 + 1.5 * (q3 - q1))"
        f"   FROM p"):
    box[(int(g), a == "t")] = [float(lo), float(q1), float(med), float(q3), float(hi)]
for i, approved in ((0, True), (1, False)):
    got = [v["value"] if isinstance(v, dict) else (v or None) for v in charts["g3"]["series"][i]["data"]]
    for band in range(6):
        want = box.get((band, approved))
        g = got[band] if got[band] else None
        if want is None and g is None:
            continue
        check(f"3 box band {band} {'approved' if approved else 'denied'} [whisker, q1, median, q3, whisker]",
              g or [], want or [])

# 4: densities, 30 x 30
for chart, approved in (("g4a", "true"), ("g4b", "false")):
    want = sorted((int(x), int(y), int(n)) for x, y, n in q(
        f"SELECT least(floor(valor_transacao / 250), 29), least(floor(s.t5_score / 1.2), 29), count(*)"
        f"  FROM transacoes t JOIN transacoes_scores s USING (id_transacao)"
        f" WHERE {WHERE} AND {APPROVED} = {approved} GROUP BY 1, 2"))
    got = sorted(tuple(int(v) for v in d) for d in charts[chart]["series"][0]["data"]) if charts[chart]["series"] else []
    check(f"4 heatmap {chart} cells", [len(got), sum(c[2] for c in got)], [len(want), sum(c[2] for c in want)], 0)
    print(("ok   " if got == want else "DIFF ") + f"4 heatmap {chart} every cell")
    failures += 0 if got == want else 1

# 6: approval rate by state (bars sorted by rate; read through the y labels)
st = {uf: 100 * int(a) / int(n) for uf, a, n in q(
    f"SELECT id_regiao, count(*) FILTER (WHERE {APPROVED}), count(*) FROM transacoes t WHERE {WHERE} GROUP BY 1")}
ufs = charts["g6a"]["y"]
check("6 states shown", [len(ufs)], [len(st)], 0)
check("6 approval rate by state (bars)", series("g6a", 0), [st[u] for u in ufs])
mapa = {d["name"]: d["value"] for d in charts["g6b"]["series"][0]["data"]}
check("6 approval rate by state (map)", [mapa.get(u) for u in sorted(st)], [st[u] for u in sorted(st)])

# 7: denials by recorded reason
MOT = {"saldo_insuficiente": "Saldo insuficiente", "limite_excedido": "Limite excedido", "risco": "Risco (score)"}
mot = {MOT.get(m, m): int(n) for m, n in q(
    f"SELECT coalesce(motivo, ''), count(*) FROM transacoes t WHERE {WHERE} AND NOT {APPROVED} GROUP BY 1")}
got = dict(zip(charts["g7"]["y"], series("g7", 0)))
for name in ("Saldo insuficiente", "Limite excedido"):
    check(f"7 denials: {name}", [got.get(name, 0)], [mot.get(name, 0)], 0)
check("7 denials: all reasons", [sum(got.values())], [sum(mot.values())], 0)

# 8: denied by payment type
den = {m: int(n) for m, n in q(
    f"SELECT modalidade_pagamento, count(*) FROM transacoes t WHERE {WHERE} AND NOT {APPROVED} GROUP BY 1")}
check("8 denied by type", series("g8", 0), [den.get(m, 0) for m in charts["g8"]["x"]])

# 9: per hour of the result (no filters), as vw_performance_temporal counts
ph = [int(n) for (n,) in q("SELECT count(*) FROM transacoes WHERE tempo_saida_resultado IS NOT NULL"
                           " GROUP BY date_trunc('hour', tempo_saida_resultado) ORDER BY date_trunc('hour', tempo_saida_resultado) DESC LIMIT 168")][::-1]
check("9 transactions per hour", [d[1] for d in charts["g9"]["series"][0]["data"]], ph)

# 10: great-circle distance bands between the two capitals
dist = {int(b): (int(a), int(n)) for b, a, n in q(
    "WITH d AS (SELECT t.*, 2 * 6371 * asin(least(1, sqrt(sin(radians(r.latitude - p.latitude) / 2) ^ 2"
    "   + cos(radians(r.latitude)) * cos(radians(p.latitude)) * sin(radians(r.longitude - p.longitude) / 2) ^ 2))) km"
    "   FROM transacoes t JOIN regioes r ON r.id_regiao = t.id_regiao"
    "   JOIN usuarios u ON u.id_usuario = t.id_usuario_pagador JOIN regioes p ON p.id_regiao = u.id_regiao"
    f"  WHERE {WHERE})"
    f" SELECT CASE WHEN km < 50 THEN 0 WHEN km < 300 THEN 1 WHEN km < 1000 THEN 2 ELSE 3 END,"
    f"        count(*) FILTER (WHERE {APPROVED}), count(*) FILTER (WHERE NOT {APPROVED}) FROM d t GROUP BY 1")}
check("10 approved by distance band", series("g10", 0), [dist.get(b, (0, 0))[0] for b in range(4)])
check("10 denied by distance band", series("g10", 1), [dist.get(b, (0, 0))[1] for b in range(4)])

print(f"{failures} difference(s)")
sys.exit(1 if failures else 0)
