#!/usr/bin/env bash
# tests/bench/replay.sh - replay throughput against the archive's I/O ceiling
# (issue: HDF5 snapshots and replay). In one run: produce --hdf5 N transactions
# over U users; then, for -np 1 and -np 2, a plain H5Dread of every column of
# the archive (tests/bench/archive_read.c, the ceiling) and `bankstream replay`
# of the same archive to an HDF5 results file. Goal: replay >= 50% of the ceiling.
# Environment: BENCH_COUNT (10000000), BENCH_USERS (100000), BENCH_BATCH (10000).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
COUNT=${BENCH_COUNT:-10000000}
USERS=${BENCH_USERS:-100000}
BATCH=${BENCH_BATCH:-10000}
export BS_TEST_TMP=$(mktemp -d /tmp/bankstream-bench.XXXXXX)
chmod 755 "$BS_TEST_TMP"
source tests/lib.sh
trap 'bs_test_services_stop; rm -rf "$BS_TEST_TMP"' EXIT
bs_test_services_start

PKGS="rdkafka libpq hdf5-openmpi libcjson inih uuid libmicrohttpd"
DRIVER=$BS_TEST_TMP/archive_read
mpicc -std=c11 -O2 -D_GNU_SOURCE -I"$ROOT/include" $(pkg-config --cflags $PKGS) \
    -o "$DRIVER" tests/bench/archive_read.c $(ls build/*.o | grep -v '/main\.o$') \
    $(pkg-config --libs $PKGS) -lm -lpthread

PG=$(new_database bench_replay)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
FILE=$BS_TEST_TMP/archive.h5
"$BANKSTREAM" produce --pg "$PG" --quiet --hdf5 "$FILE" --count "$COUNT" --rate 0 --seed 42 \
    --start-time 1750000000000 --historic 0
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT transactions," \
    "$USERS users, archive $(($(stat -c %s "$FILE") / 1000000)) MB"
for np in 1 2; do
    ceiling=$(mpirun --oversubscribe --bind-to none -np "$np" "$DRIVER" plain "$FILE" |
        sed -n 's/.*rows\/s \([0-9.]*\).*/\1/p' | head -1)
    t0=$(date +%s.%N)
    mpirun_bs "$np" replay "$FILE" --pg "$PG" --out "$BS_TEST_TMP/results$np.h5" \
        --batch-size "$BATCH" 2>/dev/null | grep replayed
    t1=$(date +%s.%N)
    python3 -c "import sys; n, c, s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); \
print(f'-np $np: plain H5Dread {c:,.0f} rows/s; replay {n / s:,.0f} rows/s wall incl. start-up \
and loading {int(sys.argv[4]):,} users ({n / s / c * 100:.0f}% of the ceiling)')" \
        "$COUNT" "$ceiling" "$(echo "$t1 - $t0" | bc)" "$USERS"
    rm -f "$BS_TEST_TMP/results$np.h5"
done
