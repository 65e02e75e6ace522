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
# Before bankstream's measures at a rate, a reference (once per rate): the
# same producer into a new topic, read by Confluent's Python client
# (tests/bench/kafka_latency.py, from the venv `make deps` makes): Kafka's
# own time from a message's timestamp to a consumer holding it.
# Environment: LAT_RATES ("20000 50000"), LAT_SECONDS (20), LAT_RANKS (2),
# LAT_USERS (100000), LAT_BATCH_MS (500, the default), LAT_HOG (1),
# LAT_RUNS (1: each measure this many times, then a line with the best and
# median p99 of the runs), LAT_JOB (an absolute path: a job file for the
# run, e.g. to set [batch] min_ms or [sink] connections), LAT_WARMUP (s of
# stream before the first measure, 0 = none; 15 on the embedded broker, 120
# on real Kafka: see below); BS_TEST_BROKER=kafka for the real broker.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${LAT_RATES:-20000 50000}
STEADY=${LAT_SECONDS:-20}
RANKS=${LAT_RANKS:-2}
USERS=${LAT_USERS:-100000}
BATCH_MS=${LAT_BATCH_MS:-500}
HOG=${LAT_HOG:-1}
RUNS=${LAT_RUNS:-1}
JOB=(${LAT_JOB:+"$LAT_JOB"})
if [ "${BS_TEST_BROKER:-mock}" = kafka ]; then WARMUP=${LAT_WARMUP:-120}; else WARMUP=${LAT_WARMUP:-15}; fi
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
    mpirun_bs "$RANKS" run "${JOB[@]}" --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-ms "$BATCH_MS" >"$out.out" 2>"$out.err" &
    local run=$!
    bench_wait_consuming "$out.err" "$topic" || return 1
    "$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --count $(($1 * STEADY)) --rate "$1" --historic 0 --seed "$seed" --quiet
    sleep 2
    pkill -USR1 -f "^mpirun.*$topic" || true
    wait "$run" || { tail -3 "$out.err"; return 1; }
    echo "== $1 tx/s for $STEADY s, -np $RANKS, $2"
    grep -E "^batches|^not processed|^latency|^stages" "$out.out" | sed 's/^/   /'
    grep -o "pipeline: .*" "$out.err" | sed 's/^/   /' || true
    # the p99s of this run, for the summary of its runs
    p99_result+=("$(sed -n 's/^latency ms p50 [0-9]*, p99 \([0-9]*\)$/\1/p' "$out.out")")
    p99_commit+=("$(sed -n 's/^latency to commit ms p50 [0-9]*, p99 \([0-9]*\)$/\1/p' "$out.out")")
}

PY=${BS_BENCH_PYTHON:-$HOME/.cache/bankstream/pyclients/bin/python}
reference() { # rate
    local topic out
    seed=$((seed + 1))
    topic=$(new_topic "ref$1")
    out=$BS_TEST_TMP/reference.$1
    bench_topic "$topic"
    "$PY" tests/bench/kafka_latency.py "$BS_TEST_BROKERS" "$topic" $(($1 * STEADY)) >"$out" 2>&1 &
    local reader=$!
    bench_wait_line "$out" '^ready' 30 || true # (its line then says why)
    "$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --count $(($1 * STEADY)) --rate "$1" --historic 0 --seed "$seed" --quiet
    wait "$reader" || true
    echo "== $1 tx/s for $STEADY s, reference (Confluent's Python client reading what bankstream's" \
        "producer wrote, no bankstream run): Kafka latency $(tail -1 "$out")"
}

best_median() { # numbers... -> "best B, median M" (the lower median of an even count)
    local sorted
    mapfile -t sorted < <(printf '%s\n' "$@" | sort -n)
    echo "best ${sorted[0]}, median ${sorted[$(((${#sorted[@]} - 1) / 2))]}"
}

measure_runs() { # rate label: RUNS measures, then their summary
    p99_result=() p99_commit=()
    local i
    for ((i = 1; i <= RUNS; i++)); do
        measure "$1" "$2$([ "$RUNS" -gt 1 ] && echo ", run $i of $RUNS")" || return 1
    done
    [ "$RUNS" -gt 1 ] || return 0
    echo "== $1 tx/s, $2, $RUNS runs: p99 to the commit ms $(best_median "${p99_commit[@]}");" \
        "p99 to the result ms $(best_median "${p99_result[@]}") ($(uptime | sed 's/.*load/load/'))"
}

# A fresh broker is slow for its first seconds, and real Kafka's for its
# first minutes: its JVM compiles its hot paths as they run. Measured at
# 20,000 tx/s with the run consuming: the broker took 73-75% of a core
# through its first 2 minutes of stream and 32-42% after, and the p99 to
# the commit was 0.6-1.0 s then and 0.10-0.67 s after. A deployed broker
# has long been warm, so a first stream at the first rate, LAT_WARMUP s
# (15 on the embedded broker, 120 on real Kafka), is shown but is not a
# figure.
if [ "$WARMUP" -gt 0 ]; then
    steady=$STEADY
    STEADY=$WARMUP
    measure "${RATES%% *}" "warm-up of a fresh broker (not a figure)"
    STEADY=$steady
fi
for rate in $RATES; do
    if [ -x "$PY" ]; then
        reference "$rate"
    else
        echo "== reference skipped: no $PY (make deps installs it)"
    fi
    measure_runs "$rate" "quiet neighbours"
    if [ "$HOG" = 1 ]; then
        hog_start
        measure_runs "$rate" "with a CPU hog per core"
        hog_stop
    fi
done
echo "== $(uptime)"
