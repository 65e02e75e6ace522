#!/usr/bin/env bash
# tests/bench/sink.sh - the PostgreSQL sink through 1 and more connections
# ([sink] connections = N: each batch's rows COPYed through N sessions at
# once, two-phase commit; issue 15 item 2).
#
# One topic of COUNT transactions in the embedded broker; then ROUNDS rounds,
# each: for every N of CONNECTIONS, `mpirun -np RANKS bankstream run
# --until-idle` into a freshly initialized database, reading
#   sink     the run's own "sink S s in commits, R msg/s while committing"
#            (the sink thread's time in commits only: COPY, prepare, decide,
#            commit prepared; with [sink] pipeline = off by default, so
#            that with one connection too every row is written inside that
#            time: with BENCH_PIPELINE=on, rows written ahead are not, so
#            compare end to end then)
#   e2e      rows / wall time of the run (start-up included)
# and the baseline of the same round: `psql \copy` of the same rows into the
# same tables in a fresh database, one stream. Printed: every measurement
# with the load average, then per N the best and the median of each, and the
# median's ratio to the median \copy rate.
# Environment: BENCH_COUNT (300000), BENCH_USERS (100000), BENCH_RANKS (2),
# BENCH_BATCH (10000), BENCH_CONNECTIONS ("1 2 4"), BENCH_ROUNDS (3),
# BENCH_PIPELINE (off).
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_COUNT:-300000}
USERS=${BENCH_USERS:-100000}
RANKS=${BENCH_RANKS:-2}
BATCH=${BENCH_BATCH:-10000}
CONNECTIONS=${BENCH_CONNECTIONS:-1 2 4}
ROUNDS=${BENCH_ROUNDS:-3}
PIPELINE=${BENCH_PIPELINE:-off}
source tests/bench/lib.sh
bench_services
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
results="$BS_TEST_TMP/results" # kind n round rate load1
: >"$results"

PG_GEN=$(new_database sink_gen --users "$USERS")
TOPIC=$(new_topic sinkbench)
"$BANKSTREAM" produce --pg "$PG_GEN" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0 --quiet
echo "== $COUNT transactions, $USERS users, -np $RANKS, batches of $BATCH," \
    "connections $CONNECTIONS, pipeline $PIPELINE, $ROUNDS rounds"

for ((round = 1; round <= ROUNDS; round++)); do
    for n in $CONNECTIONS; do
        db=$(new_database "sink_r${round}_c$n" --users "$USERS")
        printf '[sink]\nconnections = %s\npipeline = %s\n' "$n" "$PIPELINE" >"$BS_TEST_TMP/c$n.ini"
        t0=$(now)
        out=$(mpirun_bs "$RANKS" run "$BS_TEST_TMP/c$n.ini" --pg "$db" \
            --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --batch-size "$BATCH" --batch-ms 0 \
            --snapshot-dir none --until-idle 2>&1)
        t1=$(now)
        rows=$(psql_q "$db" "SELECT count(*) FROM transacoes")
        sink=$(sed -n 's/^sink .* s in commits, \([0-9]*\) msg\/s while committing$/\1/p' <<<"$out")
        [ -n "$sink" ] || { echo "$out" | tail -5; echo "no sink line" >&2; exit 1; }
        e2e=$(python3 -c "import sys; print(round(int(sys.argv[1]) / float(sys.argv[2])))" \
            "$rows" "$(echo "$t1 - $t0" | bc)")
        l=$(load)
        echo "round $round, connections $n: sink $sink msg/s, e2e $e2e tx/s ($rows rows), load $l"
        echo "sink $n $round $sink ${l%% *}" >>"$results"
        echo "e2e $n $round $e2e ${l%% *}" >>"$results"
        if [ "$round" -eq 1 ] && [ ! -f "$BS_TEST_TMP/transacoes.csv" ]; then
            psql_q "$db" "\\copy transacoes TO '$BS_TEST_TMP/transacoes.csv' WITH (FORMAT csv)"
            psql_q "$db" "\\copy transacoes_scores TO '$BS_TEST_TMP/scores.csv' WITH (FORMAT csv)"
        fi
        psql_q "$BS_TEST_PG" "DROP DATABASE $(db_name "$db") WITH (FORCE)" >/dev/null
    done
    db=$(new_database "sink_r${round}_copy" --users "$USERS")
    t0=$(now)
    psql "$db" -Xq -v ON_ERROR_STOP=1 <<SQL
\\copy transacoes FROM '$BS_TEST_TMP/transacoes.csv' WITH (FORMAT csv)
\\copy transacoes_scores FROM '$BS_TEST_TMP/scores.csv' WITH (FORMAT csv)
SQL
    t1=$(now)
    rows=$(psql_q "$db" "SELECT count(*) FROM transacoes")
    copy=$(python3 -c "import sys; print(round(int(sys.argv[1]) / float(sys.argv[2])))" \
        "$rows" "$(echo "$t1 - $t0" | bc)")
    l=$(load)
    echo "round $round, psql \\copy: $copy rows/s, load $l"
    echo "copy 1 $round $copy ${l%% *}" >>"$results"
    psql_q "$BS_TEST_PG" "DROP DATABASE $(db_name "$db") WITH (FORCE)" >/dev/null
done

echo "== summary (best / median over $ROUNDS rounds; ratio: median to the median psql \\copy)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def sel(kind, n=None):
    return [int(r[3]) for r in rows if r[0] == kind and (n is None or r[1] == n)]
copy = statistics.median(sel("copy"))
loads = [float(r[4]) for r in rows]
print(f"psql \\copy: best {max(sel('copy')):,} median {copy:,.0f} rows/s")
for n in dict.fromkeys(r[1] for r in rows if r[0] == "sink"):
    s, e = sel("sink", n), sel("e2e", n)
    print(f"connections {n}: sink best {max(s):,} median {statistics.median(s):,.0f} msg/s"
          f" ({statistics.median(s) / copy * 100:.0f}% of \\copy); end to end best {max(e):,}"
          f" median {statistics.median(e):,.0f} tx/s ({statistics.median(e) / copy * 100:.0f}%)")
# Paired within a round (same load, same minute): each N against the first N.
ns = list(dict.fromkeys(r[1] for r in rows if r[0] == "sink"))
for n in ns[1:]:
    ratios = []
    for rnd in sorted({r[2] for r in rows}):
        a = [int(r[3]) for r in rows if r[0] == "sink" and r[1] == ns[0] and r[2] == rnd]
        b = [int(r[3]) for r in rows if r[0] == "sink" and r[1] == n and r[2] == rnd]
        if a and b:
            ratios.append(b[0] / a[0])
    print(f"connections {n} / connections {ns[0]}, sink rate, per round: "
          + ", ".join(f"{x:.2f}" for x in ratios) + f" (median {statistics.median(ratios):.2f})")
print(f"load average (1 min) over the measurements: {min(loads)} to {max(loads)}")
PY
