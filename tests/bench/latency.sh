#!/usr/bin/env bash
# tests/bench/latency.sh - end-to-end latency at a steady rate (issue 15,
# goal 1): Kafka append -> the batch's transaction committed in PostgreSQL
# (visible to readers), synchronous commit on.
#
# For each rate, `run -np RANKS` with the job's defaults (batch 10,000,
# max_ms BATCH_MS) takes a producer pacing RATE tx/s for SECONDS s; the
# run's summary gives the percentiles (to the result, and to the commit)
# and each stage's p50/p99. With LAT_HOG=1 each rate is measured a second
# time with a CPU hog (one busy process per core) running beside it.
# Environment: LAT_RATES ("20000 50000"), LAT_SECONDS (20), LAT_RANKS (2),
# LAT_USERS (100000), LAT_BATCH_MS (500, the default), LAT_HOG (1),
# LAT_WARMUP (15 s of stream before the first measure, 0 = none);
# BS_TEST_BROKER=kafka for the real broker.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${LAT_RATES:-20000 50000}
STEADY=${LAT_SECONDS:-20}
RANKS=${LAT_RANKS:-2}
USERS=${LAT_USERS:-100000}
BATCH_MS=${LAT_BATCH_MS:-500}
HOG=${LAT_HOG:-1}
WARMUP=${LAT_WARMUP:-15}
source tests/bench/lib.sh
bench_services

echo "== $(uptime); broker: ${BS_TEST_BROKER:-embedded}"
PG=$(new_database latency)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null

hog_pids=()
hog_start() {
    local i
    for ((i = 0; i < $(nproc); i++)); do
        (while :; do :; done) &
        hog_pids+=($!)
    done
}
hog_stop() { # (with no hog, nothing: a bare `wait` would wait for the broker too)
    [ ${#hog_pids[@]} -gt 0 ] || return 0
    kill "${hog_pids[@]}" 2>/dev/null || true
    wait "${hog_pids[@]}" 2>/dev/null || true
    hog_pids=()
}
trap 'hog_stop; bs_test_services_stop; rm -rf "$BS_TEST_TMP"' EXIT

seed=1
measure() { # rate label
    local topic out
    seed=$((seed + 1)) # new transaction ids: the database is shared between measures
    topic=$(new_topic "lat$1")
    out=$BS_TEST_TMP/run.$1.$2
    mpirun_bs "$RANKS" run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-ms "$BATCH_MS" >"$out.out" 2>"$out.err" &
    local run=$!
    sleep 3
    "$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --count $(($1 * STEADY)) --rate "$1" --historic 0 --seed "$seed" --quiet
    sleep 2
    pkill -USR1 -f "^mpirun.*$topic" || true
    wait "$run" || { tail -3 "$out.err"; return 1; }
    echo "== $1 tx/s for $STEADY s, -np $RANKS, $2"
    grep -E "^batches|^not processed|^latency|^stages" "$out.out" | sed 's/^/   /'
}

# A fresh broker is slow for its first seconds (real Kafka's JVM compiles
# its hot paths: 0.3-2 s latencies for ~10 s), which a 20 s measure would
# count; a deployed broker has long been warm. So a first stream at the
# first rate, LAT_WARMUP s (15), is shown but is not a figure.
if [ "$WARMUP" -gt 0 ]; then
    steady=$STEADY
    STEADY=$WARMUP
    measure "${RATES%% *}" "warm-up of a fresh broker (not a figure)"
    STEADY=$steady
fi
for rate in $RATES; do
    measure "$rate" "quiet neighbours"
    if [ "$HOG" = 1 ]; then
        hog_start
        measure "$rate" "with a CPU hog per core"
        hog_stop
    fi
done
echo "== $(uptime)"
