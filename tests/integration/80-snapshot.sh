#!/usr/bin/env bash
# 80-snapshot.sh - HDF5 snapshots: written by 1..4 ranks, read back by a
# different number of ranks, checked against an independent reader (h5dump),
# and every kind of damage: corrupt data, truncation, foreign and newer files,
# an interrupted write. Drives src/h5snap.c through tests/mpi/h5snap_driver.c,
# built by make against the same objects as $BANKSTREAM, and `bankstream snapshot`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh

T=$(mktemp -d "$BS_TEST_TMP/snapshot.XXXXXX")

# ---- the driver, built by make with the objects of the binary under test ----
D=$BS_BUILD/mpi/h5snap_driver
[ -x "$D" ] || fail "$D is missing: run make (or make SANITIZER=address) first"

run() { # N args... : the driver under mpirun with N ranks
    local n=$1; shift
    mpirun_np "$n" "$D" "$@"
}
SNAP=("$BANKSTREAM" snapshot)

NU=4000
SEED=42
"$D" dump "$NU" "$SEED" | sort >"$T/expected"
assert_eq "$(wc -l <"$T/expected")" "$NU" "generated users"
exp_total=$(awk '{s += $2} END {printf "%.0f", s}' "$T/expected")

# ---- N-independence: write with W ranks, read with R ranks -----------------
for w in 1 2 3 4; do
    extra=()
    [ "$w" = 3 ] && extra=(--shard)
    run "$w" write "$T/w$w" 7 "$NU" "$SEED" 4 "${extra[@]}" >"$T/write$w.out" \
        || fail "write with -np $w: $(cat "$T/write$w.out")"
    [ -f "$T/w$w/snap-000000000007.h5" ] || fail "no snapshot published by -np $w"
done
for pair in 1:4 2:1 3:2 3:1 4:3; do
    w=${pair%:*} r=${pair#*:}
    rm -f "$T"/out.*
    run "$r" read "$T/w$w/snap-000000000007.h5" "$T/out" >"$T/read.out" 2>&1 \
        || fail "read of the -np $w snapshot with -np $r: $(cat "$T/read.out")"
    sort "$T"/out.* >"$T/got"
    cmp -s "$T/got" "$T/expected" \
        || fail "state written by $w ranks and read by $r differs: $(diff "$T/got" "$T/expected" | head -5)"
    # Each reader rank got its contiguous share: floor/ceil of NU / r.
    for ((k = 0; k < r; k++)); do
        want=$(((k + 1) * NU / r - k * NU / r))
        assert_eq "$(wc -l <"$T/out.$k")" "$want" "rows read by rank $k of $r"
    done
    grep -q "users=$NU read=$NU total=$exp_total " "$T/read.out" \
        || fail "meta read by -np $r: $(grep batch= "$T/read.out")"
done

# ---- the independent reader: h5dump ----------------------------------------
attr() { # file name -> value of a root attribute, by h5dump
    h5dump -a "/$2" "$1" | sed -n 's/^ *(0): //p' | tr -d '"'
}
F=$T/w2/snap-000000000007.h5
sums=()
for w in 1 2 3 4; do sums+=("$(attr "$T/w$w/snap-000000000007.h5" checksum)"); done
[ -n "${sums[0]}" ] || fail "no checksum attribute"
for s in "${sums[@]}"; do assert_eq "$s" "${sums[0]}" "checksum of the snapshots by 1..4 ranks"; done
assert_eq "$(attr "$F" format_version)" 1 "format_version"
assert_eq "$(attr "$F" batch_id)" 7 "batch_id"
assert_eq "$(attr "$F" n_users)" "$NU" "n_users"
assert_eq "$(attr "$F" writer_ranks)" 2 "writer_ranks"
assert_eq "$(attr "$F" topic)" bank_transactions "topic"
assert_eq "$(attr "$F" origin)" "h5snap_driver seed $SEED" "origin"
assert_eq "$(attr "$F" total_balance_cents)" "$exp_total" "total_balance_cents"

# Dataset names, types and shapes, as h5dump -H shows them.
layout=$(h5dump -H "$F" | awk '
    /^ *GROUP "/ { g = $2; gsub(/"/, "", g); if (g != "/") grp = "/" g }
    /^ *DATASET "/ { d = $2; gsub(/"/, "", d) }
    /^ *DATATYPE/ && d != "" { t = $2 }
    /^ *DATASPACE/ && d != "" { sub(/^ *DATASPACE +SIMPLE +\{ +\(/, ""); sub(/\).*/, "");
                                gsub(/ /, ""); print grp "/" d, t, $0; d = "" }')
expected_layout="/kafka/end_offsets H5T_STD_I64LE 4
/users/balance_cents H5T_STD_I64LE $NU
/users/id H5T_STD_U8LE $NU,16
/users/last_approved_us H5T_STD_I64LE $NU
/users/limit_cents H5T_STD_I64LE $NU,4
/users/region H5T_STD_U8LE $NU"
assert_eq "$(sort <<<"$layout")" "$expected_layout" "layout by h5dump -H"
for a in format_version batch_id created_unix_us created_iso topic origin n_users \
    total_balance_cents checksum writer_ranks; do
    h5dump -H -a "/$a" "$F" >/dev/null 2>&1 || fail "root attribute $a missing"
done
assert_contains "$(h5dump -a /users/limit_cents/modalities "$F")" "PIX,TED,DOC,Boleto" "modalities"
assert_contains "$(h5dump -a /users/region/codes "$F")" "AC,AL,AP,AM,BA" "region codes"
assert_contains "$(h5dump -a /users/last_approved_us/units "$F")" "microseconds since 1970-01-01 UTC" \
    "units of last_approved_us"

# Data by h5dump: balances sum to the attribute, offsets as written.
dump_values() { # file dataset -> one value per line (h5dump -o writes the data only)
    h5dump -y -w 0 -o "$T/values" -d "$2" "$1" >/dev/null || fail "h5dump -d $2 $1"
    tr ',' '\n' <"$T/values" | tr -d ' ' | grep .
}
h5sum=$(dump_values "$F" /users/balance_cents | awk '{s += $1} END {printf "%.0f", s}')
assert_eq "$h5sum" "$exp_total" "sum of /users/balance_cents by h5dump"
assert_eq "$(dump_values "$F" /kafka/end_offsets | paste -sd,)" "1007,2007,3007,4007" "end offsets"
assert_eq "$(dump_values "$F" /users/region | sort -n | tail -1)" \
    "$(awk '{print $7}' "$T/expected" | sort -n | tail -1)" "largest region index"

# ---- snapshot show / ls ----------------------------------------------------
show=$("${SNAP[@]}" show "$F") || fail "snapshot show $F"
field() { sed -n "s/^$1: *//p" <<<"$show"; }
assert_eq "$(field batch)" 7 "show: batch"
assert_eq "$(field users)" "$NU" "show: users"
assert_eq "$(field total_money)" "R\$ $((exp_total / 100)).$(printf %02d $((exp_total % 100)))" "show: total"
assert_eq "$(field topic)" bank_transactions "show: topic"
assert_eq "$(field origin)" "h5snap_driver seed $SEED" "show: origin"
assert_eq "$(awk '/^offset\[/ {print $2}' <<<"$show" | paste -sd,)" "1007,2007,3007,4007" "show: offsets"
assert_eq "$(field created)" "$(attr "$F" created_iso)" "show: created"

L=$T/list
mkdir -p "$L"
cp "$F" "$L/snap-000000000007.h5"
"$D" write "$L" 9 500 7 2 >/dev/null || fail "write batch 9" # a singleton MPI run
"$D" write "$L" 11 300 8 2 >/dev/null || fail "write batch 11"
cp "$F" "$L/.snap-000000000010.h5.partial" # as left by a crash: never listed
off=$(h5dump -p -H -d /users/limit_cents "$L/snap-000000000011.h5" | awk '/OFFSET/ {print $2}')
[ -n "$off" ] || fail "no OFFSET for /users/limit_cents in h5dump -p"
printf '\xff\xff\xff' | dd of="$L/snap-000000000011.h5" bs=1 seek=$((off + 101)) conv=notrunc status=none
ls_out=$("${SNAP[@]}" ls "$L") || fail "snapshot ls $L"
assert_eq "$(awk 'NR > 1 {print $2}' <<<"$ls_out" | paste -sd,)" "11,9,7" "ls: batches, newest first"
assert_eq "$(awk 'NR > 1 && $2 == 9 {print $3, $NF}' <<<"$ls_out")" "500 ok" "ls: batch 9"
assert_eq "$(awk 'NR > 1 && $2 == 7 {print $4}' <<<"$ls_out")" \
    "$((exp_total / 100)).$(printf %02d $((exp_total % 100)))" "ls: total of batch 7"
line11=$(grep 'snap-000000000011.h5' <<<"$ls_out")
assert_contains "$line11" "CORRUPT: " "ls: corrupt snapshot"
assert_contains "$line11" "/users/limit_cents" "ls: corrupt snapshot names the dataset"
grep -q partial <<<"$ls_out" && fail "ls listed a .partial file: $ls_out"

assert_fails "$L/snap-000000000011.h5: dataset /users/limit_cents fails its checksum" \
    "${SNAP[@]}" show "$L/snap-000000000011.h5"
# Restore on 3 ranks skips the corrupt newest one, with a warning naming it.
run 3 newest "$L" 100 >"$T/newest.out" 2>"$T/newest.err" || fail "newest: $(cat "$T/newest.err")"
assert_eq "$(cat "$T/newest.out")" "chosen $L/snap-000000000009.h5 batch 9 users 500" "newest usable"
assert_contains "$(cat "$T/newest.err")" "$L/snap-000000000011.h5" "warning names the corrupt file"
# ... and a reader of the corrupt file itself fails on every rank.
run 2 read "$L/snap-000000000011.h5" - >/dev/null 2>"$T/read.err" && fail "read of a corrupt snapshot succeeded"
assert_eq "$(grep -c "read failed: $L/snap-000000000011.h5: dataset /users/limit_cents" "$T/read.err")" 2 \
    "both ranks report the corrupt dataset"

# ---- bad input -------------------------------------------------------------
B=$T/bad
mkdir -p "$B"
head -c 100000 "$F" >"$B/truncated.h5"
assert_fails "$B/truncated.h5: cannot open as HDF5, the file is damaged or truncated: truncated file" \
    "${SNAP[@]}" show "$B/truncated.h5"
echo "not hdf5" >"$B/text.h5"
assert_fails "$B/text.h5: not an HDF5 file" "${SNAP[@]}" show "$B/text.h5"
assert_fails "$B/none.h5: No such file or directory" "${SNAP[@]}" show "$B/none.h5"
printf '1 2 3\n4 5 6\n' >"$B/in.txt"
printf 'PATH data\nINPUT-CLASS TEXTIN\nINPUT-SIZE 32\nRANK 2\nDIMENSION-SIZES 2 3\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n' >"$B/in.cfg"
h5import "$B/in.txt" -c "$B/in.cfg" -o "$B/foreign.h5" >/dev/null || fail "h5import"
assert_fails "$B/foreign.h5: not a bankstream snapshot: the root attribute format_version is missing" \
    "${SNAP[@]}" show "$B/foreign.h5"
cp "$F" "$B/noregion.h5"
"$D" strip "$B/noregion.h5" /users/region || fail "strip"
assert_fails "$B/noregion.h5: dataset /users/region is missing" "${SNAP[@]}" show "$B/noregion.h5"
cp "$F" "$B/v2.h5"
"$D" set-version "$B/v2.h5" 2 || fail "set-version"
assert_fails "$B/v2.h5: format version 2 is newer than this bankstream supports (1)" \
    "${SNAP[@]}" show "$B/v2.h5"
run 2 read "$B/v2.h5" - >/dev/null 2>"$T/read.err" && fail "read of a v2 snapshot succeeded"
assert_contains "$(cat "$T/read.err")" "format version 2 is newer" "collective read of v2"
assert_fails "$B/nodir" "${SNAP[@]}" ls "$B/nodir"
# Writing where DIR cannot be created fails on every rank, naming the path.
run 2 write "$B/text.h5/sub" 1 10 1 1 >/dev/null 2>"$T/write.err" && fail "write under a file succeeded"
assert_contains "$(cat "$T/write.err")" "$B/text.h5" "write error names the path"

# Usage errors exit 2.
for args in "" "bogus" "ls --bogus" "show" "ls a b" "show --no-verify x"; do
    rc=0
    # shellcheck disable=SC2086  # args split on purpose
    "${SNAP[@]}" $args >/dev/null 2>&1 || rc=$?
    assert_eq "$rc" 2 "exit status of 'snapshot $args'"
done

# ---- a write killed half-way never shows up as a snapshot ------------------
K=$T/kill
"$D" write "$K" 1 1000 3 4 >/dev/null || fail "write batch 1"
export H5SNAP_DRIVER_PIDFILE=$T/pids
: >"$H5SNAP_DRIVER_PIDFILE"
run 2 write "$K" 2 1000000 3 4 --block >/dev/null 2>&1 &
mpirun_pid=$!
for _ in $(seq 300); do
    [ -e "$K/.snap-000000000002.h5.partial" ] && break
    [ -e "$K/snap-000000000002.h5" ] && break
    sleep 0.02
done
mapfile -t pids <"$H5SNAP_DRIVER_PIDFILE"
if [ ${#pids[@]} -gt 0 ]; then kill -9 "${pids[@]}" 2>/dev/null || true; fi
kill -9 "$mpirun_pid" 2>/dev/null || true
wait "$mpirun_pid" 2>/dev/null || true
unset H5SNAP_DRIVER_PIDFILE
ls_out=$("${SNAP[@]}" ls "$K") || fail "ls after the crash"
n_listed=$(awk 'NR > 1' <<<"$ls_out" | wc -l)
assert_eq "$(awk 'NR > 1 && $NF != "ok"' <<<"$ls_out")" "" "every listed snapshot verifies after a crash"
if [ -e "$K/.snap-000000000002.h5.partial" ]; then
    assert_eq "$n_listed" 1 "only the complete snapshot is listed after a crash mid-write"
fi
echo "crash test: killed $( [ -e "$K/.snap-000000000002.h5.partial" ] && echo mid-write || echo after publish), $n_listed listed"
echo "ok"
