#!/usr/bin/env bash
# 75-run-snapshot.sh - `run` writes HDF5 snapshots and restores from them on a
# different number of ranks; a corrupt newest snapshot is skipped (with a
# warning naming it) for an older one; a snapshot of another database is never
# used. The final tables equal those of a run that never used a snapshot.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

TOPIC=$(new_topic snaprun)
REF=$(new_database snapref --users 800)
PG=$(new_database snaprun --users 800)
produce() { "$BANKSTREAM" produce --pg "$REF" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
    --count "$1" --rate 0 --seed "$2" --start-time "$3" --historic 0 --quiet; }
same_tables() { # what: the tables of PG equal REF's (dump_decisions), or fail
    rm -rf "$BS_TEST_TMP/snapdump_$$"
    dump_decisions "$REF" "$BS_TEST_TMP/snapdump_$$/ref"
    dump_decisions "$PG" "$BS_TEST_TMP/snapdump_$$/run"
    diff_dumps "$1" "$BS_TEST_TMP/snapdump_$$/ref" "$BS_TEST_TMP/snapdump_$$/run" ||
        fail "$1: the tables differ from the reference"
}
SNAP="$BS_TEST_TMP/snaps_$$"
printf '[snapshot]\ndir = %s\nevery = 3\nmin_seconds = 0\n' "$SNAP" >"$BS_TEST_TMP/snap.ini"
run() { # np database jobfile-args...
    local n=$1 db=$2; shift 2
    mpirun_bs "$n" run "$@" --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" \
        --batch-size 1000 --batch-ms 0 --until-idle 2>&1
}

# The stream arrives in two parts; each database processes part one, then
# part two, so that batch boundaries are the same everywhere.
produce 8000 1 1750000000000
run 2 "$REF" --snapshot-dir none >/dev/null
out=$(run 3 "$PG" "$BS_TEST_TMP/snap.ini")
echo "$out" | grep -E "snapshot|restored"
assert_contains "$out" "usuarios + ledger" "first run starts from the reference data"
ls "$SNAP"/snap-*.h5 >/dev/null || fail "no snapshot written"
newest=$(ls "$SNAP"/snap-*.h5 | sort | tail -1)
older=$(ls "$SNAP"/snap-*.h5 | sort | tail -2 | head -1)
show=$("$BANKSTREAM" snapshot show "$newest")
assert_contains "$show" "users:          800" "snapshot show: users"
assert_contains "$show" "writer_ranks:   3" "snapshot show: writer ranks"

# A database initialized differently, given a copy of those snapshots (same
# topic, and its batch_log will match batch for batch): it must not use them.
OTHER=$(new_database snapother --users 800 --seed 99)
cp -r "$SNAP" "$SNAP.other"
printf '[snapshot]\ndir = %s\nevery = 3\nmin_seconds = 0\n' "$SNAP.other" >"$BS_TEST_TMP/other.ini"
run 1 "$OTHER" --snapshot-dir none >/dev/null
out=$(run 1 "$OTHER" "$BS_TEST_TMP/other.ini")
assert_contains "$out" "belongs to database" "another database's snapshot is refused, by name"
assert_contains "$out" "usuarios + ledger" "another database's snapshot must not be restored"

# Part two; the newest snapshot is truncated: the restore names it, skips it,
# uses the older one on 2 ranks and rolls forward from the ledger.
produce 6000 2 1750100000000
run 2 "$REF" --snapshot-dir none >/dev/null
truncate -s 3000 "$newest"
out=$(run 2 "$PG" "$BS_TEST_TMP/snap.ini")
echo "$out" | grep -E "snapshot|restored"
assert_contains "$out" "skipped for an older snapshot" "corrupt snapshot is reported"
assert_contains "$out" "$(basename "$newest")" "the warning names the corrupt file"
assert_contains "$out" "restored 800 users from $older" "restore from the older snapshot"
assert_contains "$out" "snapshot + ledger" "state = snapshot + ledger"

same_tables "after a snapshot restore"

# A third run restores from the snapshot the second wrote at its clean stop
# (with -np 1) and finds nothing to do; balances are unchanged.
out=$(run 1 "$PG" "$BS_TEST_TMP/snap.ini")
assert_contains "$out" "snapshot + ledger" "restart from the shutdown snapshot"
same_tables "after an idle restart"

# The time floor: periodic snapshots at least min_seconds apart, so that
# small batches (adaptive cuts at high rates) do not each stop the stream
# for one. every = 1: with no floor a snapshot per batch, with an hour's
# floor only the clean stop's.
for floor in 0 3600; do
    db=$(new_database "snapfloor$floor" --users 800)
    printf '[snapshot]\ndir = %s\nevery = 1\nmin_seconds = %s\n' "$SNAP.floor$floor" "$floor" \
        >"$BS_TEST_TMP/floor.ini"
    run 2 "$db" "$BS_TEST_TMP/floor.ini" >"$BS_TEST_TMP/floor.out" || {
        cat "$BS_TEST_TMP/floor.out"
        fail "run with min_seconds = $floor"
    }
    last=$(psql_q "$db" "SELECT max(batch_id) FROM batch_log")
    want=$([ "$floor" = 0 ] && echo "$last" || echo 1)
    assert_eq "$(ls "$SNAP.floor$floor" | grep -c '^snap-')" "$want" "snapshots with min_seconds = $floor"
    assert_eq "$(ls "$SNAP.floor$floor" | grep '^snap-' | sort | tail -1)" \
        "$(printf 'snap-%012d.h5' "$last")" "the clean stop's snapshot with min_seconds = $floor"
done
echo ok
