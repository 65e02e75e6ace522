#!/usr/bin/env bash
# 97-dashboard.sh - `bankstream dashboard` in a real browser and by curl.
#
# A database filled by a real run (produce + mpirun -np 2 run --until-idle,
# one malformed message for the dead letters), then a stream left running
# with its metrics endpoint, and the dashboard on top, connected as a
# read-only role; it counts the stream's batches into its aggregates
# (dashboard_atualizar), which must then equal a recount of the rows. Debian's chromium, driven by playwright-core from web/
# (dashboard_page.mjs), loads the page: every panel must render with data
# and no console error; the numbers the charts hold must equal SQL computed
# here from the tables (dashboard_check.py), without filters and with one;
# the live panel must move while more transactions are produced. Then curl:
# bad parameters (400 with a JSON error), unknown endpoints, other methods,
# the default bind to 127.0.0.1, a database without the aggregates.
# Screenshots and what the page showed stay in $BS_TEST_ARTIFACTS/97-dashboard
# (default /tmp/bankstream-artifacts/97-dashboard): the test prints the path.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

OUT=${BS_TEST_ARTIFACTS:-/tmp/bankstream-artifacts}/97-dashboard
rm -rf "$OUT" && mkdir -p "$OUT"
echo "artifacts (screenshots, what the page showed): $OUT"

command -v node >/dev/null || fail "node is missing: run 'make deps'"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: run 'make deps'"
[ -d "$ROOT/web/node_modules/playwright-core" ] || fail "web/node_modules is missing: run 'make deps'"

RO="t_dash_ro_$$"
PIDS=()   # processes this test started, stopped by cleanup
stop_pid() { # pid [signal]: signal it (TERM), wait up to 15 s, then KILL it and its children
    local p=$1 c
    kill -"${2:-TERM}" "$p" 2>/dev/null || return 0
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        for c in $(ps -o pid= --ppid "$p"); do kill -KILL "$c" 2>/dev/null || true; done
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    drop_databases
    psql_q "$BS_TEST_PG" "DROP ROLE IF EXISTS $RO" >/dev/null 2>&1 || true
    return 0
}
trap cleanup EXIT

PG=$(new_database dash --users 2000)
TOPIC=$(new_topic dash)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 6000 \
    --rate 0 --seed 11 --historic 3000 --quiet
printf '{"id_transacao": "not a transaction"}\n' |
    kcat -P -b "$BS_TEST_BROKERS" -t "$TOPIC" -p 0 2>/dev/null || fail "kcat could not produce"
mpirun_bs 2 run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --batch-size 1000 \
    --until-idle --quiet
assert_eq "$(psql_q "$PG" "SELECT count(*) FROM dead_letters")" 1 "one dead letter"

# The processor's transactions did no aggregate work: its batches wait for
# a dashboard to count them (the watermark is still 0).
assert_eq "$(psql_q "$PG" "SELECT coalesce(sum(n), 0) FROM dashboard_resumo")" 0 \
    "the stream's batches are not counted by the stream"
assert_eq "$(psql_q "$PG" "SELECT ate_batch FROM dashboard_estado")" 0 "watermark before any dashboard"

# The read-only role `init --reader-role` creates (its password from the
# environment, as init takes it).
RO_PASSWORD="painel-$$"
BANKSTREAM_READER_PASSWORD=$RO_PASSWORD "$BANKSTREAM" init --pg "$PG" --users 2000 \
    --reader-role "$RO" >/dev/null
assert_eq "$(psql_q "$PG" "SELECT count(*) FROM pg_roles WHERE rolname = '$RO'")" 1 "reader role"
PG_RO="${PG/user=postgres/user=$RO} password=$RO_PASSWORD"
assert_fails "permission denied" psql_q "$PG_RO" "INSERT INTO bankstream_meta VALUES ('x', 'y')"

# The stream keeps running (for the live panel), with its metrics endpoint.
MPORT=$(free_port)
printf '[metrics]\nport = %s\n' "$MPORT" >"$BS_TEST_TMP/dash-job.ini"
# mpirun itself in the background (not through a shell function), so that
# its pid is the one cleanup signals; SIGUSR1 is its clean stop.
"${BS_MPIRUN[@]}" -np 2 -wdir "$BS_TEST_TMP" "$BANKSTREAM" run "$BS_TEST_TMP/dash-job.ini" \
    --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --batch-ms 200 --quiet \
    >"$OUT/run.log" 2>&1 &
STREAM=$!
PIDS+=("$STREAM")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null && break; sleep 0.2; done

"$BANKSTREAM" dashboard --pg "$PG_RO" --port 0 --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --metrics "http://127.0.0.1:$MPORT/metrics" --timeout-ms 30000 >"$OUT/dashboard.out" 2>"$OUT/dashboard.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$OUT/dashboard.out" ] && break; sleep 0.1; done
URL=$(head -1 "$OUT/dashboard.out")
[[ "$URL" == http://127.0.0.1:*/ ]] || fail "dashboard did not print its address: $(cat "$OUT/dashboard.err")"
echo "dashboard at $URL"
estado=$(curl -sf "${URL}api/estado")
assert_contains "$estado" "\"usuario\" : \"$RO\"" "the dashboard connects as the read-only role"
caught_up() { # the dashboard's aggregates reach the newest committed batch within 15 s
    local e
    for _ in $(seq 150); do
        e=$(curl -sf "${URL}api/estado") || true
        [[ "$e" == *'"lotes_pendentes" : 0,'* ]] && return 0
        sleep 0.1
    done
    fail "the aggregates did not catch up: $e"
}
# It counts them (as the read-only role: dashboard_atualizar() runs as the
# aggregates' owner), and they agree with the rows.
caught_up
assert_eq "$(psql_q "$PG" "SELECT sum(n) FROM dashboard_resumo")" \
    "$(psql_q "$PG" "SELECT count(*) FROM transacoes")" "dashboard_resumo counts every row"
assert_eq "$(psql_q "$PG" "SELECT ate_batch FROM dashboard_estado")" \
    "$(psql_q "$PG" "SELECT max(batch_id) FROM batch_log")" "watermark at the newest batch"
verified() { # dashboard_verificar() in one snapshot: 0 aggregate rows differ from a recount
    psql "$PG" -XAtq -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
        -c "SELECT dashboard_verificar()" -c "COMMIT"
}
assert_eq "$(verified)" 0 "the aggregates equal a recount"

# 1. The page, in chromium.
(cd "$HERE" && exec node dashboard_page.mjs "$URL" "$OUT") >"$OUT/driver.log" 2>&1 &
DRIVER=$!
PIDS+=("$DRIVER")
for _ in $(seq 600); do
    [ -f "$OUT/ready" ] && break
    kill -0 "$DRIVER" 2>/dev/null || break
    sleep 0.2
done
[ -f "$OUT/ready" ] || { cat "$OUT/driver.log" "$OUT/errors.json" 2>/dev/null; fail "the page did not load"; }

# Every panel rendered with data, and the assets came from the binary.
python3 - "$OUT/shown-all.json" <<'PY' || fail "a panel is empty"
import json, sys
s = json.load(open(sys.argv[1]))
bad = [k for k, v in s["charts"].items() if not v or not v["canvas"] or not v["series"]
       or not any(x.get("data") for x in v["series"])]
bad += [k for k in ("vivo", "topico", "dead") if not s[k] or len(s[k][0]) < 3]
if s["assets_missing"]: bad.append("assets")
if s["kpis"]["msgs"]["texto"] != "6.001": bad.append("topic messages " + s["kpis"]["msgs"]["texto"])
if not s["dead"] or "missing field" not in s["dead"][0][5]: bad.append("dead letter error")
print("panels without data:", bad or "none")
sys.exit(1 if bad else 0)
PY
# The numbers: what the charts hold against SQL on the tables (no filter,
# then PIX and TED from 08h to 17h, the filter the driver applied).
python3 "$HERE/dashboard_check.py" "$PG" "$OUT/shown-all.json" || fail "page differs from SQL (no filter)"
python3 "$HERE/dashboard_check.py" "$PG" "$OUT/shown-filtered.json" PIX,TED 8 17 ||
    fail "page differs from SQL (filter PIX,TED 08-17h)"
total_all=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['kpis']['total']['valor'])" "$OUT/shown-all.json")
total_f=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['kpis']['total']['valor'])" "$OUT/shown-filtered.json")
[ "$total_f" -lt "$total_all" ] || fail "the filter did not change the total ($total_all -> $total_f)"

# 2. The live panel moves while a stream runs.
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 1500 \
    --rate 300 --seed 12 --historic 0 --quiet
assert_eq "$(verified)" 0 "the aggregates equal a recount at their watermark, the stream running"
wait "$DRIVER" || { cat "$OUT/driver.log"; fail "the browser steps failed"; }
python3 - "$OUT/live.json" <<'PY' || fail "the live panel did not move"
import json, sys
l = json.load(open(sys.argv[1]))
b, a = int(l["before"]["vivo"][0][0]), int(l["after"]["vivo"][0][0])
print(f"live panel: top batch {b} -> {a}, deltas {l['after']['deltas']}")
sys.exit(0 if a > b and any(d for d in l["after"]["deltas"]) else 1)
PY
stop_pid "$STREAM" USR1
caught_up
assert_eq "$(psql_q "$PG" "SELECT sum(n) FROM dashboard_resumo")" \
    "$(psql_q "$PG" "SELECT count(*) FROM transacoes")" "after the live batches, every row counted"
assert_eq "$(verified)" 0 "the aggregates equal a recount after the live batches"
errors=$(cat "$OUT/errors.json")
[ "$errors" = "[]" ] || fail "browser errors: $errors"

# 3. Endpoints by curl: bad parameters are 400 with a JSON error.
bad_request() { # path expected-parameter
    local body code
    body=$(curl -s -o - -w '\n%{http_code}' "$URL$1")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    assert_eq "$code" 400 "status of $1"
    assert_contains "$body" "\"erro\":" "JSON error of $1"
    assert_contains "$body" "\"parametro\":\"$2\"" "parameter named by $1"
}
bad_request "api/ao_vivo?n=4" n
bad_request "api/ao_vivo?n=101" n
bad_request "api/ao_vivo?n=1e1" n
bad_request "api/ao_vivo?n=10&n=11" n
bad_request "api/resumo?mod=PIX,XX" mod
bad_request "api/resumo?mod=PIX,PIX" mod
bad_request "api/resumo?mod=" mod
bad_request "api/resumo?mod=PIX%27%3B%20DROP%20TABLE%20transacoes%3B--" mod
bad_request "api/valores?h0=-1" h0
bad_request "api/boxplot?h1=24" h1
bad_request "api/calor?h0=10&h1=9" h0
bad_request "api/dead_letters?limite=0" limite
bad_request "api/resumo?x=1" x
bad_request "api/estado?n=10" n
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL}api/nada")
assert_eq "$code" 404 "unknown endpoint"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${URL}api/estado")
assert_eq "$code" 405 "POST"
hdrs=$(curl -sI "${URL}")
assert_contains "$hdrs" "Content-Security-Policy: default-src 'self'" "CSP on the page"
assert_eq "$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE false")" 0 "transacoes still there"
for e in ao_vivo resumo valores boxplot calor temporal dead_letters pipeline topico; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${URL}api/$e")
    assert_eq "$code" 200 "GET /api/$e"
done
# The amount histogram has every bin up to the cut, empty ones too (the
# chart's categories are positional): a sparse filter leaves most empty.
for f in "mod=Boleto&h0=3&h1=3" "mod=DOC&h0=0&h1=5" ""; do
    curl -sf "${URL}api/valores?$f" | python3 -c '
import json, math, sys
v = json.load(sys.stdin)
bins, w, corte = v["bins"], v["largura"], v["corte"]
want = [(i * w, (i + 1) * w) for i in range(math.ceil(corte / w))] if corte else []
got = [(b["de"], b["ate"]) for b in bins]
n = sum(b["aprovadas"] + b["negadas"] for b in bins)
print(f"     valores?{sys.argv[1]}: {len(got)} bins of R$ {w} up to {corte}, {n} rows,",
      sum(1 for b in bins if b["aprovadas"] + b["negadas"] == 0), "empty")
sys.exit(0 if got == want else 1)' "$f" || fail "api/valores?$f: the bins are not every bin from 0 to the cut"
done

# 4. Binds to 127.0.0.1 unless told otherwise; a database without the
# aggregates answers 503 naming the fix.
PG_OLD=$(new_database dash_old)
"$BANKSTREAM" dashboard --pg "$PG_OLD" --port 0 --brokers none >"$OUT/d2.out" 2>"$OUT/d2.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$OUT/d2.out" ] && break; sleep 0.1; done
URL2=$(head -1 "$OUT/d2.out")
port2=${URL2##*:}
port2=${port2%/}
listening=$(ss -Htln "sport = :$port2")
assert_contains "$listening" "127.0.0.1:$port2" "default bind address"
[[ "$listening" != *"0.0.0.0:$port2"* && "$listening" != *"*:$port2"* ]] || fail "bound beyond 127.0.0.1: $listening"
assert_contains "$(cat "$OUT/d2.err")" "no dashboard aggregates" "warning for a database without them"
body=$(curl -s -w ' %{http_code}' "${URL2}api/resumo")
assert_contains "$body" "bankstream init" "503 names the fix"
assert_contains "$body" " 503" "503 without the aggregates"
assert_fails "--listen" "$BANKSTREAM" dashboard --pg "$PG" --listen nowhere --brokers none
assert_fails "is in use" "$BANKSTREAM" dashboard --pg "$PG" --port "$port2" --brokers none
assert_fails "--metrics" "$BANKSTREAM" dashboard --pg "$PG" --port 0 --brokers none --metrics https://x/
echo "screenshots: $OUT/dashboard-full.png $OUT/dashboard-laptop.png $OUT/filtered.png $OUT/live.png $OUT/pipeline.png $OUT/topico.png"
