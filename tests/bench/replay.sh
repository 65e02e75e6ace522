#!/usr/bin/env bash
# tests/bench/replay.sh - replay throughput against the archive's I/O ceiling
# (issue: HDF5 snapshots and replay). In one run: produce --hdf5 N transactions
# over U users; then, for -np 1 and -np 2, a plain H5Dread of the columns the
# replay reads (tests/bench/archive_read.c with ARCHIVE_READ_COLUMNS, the
# ceiling, read 131072 rows a call as the replay does, which is also its
# fastest setting; kafka_ts_ms orders a payer's transactions with equal
# data_horario, batch_id cuts the windows: the replay reads all nine) and
# `bankstream replay` of the same archive to an HDF5 results file, timed from
# creating the results file to its publication (fsynced), and as the whole
# mpirun. Also, for the I/O a replay cannot avoid, a plain H5Dwrite of as many
# rows of the results' columns, fsynced (archive_read.c write), and the rate
# of that read followed by that write.
# Goal: replay >= 50% of the read ceiling. Every figure is the best of
# BENCH_RUNS. The archive is synced to disk before the first measurement.
# Also, per -np, the CPU time (user + system, all ranks) per million rows that
# the replay prints, best and median, and its ratio to -np 1's best: the
# parallel overhead, which shows whatever the core count (goal: at most 1.3x;
# beyond the machine's cores the ranks are oversubscribed), and the replay's
# rate over -np 1's (goal: -np 2 not slower). And, per -np N > 1, the same
# machine with nothing to route: N single-rank replays at once, each pinned
# to a core, their rates summed (the most N ranks could reach were the
# parallel work free) and their CPU per million rows, with the replay's
# ratios to both.
# Environment: BENCH_COUNT (10000000), BENCH_USERS (100000), BENCH_BATCH
# (10000), BENCH_RUNS (3), BENCH_NPS (the rank counts, "1 2 4").
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_COUNT:-10000000}
USERS=${BENCH_USERS:-100000}
BATCH=${BENCH_BATCH:-10000}
RUNS=${BENCH_RUNS:-3}
NPS=${BENCH_NPS:-1 2 4}
export ARCHIVE_READ_COLUMNS=/transactions/id,/transactions/payer,/transactions/receiver,\
/transactions/time_us,/transactions/amount_cents,/transactions/region,/transactions/modality,\
/transactions/kafka_ts_ms,/transactions/batch_id
source tests/bench/lib.sh
bench_services

DRIVER=$BS_TEST_TMP/archive_read
bench_build "$DRIVER" tests/bench/archive_read.c

PG=$(new_database bench_replay)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
FILE=$BS_TEST_TMP/archive.h5
"$BANKSTREAM" produce --pg "$PG" --quiet --hdf5 "$FILE" --count "$COUNT" --rate 0 --seed 42 \
    --start-time 1750000000000 --historic 0
sync # the archive's writeback would slow the first writes below
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT transactions," \
    "$USERS users, archive $(($(stat -c %s "$FILE") / 1000000)) MB"
best() { sort -g | tail -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cpu1= rate1=
for np in $NPS; do
    ceiling=$(for _ in $(seq "$RUNS"); do
        mpirun --oversubscribe --bind-to none -np "$np" "$DRIVER" plain "$FILE" 131072 |
            sed -n 's/.*rows\/s \([0-9.]*\).*/\1/p'
    done | best)
    writes=$(for _ in $(seq "$RUNS"); do
        mpirun --oversubscribe --bind-to none -np "$np" "$DRIVER" write "$BS_TEST_TMP/plain.h5" \
            "$COUNT" | sed -n 's/.*rows\/s \([0-9.]*\).*/\1/p'
        rm -f "$BS_TEST_TMP/plain.h5"
    done | best)
    inner=0 wall=0 cpus=()
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        all=$(mpirun_bs "$np" replay "$FILE" --pg "$PG" --out "$BS_TEST_TMP/results$np.h5" \
            --batch-size "$BATCH" 2>/dev/null)
        t1=$(date +%s.%N)
        line=$(echo "$all" | grep "^replayed\|^rank 0")
        cpus+=("$(echo "$all" | sed -n 's/^cpu: .* \([0-9.]*\) s per million rows$/\1/p')")
        echo "  -np $np: $(echo $line)"
        inner=$(printf '%s\n' "$inner" "$(echo "$line" | head -1 | sed -n 's/.* \([0-9]*\) rows\/s$/\1/p')" | best)
        wall=$(printf '%s\n' "$wall" "$(echo "$COUNT / ($t1 - $t0)" | bc -l)" | best)
        rm -f "$BS_TEST_TMP/results$np.h5"
    done
    python3 -c "import sys; c, o, i, w = (float(x) for x in sys.argv[1:5]); io = 1 / (1 / c + 1 / o); \
print(f'-np $np: plain H5Dread {c:,.0f} rows/s; replay {i:,.0f} rows/s from creating the results file to its \
publication ({i / c * 100:.0f}% of the ceiling); {w:,.0f} rows/s as the whole mpirun, start-up \
and loading $USERS users included ({w / c * 100:.0f}%); plain H5Dwrite of the results {o:,.0f} rows/s, \
read then write {io:,.0f} rows/s (replay: {i / io * 100:.0f}% of it)')" "$ceiling" "$writes" "$inner" "$wall"
    cbest=$(printf '%s\n' "${cpus[@]}" | sort -g | head -1)
    cmed=$(printf '%s\n' "${cpus[@]}" | median)
    [ -n "$cpu1" ] || cpu1=$cbest
    [ -n "$rate1" ] || rate1=$inner
    oversub=$([ "$np" -gt "$(nproc)" ] && echo ", ranks oversubscribed on $(nproc) cores" || true)
    echo "-np $np: cpu $cbest s per million rows (user+sys, all ranks; median $cmed), \
$(echo "scale=2; $cbest / $cpu1" | bc -l)x -np $(echo $NPS | cut -d' ' -f1)'s$oversub; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "-np $np: replay rate $(printf '%.2f' "$(echo "$inner / $rate1" | bc -l)")x -np $(echo $NPS | cut -d' ' -f1)'s (best of each)"
    [ "$np" -gt 1 ] || continue
    # The same machine with nothing to route: np single-rank replays of the
    # whole archive at once, replay i pinned to core i mod the cores (so
    # each does its I/O inline, as a rank does when the ranks fill the
    # cores), each to its own results file. Their rates summed are what
    # np ranks could reach were routing, agreeing and exchanging credits
    # free; their CPU per million rows is the per-row cost of this many
    # processes sharing the cores, caches and memory. (They start within a
    # few milliseconds of each other; one that ends first leaves its core to
    # the others, so the sum is, if anything, a little high.)
    alone_rates=() alone_cpus=()
    for _ in $(seq "$RUNS"); do
        pids=()
        for i in $(seq 0 $((np - 1))); do
            taskset -c $((i % $(nproc))) "${BS_MPIRUN[@]}" -np 1 -wdir "$BS_TEST_TMP" "$BANKSTREAM" \
                replay "$FILE" --pg "$PG" --out "$BS_TEST_TMP/alone$i.h5" --batch-size "$BATCH" \
                >"$BS_TEST_TMP/alone$i.log" 2>/dev/null &
            pids+=($!)
        done
        wait "${pids[@]}"
        alone_rates+=("$(sed -n 's/^replayed.* \([0-9]*\) rows\/s$/\1/p' "$BS_TEST_TMP"/alone*.log |
            paste -sd+ | bc)")
        alone_cpus+=("$(sed -n 's/^cpu: \([0-9.]*\) s user+sys.*/\1/p' "$BS_TEST_TMP"/alone*.log |
            paste -sd+ | sed "s|.*|(&) * 1000000 / ($np * $COUNT)|" | bc -l)")
        rm -f "$BS_TEST_TMP"/alone*.h5 "$BS_TEST_TMP"/alone*.log
    done
    arate=$(printf '%s\n' "${alone_rates[@]}" | best)
    acpu=$(printf '%s\n' "${alone_cpus[@]}" | sort -g | head -1)
    python3 -c "import sys; a, c, i, p, r1 = (float(x) for x in sys.argv[1:6]); \
print(f'-np $np: nothing routed, $np single-rank replays at once on $(nproc) cores: {a:,.0f} rows/s \
together, cpu {c:.3f} s per million rows (best of each); the -np $np replay: rate {i / a:.2f}x theirs, \
cpu {p / c:.2f}x theirs; -np 1: rate {r1 / a:.2f}x theirs')" "$arate" "$acpu" "$inner" "$cbest" "$rate1"
done
