#!/usr/bin/env bash
# tests/bench/snapshot.sh [USERS] [NP] - time writing and reading an HDF5
# snapshot of USERS users (default 10,000,000) with NP ranks (default 2).
#
# The writer spreads the users over the workers as the processor does
# (ranks 1..NP-1; rank 0 holds none unless NP is 1); every reader rank reads
# its 1/NP share. Timings are of h5snap_write / h5snap_read alone (generation
# excluded), with a warm page cache; plus the serial full verification that
# `bankstream snapshot show` does. Figures go to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

users=${1:-10000000}
np=${2:-2}
T=$(mktemp -d /tmp/bankstream-bench-snapshot.XXXXXX)
trap 'rm -rf "$T"' EXIT

source tests/bench/lib.sh
D=$T/h5snap_driver
bench_build "$D" tests/mpi/h5snap_driver.c

run() { mpirun --oversubscribe --bind-to none -np "$@"; }

echo "snapshot of $users users, mpirun -np $np, $(nproc) cores"
out=$(run "$np" "$D" write "$T/snaps" 1 "$users" 42 4 --block)
f=$T/snaps/snap-000000000001.h5
size=$(stat -c %s "$f")
w=$(sed -n 's/^write: \([0-9.]*\) s/\1/p' <<<"$out")
out=$(run "$np" "$D" read "$f" -)
r=$(sed -n 's/^read: \([0-9.]*\) s/\1/p' <<<"$out")
t0=$(date +%s.%N)
"$D" snapshot show "$f" >/dev/null
t1=$(date +%s.%N)
awk -v n="$users" -v s="$size" -v w="$w" -v r="$r" -v v="$(echo "$t1 - $t0" | bc)" -v np="$np" 'BEGIN {
    printf "file size            %.1f MB (%.1f bytes/user)\n", s / 1e6, s / n
    printf "write  (-np %d)       %.2f s  %.0f MB/s  %.2f M users/s\n", np, w, s / 1e6 / w, n / 1e6 / w
    printf "read   (-np %d)       %.2f s  %.0f MB/s  %.2f M users/s\n", np, r, s / 1e6 / r, n / 1e6 / r
    printf "verify (serial show) %.2f s\n", v
}'
