#!/usr/bin/env bash
# tests/bench/hosts.sh - what crosses the network when bankstream's ranks run
# on several hosts: three network-namespace hosts (tests/hosts/hosts.sh,
# TCP between them, shared memory inside one), the database and the broker
# on bridge addresses (tests/hosts/services.sh). Needs root; says SKIP
# otherwise. Figures go to stdout, with `uptime` (the machine is shared).
#
#   1. MPI itself: round trip and bandwidth on one host and between hosts
#      (tests/bench/mpi_latency.c), with ranks that spin while they wait
#      (mpirun's default when it believes every rank has a core) and that
#      yield (mpi_yield_when_idle=1).
#   2. Bytes per transaction between ranks, per step of a batch (scatter,
#      the receivers' lookups, credits, gather, and the counts and commands
#      around them): payload counted by an MPI profiling library
#      (tests/bench/preload/mpi_tally.c), and what the hosts' interfaces
#      carried, both as the difference between a run of N1 and one of N2
#      messages (start-up and shut-down cancel out).
#   3. The snapshot's cost: h5snap_driver writes USERS users with 3 ranks,
#      on one host and on three, with collective and independent MPI-IO
#      transfers (BANKSTREAM_SNAPSHOT_TRANSFER), spinning and yielding;
#      medians of REPS runs.
#
#   tests/bench/hosts.sh [N1 N2 [REPS]]   (default 20000 60000 5)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
N1=${1:-20000}
N2=${2:-60000}
REPS=${3:-5}
K=1000
USERS=10000

export BS_TEST_TMP
BS_TEST_TMP=$(mktemp -d /tmp/bankstream-bench-hosts.XXXXXX)
chmod 755 "$BS_TEST_TMP"
source tests/lib.sh
source tests/hosts/hosts.sh
source tests/hosts/services.sh
source tests/bench/lib.sh
T=$BS_TEST_TMP
cleanup() {
    services_down
    hosts_down
    rm -rf "$T"
}
trap cleanup EXIT

rc=0
hosts_up 3 "$T/hosts" || rc=$?
[ "$rc" -eq 2 ] && exit 0 # printed why
[ "$rc" -eq 0 ] || { echo "could not make the hosts"; exit 1; }
services_up "$T/svc" || { echo "could not start the database and the broker"; exit 1; }
bench_build "$T/mpi_latency" tests/bench/mpi_latency.c || exit 1
bench_build "$T/h5snap_driver" tests/mpi/h5snap_driver.c || exit 1
mpicc -shared -fPIC -O2 -o "$T/mpi_tally.so" tests/bench/preload/mpi_tally.c || exit 1

# mpirun on the hosts, the ranks spinning (y=0) or yielding (y=1) while they wait.
on_hosts() { # y hosts np program args...
    local y=$1 h=$2 n=$3
    shift 3
    mpirun --mca plm_rsh_agent "$HOSTS_AGENT" --mca plm_rsh_no_tree_spawn 1 \
        --mca btl tcp,vader,self --mca btl_tcp_if_include "$HOSTS_CIDR" \
        --mca oob_tcp_if_include "$HOSTS_CIDR" --mca mpi_yield_when_idle "$y" \
        --oversubscribe --bind-to none -x PGPASSFILE -x BANKSTREAM_SNAPSHOT_TRANSFER \
        --host "$h" -np "$n" -wdir "$T" "$@"
}
here() { mpirun --oversubscribe --bind-to none -np "$@"; }
export BANKSTREAM_SNAPSHOT_TRANSFER=independent
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "three hosts on $HOSTS_CIDR, $(nproc) cores; $(uptime)"

# ------------------------------------------------------------------ MPI
echo
echo "== MPI between ranks (3 ranks; round trips in microseconds)"
echo "one host                $(here 3 "$T/mpi_latency" 200)"
for y in 0 1; do
    printf 'h1,h2,h3 %-14s %s\n' "$([ "$y" = 1 ] && echo yielding || echo spinning)" \
        "$(on_hosts "$y" h1,h2,h3 3 "$T/mpi_latency" 200)"
done

# ------------------------------------------------------------------ batches
echo
echo "== bytes between ranks per transaction ($N1 and $N2 messages, batches of $K, $USERS users)"
topic1=$(new_topic bench1)
topic2=$(new_topic bench2)
refdb=$(services_db bench_src --users "$USERS") || exit 1
"$BANKSTREAM" produce --pg "$refdb" --brokers "$SVC_BROKERS" --topic "$topic1" --count "$N1" --rate 0 \
    --seed 5 --start-time 1750000000000 --historic 0 --quiet || exit 1
"$BANKSTREAM" produce --pg "$refdb" --brokers "$SVC_BROKERS" --topic "$topic2" --count "$N2" --rate 0 \
    --seed 6 --start-time 1750000000000 --historic 0 --quiet || exit 1

# One run: the tally's lines, then "wire_workers <bytes>" (what h2's and
# h3's interfaces carried, both directions: they run workers only, so this
# is MPI, with its headers and TCP/IP's), "wire_h1 <bytes>" (rank 0's host:
# MPI, Kafka and PostgreSQL) and "seconds <s>". Args: hosts np topic
measure() {
    local hosts=$1 np=$2 topic=$3 db b0 b1 t0
    db=$(services_db "bench_$RANDOM$RANDOM" --users "$USERS") || return 1
    rm -f "$T/tally"
    b0=$(hosts_bytes "h2 h3")
    b1=$(hosts_bytes h1)
    t0=$(date +%s.%N)
    # (-x VAR=VALUE: the ranks get the profiling library, not mpirun)
    local tally=(-x "BS_TALLY_OUT=$T/tally" -x "LD_PRELOAD=$T/mpi_tally.so")
    local args=(run --pg "$db" --brokers "$SVC_BROKERS" --topic "$topic" --batch-size "$K" --batch-ms 0
        --snapshot-dir none --until-idle --quiet)
    if [ "$hosts" = here ]; then
        here "$np" "${tally[@]}" "$BANKSTREAM" "${args[@]}" >"$T/run.out" 2>&1
    else
        on_hosts 1 "$hosts" "$np" "${tally[@]}" "$BANKSTREAM" "${args[@]}" >"$T/run.out" 2>&1
    fi || { tail -5 "$T/run.out"; return 1; }
    cat "$T/tally"
    echo "wire_workers $(($(hosts_bytes "h2 h3") - b0))"
    echo "wire_h1 $(($(hosts_bytes h1) - b1))"
    echo "seconds $(echo "$(date +%s.%N) - $t0" | bc)"
}
# Per transaction: (run of N2 - run of N1) / (N2 - N1).
per_txn() { # label hosts np
    measure "$2" "$3" "$topic1" >"$T/m1" || return 1
    measure "$2" "$3" "$topic2" >"$T/m2" || return 1
    awk -v n=$((N2 - N1)) -v k="$K" -v label="$1" '
        FNR == NR { if (NF == 4) { s1[$1] = $3; o1[$1] = $4 } else v1[$1] = $2; next }
        NF == 4 { s = ($3 - s1[$1]) / n; o = ($4 - o1[$1]) / n
                  printf "  %-12s %-14s %7.1f B/txn (%6.1f other hosts, %6.1f same host)  %8.0f B/batch\n",
                         label, $1, s + o, o, s, (s + o) * k
                  tot += s + o; other += o; next }
        { v2[$1] = $2 }
        END { printf "  %-12s %-14s %7.1f B/txn (%6.1f other hosts)  %8.0f B/batch\n", label, "all steps", tot, other, tot * k
              printf "  %-12s %-14s %7.1f B/txn through h2\x27s and h3\x27s interfaces (MPI with its headers)\n", label, "wire", (v2["wire_workers"] - v1["wire_workers"]) / n
              printf "  %-12s %-14s %7.1f B/txn through h1\x27s (rank 0: MPI, Kafka, PostgreSQL)\n", label, "wire", (v2["wire_h1"] - v1["wire_h1"]) / n
              printf "  %-12s %-14s %.2f s and %.2f s for the two runs (a shared machine: noisy)\n", label, "time", v1["seconds"], v2["seconds"] }' \
        "$T/m1" "$T/m2"
}
per_txn "np3-here" here 3
per_txn "np3-h1..h3" h1,h2,h3 3
per_txn "np5-h1..h3" h1,h2:2,h3:2 5

# ----------------------------------------------------------------- snapshot
echo
echo "== snapshot write, 3 ranks (medians of $REPS; seconds)"
for users in 3000 100000; do
    for mode in collective independent; do
        export BANKSTREAM_SNAPSHOT_TRANSFER=$mode
        line="$(printf '%7d users %-12s' "$users" "$mode")"
        one=$(for ((i = 0; i < REPS; i++)); do
            here 3 "$T/h5snap_driver" write "$T/s1-$i" 1 "$users" 42 4 | sed -n 's/^write: \([0-9.]*\) s/\1/p'
            rm -rf "$T/s1-$i"
        done | med)
        line+="  one host $one"
        for y in 0 1; do
            multi=$(for ((i = 0; i < REPS; i++)); do
                on_hosts "$y" h1,h2,h3 3 "$T/h5snap_driver" write "$T/s3-$i" 1 "$users" 42 4 |
                    sed -n 's/^write: \([0-9.]*\) s/\1/p'
                rm -rf "$T/s3-$i"
            done | med)
            line+="  h1..h3 $([ "$y" = 1 ] && echo yielding || echo spinning) $multi"
        done
        echo "$line"
    done
done
echo
uptime
