#!/usr/bin/env bash
# 88-replay.sh - `bankstream replay` over the stream's own archive reproduces
# the stream's results exactly, on any N and from a snapshot; a what-if
# replay (limits at 50%) gives a new result set and leaves the stream's tables
# alone; replay of a `produce --hdf5` archive to an HDF5 results file; bad
# archives fail naming file and dataset, and nothing is written.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PG=$(new_database replay --users 1000)
TOPIC=$(new_topic replay)
SNAP="$BS_TEST_TMP/replay_snaps_$$"
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count 12000 \
    --rate 0 --seed 3 --start-time 1750000000000 --historic 200 --quiet
printf '[snapshot]\ndir = %s\nevery = 4\nmin_seconds = 0\n' "$SNAP" >"$BS_TEST_TMP/replay.ini"
mpirun_bs 2 run "$BS_TEST_TMP/replay.ini" --pg "$PG" --brokers "$BS_TEST_BROKERS" \
    --topic "$TOPIC" --batch-size 1000 --batch-ms 0 --until-idle >/dev/null 2>&1
ls "$SNAP"
first=$(ls "$SNAP"/archive-000000000001-*.h5)
second=$(ls "$SNAP"/archive-000000000005-*.h5)
snap4="$SNAP/snap-000000000004.h5"
[ -f "$first" ] && [ -f "$second" ] && [ -f "$snap4" ] || fail "archives/snapshots missing"

stream_sum=$(psql_q "$PG" "SELECT md5(string_agg(id_transacao || status || coalesce(motivo, '')
    || batch_id, ',' ORDER BY id_transacao)) FROM transacoes")
compare() { # replay_id batch-range -> number of rows that differ from the stream
    psql_q "$PG" "SELECT count(*) FROM replay_resultados r JOIN transacoes t USING (id_transacao)
        WHERE r.replay_id = $1 AND (r.status IS DISTINCT FROM t.status
           OR r.motivo IS DISTINCT FROM t.motivo OR r.batch_id <> t.batch_id
           OR r.transacao_aprovada IS DISTINCT FROM t.transacao_aprovada
           OR r.t5_score IS DISTINCT FROM (SELECT s.t5_score FROM transacoes_scores s
                                           WHERE s.id_transacao = t.id_transacao))"
}
replay_id() { sed -n 's/.*replay_id = \([0-9]*\).*/\1/p'; }

# 1. The first interval from usuarios, on 1 and 3 ranks: identical to the stream.
for n in 1 3; do
    id=$(mpirun_bs $n replay "$first" --pg "$PG" 2>/dev/null | replay_id)
    rows=$(psql_q "$PG" "SELECT count(*) FROM replay_resultados WHERE replay_id = $id")
    assert_eq "$rows" "$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE batch_id <= 4")" \
        "rows replayed (-np $n)"
    assert_eq "$(compare "$id")" 0 "replay of batches 1-4 differs from the stream (-np $n)"
done
assert_eq "$(psql_q "$PG" "SELECT count(*) FROM replay_resultados WHERE transacao_aprovada IS NULL")" 0 \
    "replay_resultados.transacao_aprovada is never NULL"

# 1b. The same replay into HDF5 results files on 1 and 3 ranks: the files are
#     identical (h5dump), and their rows, read by h5dump, are the stream's.
h5rows() { # results file -> "uuid status motivo batch_id" lines, sorted (by h5dump)
    local d
    for d in /transactions/id /results/status /results/reason /results/batch_id; do
        h5dump -y -w 0 -o "$BS_TEST_TMP/v_${d##*/}" -d "$d" "$1" >/dev/null || fail "h5dump -d $d $1"
    done
    h5dump -a /results/status/names "$1" | sed -n 's/^ *(0): "\(.*\)"$/\1/p' >"$BS_TEST_TMP/v_snames"
    h5dump -a /results/reason/names "$1" | sed -n 's/^ *(0): "\(.*\)"$/\1/p' >"$BS_TEST_TMP/v_rnames"
    python3 - "$BS_TEST_TMP" <<'PY'
import sys, uuid
d = sys.argv[1]
def vals(n):
    return [int(x) for x in open(f"{d}/v_{n}").read().replace(",", " ").split()]
ids, st, rs, b = vals("id"), vals("status"), vals("reason"), vals("batch_id")
snames = open(f"{d}/v_snames").read().strip().split(",")
rnames = open(f"{d}/v_rnames").read().strip().split(",")
assert len(ids) == 16 * len(st) == 16 * len(rs) == 16 * len(b), "column lengths differ"
for i in sorted(range(len(st)), key=lambda i: bytes(ids[16 * i:16 * i + 16])):
    u = uuid.UUID(bytes=bytes(ids[16 * i:16 * i + 16]))
    print(u, snames[st[i]], rnames[rs[i]] if rs[i] else "", b[i])
PY
}
# On 1 rank with windows of 2500 rows (each read, and its results written,
# on the second thread while another is decided), and on 3 ranks with windows of 3 x 250 rows:
# the stream's batches of 1000 rows straddle the windows (the window grows to
# hold one, and is cut before the last batch it holds).
one=$(BANKSTREAM_REPLAY_SLICE_ROWS=2500 mpirun_bs 1 replay "$first" --pg "$PG" \
    --out "$BS_TEST_TMP/first1.h5" 2>/dev/null) || fail "replay of $first to HDF5 (-np 1)"
assert_contains "$one" "on a second thread" "-np 1 does its I/O on a second thread"
BANKSTREAM_REPLAY_SLICE_ROWS=250 mpirun_bs 3 replay "$first" \
    --pg "$PG" --out "$BS_TEST_TMP/first3.h5" >/dev/null 2>&1 || fail "replay of $first to HDF5 (-np 3)"
for g in /transactions /results; do
    cmp -s <(h5dump -g $g "$BS_TEST_TMP/first1.h5" | tail -n +2) \
        <(h5dump -g $g "$BS_TEST_TMP/first3.h5" | tail -n +2) ||
        fail "$g of the results files written by 1 and 3 ranks differ (h5dump)"
done
# On 1 rank pinned to one CPU, with windows of 250 rows: no core to spare,
# so each window is decided, written, and the next read into the other of
# two buffers (without the second thread's three).
pinned=$(BANKSTREAM_REPLAY_SLICE_ROWS=250 taskset -c 0 "${BS_MPIRUN[@]}" -np 1 -wdir "$BS_TEST_TMP" \
    "$BANKSTREAM" replay "$first" --pg "$PG" --out "$BS_TEST_TMP/first1p.h5" 2>/dev/null) ||
    fail "replay of $first to HDF5 (-np 1 on one CPU)"
case "$pinned" in *"on a second thread"*) fail "-np 1 on one CPU did its I/O on a second thread" ;; esac
for g in /transactions /results; do
    cmp -s <(h5dump -g $g "$BS_TEST_TMP/first1.h5" | tail -n +2) \
        <(h5dump -g $g "$BS_TEST_TMP/first1p.h5" | tail -n +2) ||
        fail "$g of the results files written by 1 rank with and without a second thread differ (h5dump)"
done
h5rows "$BS_TEST_TMP/first3.h5" >"$BS_TEST_TMP/first.rows"
psql_q "$PG" "SELECT id_transacao || ' ' || status || ' ' || coalesce(motivo, '') || ' ' || batch_id
    FROM transacoes WHERE batch_id <= 4 ORDER BY id_transacao" >"$BS_TEST_TMP/stream.rows"
[ -s "$BS_TEST_TMP/stream.rows" ] || fail "no stream rows"
cmp -s "$BS_TEST_TMP/first.rows" "$BS_TEST_TMP/stream.rows" ||
    fail "HDF5 results differ from the stream: $(diff "$BS_TEST_TMP/first.rows" "$BS_TEST_TMP/stream.rows" | head -4)"
assert_eq "$(h5dump -a /n_rows "$BS_TEST_TMP/first3.h5" | sed -n 's/^ *(0): //p')" \
    "$(wc -l <"$BS_TEST_TMP/stream.rows")" "n_rows of the results file"
assert_contains "$(h5dump -a /inputs "$BS_TEST_TMP/first3.h5")" "$first" "inputs attribute"

# 2. The second interval from the snapshot of batch 4 (written by 2 ranks, read by 3).
id=$(mpirun_bs 3 replay "$second" --from-snapshot "$snap4" --pg "$PG" 2>/dev/null | replay_id)
rows=$(psql_q "$PG" "SELECT count(*) FROM replay_resultados WHERE replay_id = $id")
assert_eq "$rows" "$(psql_q "$PG" "SELECT count(*) FROM transacoes WHERE batch_id BETWEEN 5 AND 8")" \
    "rows replayed from the snapshot"
assert_eq "$(compare "$id")" 0 "replay of batches 5-8 from the snapshot differs from the stream"

# 3. What-if: limits at 50% reject more, as a new result set; the stream is untouched.
printf '[rules]\nlimit_percent = 50\n' >"$BS_TEST_TMP/half.ini"
id=$(mpirun_bs 2 replay "$first" --rules "$BS_TEST_TMP/half.ini" --pg "$PG" 2>/dev/null | replay_id)
more=$(psql_q "$PG" "SELECT (SELECT count(*) FROM replay_resultados WHERE replay_id = $id
    AND motivo = 'limite_excedido') > (SELECT count(*) FROM transacoes WHERE batch_id <= 4
    AND motivo = 'limite_excedido')")
assert_eq "$more" t "what-if replay with lower limits rejects more for limit"
assert_eq "$(psql_q "$PG" "SELECT md5(string_agg(id_transacao || status || coalesce(motivo, '')
    || batch_id, ',' ORDER BY id_transacao)) FROM transacoes")" "$stream_sum" "stream tables untouched"

# 4. produce --hdf5 -> replay -> HDF5 results file, on 2 ranks; h5dump reads it.
"$BANKSTREAM" produce --pg "$PG" --hdf5 "$BS_TEST_TMP/hist.h5" --count 5000 --seed 8 \
    --start-time 1740000000000 --historic 0 --quiet
mpirun_bs 2 replay "$BS_TEST_TMP/hist.h5" --out "$BS_TEST_TMP/results.h5" --batch-size 500 \
    --pg "$PG" >/dev/null 2>&1 || fail "replay to HDF5"
layout=$(h5dump -H "$BS_TEST_TMP/results.h5")
for d in transactions/id results/status results/reason results/t5; do
    assert_contains "$layout" "DATASET \"$(basename $d)\"" "results file has $d"
done
h5dump -d /results/status -y -w 1 -o "$BS_TEST_TMP/status.txt" "$BS_TEST_TMP/results.h5" >/dev/null
statuses=$(tr -d ' ,' <"$BS_TEST_TMP/status.txt" | grep -v '^$' | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')
assert_eq "$(tr -d ' ,' <"$BS_TEST_TMP/status.txt" | grep -c .)" 5000 "rows in the results file"
[[ "$statuses" != *255* ]] || fail "undecided rows in the results file: $statuses"

# 4b. Two archives, batches of 700 rows on 2 ranks with windows of 2 x 300:
#     a batch never spans the archives (the first one's last batch has 100
#     rows), the batch ids go on from one archive to the next, and the
#     results equal those of one rank with windows of 2 batches.
for n in 1 2; do
    BANKSTREAM_REPLAY_SLICE_ROWS=$((n == 2 ? 300 : 1400)) mpirun_bs $n replay "$BS_TEST_TMP/hist.h5" \
        "$BS_TEST_TMP/hist.h5" --out "$BS_TEST_TMP/two$n.h5" --batch-size 700 --pg "$PG" \
        >/dev/null 2>&1 || fail "replay of two archives (-np $n)"
done
h5dump -y -w 0 -o "$BS_TEST_TMP/two.batch" -d /results/batch_id "$BS_TEST_TMP/two2.h5" >/dev/null
batches=$(tr ',' '\n' <"$BS_TEST_TMP/two.batch" | tr -d ' ' | grep . | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')
assert_eq "$batches" "0:700 1:700 2:700 3:700 4:700 5:700 6:700 7:100 8:700 9:700 10:700 11:700 12:700 13:700 14:700 15:100" \
    "batches over two archives of 5000 rows"
for g in /transactions /results; do
    cmp -s <(h5dump -g $g "$BS_TEST_TMP/two1.h5" | tail -n +2) <(h5dump -g $g "$BS_TEST_TMP/two2.h5" | tail -n +2) ||
        fail "$g of two-archive replays on 1 and 2 ranks differ (h5dump)"
done

# 4c. An archive in the order of older versions, not event order within a
#     batch (tests/mpi/archive_reorder.c reverses each batch of 500 rows):
#     the rank that reads a slice sorts it before the rows go to their
#     owners. On 1, 2 and 3 ranks (windows of a few hundred rows, so that
#     batches straddle them; on one node the rows and the receivers'
#     questions go through shared memory) the results are the same, row for
#     row, and each transaction's result is the one it gets from the
#     archive in order (its times are a millisecond apart: reversing a batch
#     only permutes its rows).
"$BS_BUILD/mpi/archive_reorder" "$BS_TEST_TMP/hist.h5" "$BS_TEST_TMP/reversed.h5" 500 ||
    fail "archive_reorder"
for n in 1 2 3; do
    BANKSTREAM_REPLAY_SLICE_ROWS=$((n == 1 ? 1000 : 350)) mpirun_bs $n replay "$BS_TEST_TMP/reversed.h5" \
        --out "$BS_TEST_TMP/rev$n.h5" --batch-size 500 --pg "$PG" >"$BS_TEST_TMP/rev$n.out" 2>&1 ||
        { tail -5 "$BS_TEST_TMP/rev$n.out"; fail "replay of the reversed archive (-np $n)"; }
done
assert_contains "$(cat "$BS_TEST_TMP/rev1.out")" "routing: none, one rank" "-np 1 routes nothing"
for n in 2 3; do
    assert_contains "$(cat "$BS_TEST_TMP/rev$n.out")" "routing: shared memory, one node" \
        "-np $n on one node shares its rows in memory"
    for g in /transactions /results; do
        cmp -s <(h5dump -g $g "$BS_TEST_TMP/rev1.h5" | tail -n +2) <(h5dump -g $g "$BS_TEST_TMP/rev$n.h5" | tail -n +2) ||
            fail "$g of the reversed archive's replays on 1 and $n ranks differ (h5dump)"
    done
done
by_id() { # results file -> "id status reason t5" lines, sorted
    local d path
    for d in id status reason t5; do
        path=/results/$d
        [ $d = id ] && path=/transactions/id
        h5dump -d $path -y -w 0 -o "$BS_TEST_TMP/col.txt" "$1" >/dev/null
        tr -d ' \n' <"$BS_TEST_TMP/col.txt" | tr ',' '\n' | grep . >"$BS_TEST_TMP/col.$d"
    done
    paste -d ' ' <(paste -d , $(printf -- '- %.0s' $(seq 16)) <"$BS_TEST_TMP/col.id") \
        "$BS_TEST_TMP/col.status" "$BS_TEST_TMP/col.reason" "$BS_TEST_TMP/col.t5" | sort
}
mpirun_bs 1 replay "$BS_TEST_TMP/hist.h5" --out "$BS_TEST_TMP/inorder.h5" --batch-size 500 --pg "$PG" \
    >/dev/null 2>&1 || fail "replay of the archive in order"
assert_eq "$(by_id "$BS_TEST_TMP/rev2.h5" | md5sum)" "$(by_id "$BS_TEST_TMP/inorder.h5" | md5sum)" \
    "each transaction's result, reversed archive on 2 ranks against the archive in order"

# 4d. Slices of a chunk or more (the archive's chunks are 65,536 rows): the
#     ranks' slices meet at whole chunks, and each window's length (whole
#     batches) is the one that makes the slices most even, so windows differ
#     in length from rank count to rank count. The results of 300,000 rows on
#     2 and 3 ranks equal those on 1, column for column.
"$BANKSTREAM" produce --pg "$PG" --hdf5 "$BS_TEST_TMP/big.h5" --count 300000 --seed 9 \
    --start-time 1740000000000 --historic 0 --quiet
for n in 1 2 3; do
    BANKSTREAM_REPLAY_SLICE_ROWS=$((n == 1 ? 200000 : n == 2 ? 70000 : 66000)) mpirun_bs $n replay \
        "$BS_TEST_TMP/big.h5" --out "$BS_TEST_TMP/big$n.h5" --batch-size 1000 --pg "$PG" \
        >"$BS_TEST_TMP/big$n.out" 2>&1 || { tail -5 "$BS_TEST_TMP/big$n.out"; fail "replay of big.h5 (-np $n)"; }
done
for n in 2 3; do
    for d in /transactions/id /results/batch_id /results/status /results/reason /results/t5 /results/t7; do
        h5dump -d $d -b LE -o "$BS_TEST_TMP/big1.bin" "$BS_TEST_TMP/big1.h5" >/dev/null
        h5dump -d $d -b LE -o "$BS_TEST_TMP/big$n.bin" "$BS_TEST_TMP/big$n.h5" >/dev/null
        cmp -s "$BS_TEST_TMP/big1.bin" "$BS_TEST_TMP/big$n.bin" ||
            fail "$d of big.h5's replays on 1 and $n ranks differ (h5dump)"
    done
done
h5dump -d /results/batch_id -b LE -o "$BS_TEST_TMP/big2.bin" "$BS_TEST_TMP/big2.h5" >/dev/null
assert_eq "$(python3 -c 'import sys, struct, collections; b = open(sys.argv[1], "rb").read()
print(sorted(set(collections.Counter(struct.unpack(f"<{len(b) // 8}q", b)).values())))' "$BS_TEST_TMP/big2.bin")" \
    "[1000]" "rows per batch in big.h5's replay on 2 ranks"

# 5. Bad input: one clear line naming the file (and dataset), exit non-zero, nothing written.
before=$(psql_q "$PG" "SELECT count(*) FROM replay_runs")
assert_fails "missing.h5" mpirun_bs 1 replay "$BS_TEST_TMP/missing.h5" --pg "$PG"
echo "not hdf5" >"$BS_TEST_TMP/junk.h5"
assert_fails "junk.h5" mpirun_bs 2 replay "$BS_TEST_TMP/junk.h5" --pg "$PG"
assert_fails "snap-000000000004.h5" mpirun_bs 1 replay "$snap4" --pg "$PG"
assert_eq "$(psql_q "$PG" "SELECT count(*) FROM replay_runs")" "$before" "nothing written on bad input"
rm -f "$BS_TEST_TMP/none.h5"
assert_fails "junk.h5" mpirun_bs 1 replay "$BS_TEST_TMP/junk.h5" --out "$BS_TEST_TMP/none.h5" --pg "$PG"
[ ! -e "$BS_TEST_TMP/none.h5" ] || fail "a results file was left by a failed replay"
# 6. A crash in the middle of an interval: the restart rebuilds that interval's
#    archive from the committed rows; every committed transaction is archived
#    exactly once and the rebuilt archive replays to the stream's results.
PG2=$(new_database replaycrash --users 1000)
TOPIC2=$(new_topic replaycrash)
SNAP2="$BS_TEST_TMP/replay_crash_$$"
"$BANKSTREAM" produce --pg "$PG2" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC2" --count 12000 \
    --rate 0 --seed 4 --start-time 1750000000000 --historic 0 --quiet
# No periodic snapshot falls inside this 24-batch stream (every = 40), so
# whenever the kill lands (after batch 6), committed batches are unarchived.
printf '[snapshot]\ndir = %s\nevery = 40\nmin_seconds = 0\n[batch]\nsize = 500\nmax_ms = 0\n' "$SNAP2" \
    >"$BS_TEST_TMP/crash.ini"
mpirun_bs 2 run "$BS_TEST_TMP/crash.ini" --pg "$PG2" --brokers "$BS_TEST_BROKERS" \
    --topic "$TOPIC2" >"$BS_TEST_TMP/crash1.out" 2>&1 &
for _ in $(seq 300); do
    [ "$(psql_q "$PG2" "SELECT coalesce(max(batch_id), 0) FROM batch_log")" -ge 6 ] && break
    sleep 0.05
done
pkill -9 -f "bankstream run $BS_TEST_TMP/crash.ini" || fail "no ranks to kill"
wait || true
mpirun_bs 3 run "$BS_TEST_TMP/crash.ini" --pg "$PG2" --brokers "$BS_TEST_BROKERS" \
    --topic "$TOPIC2" --until-idle >"$BS_TEST_TMP/crash2.out" 2>&1 || fail "rerun after the crash"
assert_contains "$(cat "$BS_TEST_TMP/crash2.out")" "rebuilt from the database" "archive rebuilt"
archived=0
for f in "$SNAP2"/archive-*.h5; do
    case "$f" in *-open.h5) fail "unpublished archive left: $f" ;; esac
    n=$(h5dump -a /n_rows "$f" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
    archived=$((archived + n))
done
assert_eq "$archived" "$(psql_q "$PG2" "SELECT count(*) FROM transacoes")" \
    "archives hold every committed transaction once"
rebuilt=$(ls "$SNAP2"/archive-000000000001-*.h5)
id=$(mpirun_bs 2 replay "$rebuilt" --pg "$PG2" 2>/dev/null | replay_id)
PG_SAVE=$PG
PG=$PG2
assert_eq "$(psql_q "$PG2" "SELECT count(*) FROM replay_resultados WHERE replay_id = $id")" \
    "$archived" "rows replayed from the rebuilt archive"
assert_eq "$(compare "$id")" 0 "replay of the rebuilt archive differs from the stream"
PG=$PG_SAVE
echo ok
