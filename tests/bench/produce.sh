#!/usr/bin/env bash
# tests/bench/produce.sh - the producer's throughput against kcat's.
#
# On its own embedded PostgreSQL cluster and embedded broker (tests/lib.sh),
# with USERS users from `bankstream init`:
#  (a) `bankstream produce --count COUNT --rate 0` into a fresh topic, timed
#      from process start to exit (every message acknowledged);
#  (b) the same COUNT messages written once with --output FILE (key<TAB>value
#      lines), then `kcat -P -K '\t' -l FILE` into another fresh topic, timed
#      the same way: the reference, librdkafka driven by its own CLI.
# (a) and (b) alternate REPEAT times (the order swapped each round) so that
# both see the same machine; the best and the median of each are printed,
# with user+sys CPU seconds of the client process (the broker runs apart).
# Goal: (a) >= 500,000 msgs/s and >= 80% of (b).
# Environment: BENCH_COUNT (1000000), BENCH_USERS (10000), BENCH_REPEAT (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_COUNT:-1000000}
USERS=${BENCH_USERS:-10000}
REPEAT=${BENCH_REPEAT:-3}
source tests/bench/lib.sh
bench_services

PG=$(new_database bench_produce)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
FLAGS=(--pg "$PG" --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0)
FILE=$BS_TEST_TMP/messages.tsv
"$BANKSTREAM" produce "${FLAGS[@]}" --quiet --output "$FILE"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT messages" \
    "($(($(stat -c %s "$FILE") / COUNT)) bytes each as key<TAB>value), $USERS users," \
    "broker $BS_TEST_BROKERS"

# timed label cmd... -> appends "wall cpu" to $BS_TEST_TMP/label
timed() {
    local label=$1
    shift
    /usr/bin/time -o "$BS_TEST_TMP/time.out" -f "%e %U %S" "$@" >/dev/null 2>"$BS_TEST_TMP/err" ||
        { cat "$BS_TEST_TMP/err" "$BS_TEST_TMP/time.out" >&2; return 1; }
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$BS_TEST_TMP/time.out" >>"$BS_TEST_TMP/$label"
}
run_a() {
    timed a "$BANKSTREAM" produce "${FLAGS[@]}" --brokers "$BS_TEST_BROKERS" \
        --topic "$(new_topic bench_a)"
}
run_b() {
    timed b kcat -P -b "$BS_TEST_BROKERS" -t "$(new_topic bench_b)" -K $'\t' -l "$FILE"
}
for round in $(seq "$REPEAT"); do
    if [ $((round % 2)) -eq 1 ]; then run_a; run_b; else run_b; run_a; fi
done

python3 - "$BS_TEST_TMP/a" "$BS_TEST_TMP/b" "$COUNT" <<'EOF'
import statistics, sys
count = int(sys.argv[3])
def load(path):
    rows = [tuple(map(float, l.split())) for l in open(path)]
    walls = sorted(r[0] for r in rows)
    cpu = statistics.median(r[1] for r in rows)
    return count / walls[0], count / statistics.median(walls), cpu, walls
a_best, a_med, a_cpu, a_walls = load(sys.argv[1])
b_best, b_med, b_cpu, b_walls = load(sys.argv[2])
print(f"(a) bankstream produce: best {a_best:10,.0f} msgs/s, median {a_med:10,.0f} msgs/s,"
      f" client CPU {a_cpu:.2f} s  (walls {', '.join(f'{w:.2f}' for w in a_walls)} s)")
print(f"(b) kcat -P -l file:    best {b_best:10,.0f} msgs/s, median {b_med:10,.0f} msgs/s,"
      f" client CPU {b_cpu:.2f} s  (walls {', '.join(f'{w:.2f}' for w in b_walls)} s)")
print(f"ratio (a)/(b): best {a_best / b_best:.0%}, median {a_med / b_med:.0%}"
      f"  (goal: >= 500,000 msgs/s and >= 80%)")
EOF
