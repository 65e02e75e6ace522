#!/usr/bin/env bash
# tests/bench/archive_read.sh - the I/O ceiling of `replay`: how fast the
# columns of a transaction archive come off the file.
#
# On its own embedded PostgreSQL (tests/lib.sh) with USERS users:
#  (a) `bankstream produce --hdf5 --count COUNT --rate 0` writes the archive
#      (timed; file size and bytes per row printed);
#  (b) tests/bench/archive_read.c, built here with mpicc, reads every column
#      of every row with -np 1 and -np 2, each rank its block of rows:
#        plain  plain H5Dread into column buffers (the ceiling), through the
#               same drivers h5archive_open picks: the default (sec2) driver
#               for one rank, MPI-IO with independent transfers for more;
#        api    h5archive_read into txn_record_t rows (what replay gets).
#      REPEAT rounds, plain and api alternating; best and median rows/s, and
#      user+sys CPU seconds summed over ranks (the figure that survives a busy
#      machine). The page cache is warm (the file was just written).
#  (c) for reference, once: plain -np 2 with collective MPI-IO transfers.
# With BENCH_LAYOUTS=1, also copies of the archive with other layouts read
# plain -np 1: no filters, and deflate on the UUID columns too (the reasons
# behind h5archive.c's choices).
# Environment: BENCH_COUNT (10000000), BENCH_USERS (100000), BENCH_REPEAT (3),
# BENCH_LAYOUTS (0).
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_COUNT:-10000000}
USERS=${BENCH_USERS:-100000}
REPEAT=${BENCH_REPEAT:-3}
source tests/bench/lib.sh
bench_services

DRIVER=$BS_TEST_TMP/archive_read
bench_build "$DRIVER" tests/bench/archive_read.c

PG=$(new_database bench_archive)
"$BANKSTREAM" init --pg "$PG" --users "$USERS" >/dev/null
FILE=$BS_TEST_TMP/archive.h5
/usr/bin/time -o "$BS_TEST_TMP/time.out" -f "%e %U %S" "$BANKSTREAM" produce --pg "$PG" --quiet \
    --hdf5 "$FILE" --count "$COUNT" --rate 0 --seed 42 --start-time 1750000000000 --historic 0
read -r wall user sys <"$BS_TEST_TMP/time.out"
size=$(stat -c %s "$FILE")
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT transactions," \
    "$USERS users"
awk -v n="$COUNT" -v w="$wall" -v u="$user" -v s="$sys" -v b="$size" 'BEGIN {
    printf "produce --hdf5: %.2f s wall, %.2f s cpu, %.0f rows/s; file %.1f MB, %.1f bytes/row " \
           "(raw columns: 120 bytes/row)\n", w, u + s, n / w, b / 1e6, b / n }'

run() { # label np mode [file] -> appends the driver's line to $BS_TEST_TMP/<label>
    local label=$1 np=$2 mode=$3 file=${4:-$FILE}
    mpirun --oversubscribe --bind-to none -np "$np" "$DRIVER" "$mode" "$file" \
        >>"$BS_TEST_TMP/$label"
}
for round in $(seq "$REPEAT"); do
    for np in 1 2; do
        if [ $((round % 2)) -eq 1 ]; then
            run "plain$np" "$np" plain; run "api$np" "$np" api
        else
            run "api$np" "$np" api; run "plain$np" "$np" plain
        fi
    done
done
ARCHIVE_READ_IO=collective run collective2 2 plain

if [ "${BENCH_LAYOUTS:-0}" = 1 ]; then
    "$DRIVER" copy "$FILE" "$BS_TEST_TMP/none.h5" 65536 none
    "$DRIVER" copy "$FILE" "$BS_TEST_TMP/all.h5" 65536 shuffle
    for l in none all; do
        for _ in $(seq "$REPEAT"); do run "layout_$l" 1 plain "$BS_TEST_TMP/$l.h5"; done
        echo "layout $l: $(stat -c %s "$BS_TEST_TMP/$l.h5") bytes" >>"$BS_TEST_TMP/sizes"
    done
    cat "$BS_TEST_TMP/sizes"
fi

python3 - "$BS_TEST_TMP" <<'EOF'
import os, statistics, sys
tmp = sys.argv[1]
def show(label, title):
    path = os.path.join(tmp, label)
    if not os.path.exists(path):
        return
    runs = []
    for line in open(path):
        f = line.split()
        runs.append((float(f[f.index("rows/s") + 1]), float(f[f.index("cpu_s") + 1]),
                     float(f[f.index("seconds") + 1]), int(f[f.index("rows") + 1])))
    rates = sorted(r[0] for r in runs)
    cpus = sorted(r[1] for r in runs)
    n = runs[0][3]
    print(f"{title:<44} best {rates[-1]:>10,.0f} rows/s, median {statistics.median(rates):>10,.0f}"
          f" rows/s; cpu {cpus[0]:.2f}-{cpus[-1]:.2f} s ({n / cpus[0]:,.0f} rows/cpu-s)"
          f" [{len(runs)} runs]")
show("plain1", "plain H5Dread, -np 1 (sec2)")
show("plain2", "plain H5Dread, -np 2 (MPI-IO independent)")
show("api1", "h5archive_read, -np 1")
show("api2", "h5archive_read, -np 2")
show("collective2", "plain H5Dread, -np 2 (MPI-IO collective)")
show("layout_none", "plain -np 1, no filters at all")
show("layout_all", "plain -np 1, deflate on the UUIDs too")
EOF
