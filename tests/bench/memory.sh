#!/usr/bin/env bash
# tests/bench/memory.sh - memory bounded by state, not by history (issue 15,
# goals 4 and 5): one `run` over COUNT transactions and USERS users, the
# resident memory of every rank sampled every second, and the rate per quarter
# of the run.
#
# Prints, per rank, the resident memory at 10, 25, 50, 75 and 100% of the
# transactions committed, the growth from 25% to 100% in MiB per million
# transactions (flat: near 0), and the committed rate of each quarter with
# its ratio to the first (flat as history grows: near 100%).
# Environment: MEM_COUNT (20000000), MEM_USERS (1000000), MEM_RANKS (2),
# MEM_BATCH (10000), MEM_JOB (an absolute path: a job file for the run, e.g.
# to set [sink] connections; none by default); BS_TEST_BROKER=kafka for the
# real broker (the embedded one keeps every message in memory: about 6 GB at
# 20 million).
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${MEM_COUNT:-20000000}
USERS=${MEM_USERS:-1000000}
RANKS=${MEM_RANKS:-2}
BATCH=${MEM_BATCH:-10000}
JOB=(${MEM_JOB:+"$MEM_JOB"})
source tests/bench/lib.sh
bench_services

echo "== $(uptime)"
PG=$(new_database memory)
TOPIC=$(new_topic memory)
t0=$SECONDS
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --count "$COUNT" --rate 0 --seed 7 --start-time 1750000000000 --historic 0 --quiet
echo "   $USERS users and $COUNT transactions ready in $((SECONDS - t0)) s"

# The pids of each rank of the run (by MPI rank, from their environment).
rank_pid() { # rank
    local p
    for p in $(pgrep -f -- "dbname=$(db_name "$PG") " || true); do
        grep -qxz "OMPI_COMM_WORLD_RANK=$1" "/proc/$p/environ" 2>/dev/null && { echo "$p"; return; }
    done
}
samples=$BS_TEST_TMP/rss.tsv
: >"$samples"
mpirun_bs "$RANKS" run "${JOB[@]}" --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --batch-size "$BATCH" --until-idle >"$BS_TEST_TMP/run.out" 2>"$BS_TEST_TMP/run.err" &
run=$!
while kill -0 "$run" 2>/dev/null; do
    line="$(date +%s.%N)"
    for ((r = 0; r < RANKS; r++)); do
        p=$(rank_pid "$r" || true)
        kib=$( [ -n "$p" ] && awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        line+=$'\t'"${kib:-0}"
    done
    echo "$line" >>"$samples"
    sleep 1
done
wait "$run" || { tail -5 "$BS_TEST_TMP/run.err"; exit 1; }
grep -E "^batches|^latency ms|^rank|^duplicate filter" "$BS_TEST_TMP/run.out" | sed 's/^/   /'
psql_q "$PG" "SELECT extract(epoch FROM committed_at), sum(n_mensagens) OVER (ORDER BY batch_id)
              FROM batch_log ORDER BY batch_id" | tr '|' '\t' >"$BS_TEST_TMP/batches.tsv"

python3 - "$samples" "$BS_TEST_TMP/batches.tsv" "$RANKS" <<'PY'
import bisect, sys
samples = [list(map(float, l.split('\t'))) for l in open(sys.argv[1]) if l.strip()]
batches = [tuple(map(float, l.split('\t'))) for l in open(sys.argv[2]) if l.strip()]
ranks = int(sys.argv[3])
times = [b[0] for b in batches]
total = batches[-1][1]
def committed_at(t):  # transactions committed by time t
    i = bisect.bisect_right(times, t)
    return batches[i - 1][1] if i else 0
def time_of(frac):  # when frac of the transactions were committed
    for t, n in batches:
        if n >= frac * total:
            return t
    return times[-1]
def rss_at(t, r):  # the last sample at or before t with the rank alive (MiB)
    best = 0
    for s in samples:
        if s[0] <= t and s[1 + r] > 0:
            best = s[1 + r]
    return best / 1024
fracs = [0.10, 0.25, 0.50, 0.75, 1.00]
print(f"   resident MiB at {', '.join(f'{int(f*100)}%' for f in fracs)} of {int(total):,} transactions:")
for r in range(ranks):
    vals = [rss_at(time_of(f), r) for f in fracs]
    growth = (vals[-1] - vals[1]) / (0.75 * total / 1e6)
    print(f"   rank {r}: " + ", ".join(f"{v:.0f}" for v in vals) +
          f"; from 25% to 100%: {vals[-1] - vals[1]:+.0f} MiB, {growth:+.2f} MiB per million transactions")
q = [time_of(f) for f in (0, 0.25, 0.5, 0.75, 1.0)]
rates = [0.25 * total / (q[i + 1] - q[i]) if q[i + 1] > q[i] else 0 for i in range(4)]
print("   committed rate per quarter: " + ", ".join(f"{x:,.0f}" for x in rates) +
      " tx/s; last/first quarter = " + (f"{rates[3] / rates[0] * 100:.0f}%" if rates[0] else "n/a"))
PY
echo "== $(uptime)"
