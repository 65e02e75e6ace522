#!/usr/bin/env bash
# 85-archive.sh - `bankstream produce --hdf5` and the transaction archive
# (h5archive.h): the archive holds exactly the transactions that `produce
# --output` writes with the same flags (JSON decoded by Python, archive read
# by h5dump), its layout and attributes as h5dump -H/-a shows them, parallel
# reads through h5archive_read with -np 1 and -np 2 agreeing with h5dump, and
# the bad inputs: missing, not HDF5, foreign, missing dataset, newer version
# (one line naming file and dataset, nonzero exit); produce's usage errors
# (exit 2) and failures (exit 1, nothing written, no .partial left).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BS_TEST_TMP/archive.XXXXXX")
PG=$(new_database archive --users 500)
FLAGS=(--count 20000 --seed 9 --start-time 1750000000000 --historic 0 --rate 0)
produce() { "$BANKSTREAM" produce --pg "$PG" --quiet "$@"; }

# The reading driver (tests/bench/archive_read.c), built by make with the
# objects of the binary under test (the ASan build when BANKSTREAM points there).
[ -x "$BS_BUILD/bench/archive_read" ] || fail "$BS_BUILD/bench/archive_read is missing: run make"
reader() { "$BS_BUILD/bench/archive_read" "$@"; }
reader_np() { local n=$1; shift; mpirun_np "$n" "$BS_BUILD/bench/archive_read" "$@"; }

# --- the same transactions as --output ----------------------------------------
out=$(produce --hdf5 "$WORK/a.h5" "${FLAGS[@]}" 2>&1 >/dev/null) || fail "produce --hdf5: $out"
produce --output "$WORK/f.tsv" "${FLAGS[@]}"
[ -f "$WORK/a.h5" ] || fail "a.h5 not written"
[ ! -e "$WORK/a.h5.partial" ] || fail "a.h5.partial left behind"
# The summary line is the one produce prints for Kafka.
summary=$("$BANKSTREAM" produce --pg "$PG" --hdf5 "$WORK/s.h5" --count 10 --rate 0 2>&1)
assert_contains "$summary" "produced 10 messages in" "summary line"
assert_contains "$summary" "HDF5 archive $WORK/s.h5" "start line"
# The clock follows --rate and --historic as for Kafka, although the archive
# is written unpaced (60 messages at 120/s would take half a second paced).
produce --hdf5 "$WORK/c.h5" --count 60 --rate 120 --historic 20 --seed 4 --start-time 1750000000000
produce --output "$WORK/c.tsv" --count 60 --rate 120 --historic 20 --seed 4 --start-time 1750000000000

dump() { # file dataset -> values, one per line (h5dump is the independent reader)
    h5dump -d "$2" -y -w 0 -o "$WORK/dump.tmp" "$1" >/dev/null
    tr -d ' \n' <"$WORK/dump.tmp" | tr ',' '\n'
}
attr() { # file object -> the value of a scalar attribute
    h5dump -a "$2" "$1" | sed -n 's/^ *(0): //p'
}
for d in id payer receiver time_us amount_cents region modality kafka_partition kafka_offset \
    kafka_ts_ms batch_id; do
    dump "$WORK/a.h5" /transactions/$d >"$WORK/a.$d"
done
for d in status reason t5 t6 t7; do dump "$WORK/a.h5" /results/$d >"$WORK/a.$d"; done
for d in id time_us amount_cents; do dump "$WORK/c.h5" /transactions/$d >"$WORK/c.$d"; done
attr "$WORK/a.h5" /transactions/region/codes >"$WORK/codes"
attr "$WORK/a.h5" /transactions/modality/names >"$WORK/names"

python3 - "$WORK" <<'EOF'
import json, sys, uuid
from decimal import Decimal
work = sys.argv[1]
codes = open(f"{work}/codes").read().strip().strip('"').split(",")
names = open(f"{work}/names").read().strip().strip('"').split(",")
assert codes[:3] == ["AC", "AL", "AP"] and len(codes) == 27, codes
assert names == ["PIX", "TED", "DOC", "Boleto"], names
for f, tsv in (("a", "f.tsv"), ("c", "c.tsv")):
    col = lambda d: open(f"{work}/{f}.{d}").read().split()
    msgs = [json.loads(l.split("\t", 1)[1], parse_float=Decimal) for l in open(f"{work}/{tsv}")]
    n = len(msgs)
    def uuids(d):
        b = [int(x) for x in col(d)]
        assert len(b) == 16 * n, (d, len(b), n)
        return [str(uuid.UUID(bytes=bytes(b[16 * i:16 * i + 16]))) for i in range(n)]
    ids = uuids("id")
    cols = {d: [int(x) for x in col(d)] for d in ("time_us", "amount_cents")}
    for d, v in cols.items():
        assert len(v) == n, (f, d, len(v), n)
    for i, m in enumerate(msgs):
        where = f"{f}.h5 row {i}: {m}"
        assert ids[i] == m["id_transacao"], where
        assert cols["time_us"][i] == m["data_horario"] * 1000, where
        assert cols["amount_cents"][i] == int(m["valor_transacao"] * 100), where
    if f == "c":
        print(f"c.h5: {n} rows equal to {tsv} (ids, times, amounts)")
        continue
    payers, receivers = uuids("payer"), uuids("receiver")
    cols.update({d: [int(x) for x in col(d)] for d in ("region", "modality", "kafka_partition",
                 "kafka_offset", "kafka_ts_ms", "batch_id", "status", "reason")})
    for d in ("t5", "t6", "t7"):
        assert all(x.lower() == "nan" for x in col(d)), f"{f}.h5 {d} not all NaN"
    for d, v in cols.items():
        assert len(v) == n, (f, d, len(v), n)
    for i, m in enumerate(msgs):
        where = f"{f}.h5 row {i}: {m}"
        assert payers[i] == m["id_usuario_pagador"], where
        assert receivers[i] == m["id_usuario_recebedor"], where
        assert codes[cols["region"][i]] == m["id_regiao"], where
        assert names[cols["modality"][i]] == m["modalidade_pagamento"], where
        assert cols["kafka_partition"][i] == -1 and cols["kafka_offset"][i] == -1, where
        assert cols["kafka_ts_ms"][i] == m["data_horario"], where
        assert cols["batch_id"][i] == 0 and cols["status"][i] == 255, where
        assert cols["reason"][i] == 0, where
    print(f"{f}.h5: {n} rows equal to {tsv}")
EOF

# --- layout and attributes, as h5dump shows them -----------------------------
layout=$(h5dump -H "$WORK/a.h5")
for d in id payer receiver; do
    grep -A2 "DATASET \"$d\"" <<<"$layout" | grep -q 'H5T_STD_U8LE' || fail "/transactions/$d type"
    grep -A2 "DATASET \"$d\"" <<<"$layout" | grep -q '( 20000, 16 )' || fail "/transactions/$d shape"
done
for d in time_us amount_cents kafka_offset kafka_ts_ms batch_id; do
    grep -A2 "DATASET \"$d\"" <<<"$layout" | grep -q 'H5T_STD_I64LE' || fail "$d type"
done
grep -A1 'DATASET "kafka_partition"' <<<"$layout" | grep -q H5T_STD_I32LE || fail "partition type"
for d in t5 t6 t7; do
    grep -A1 "DATASET \"$d\"" <<<"$layout" | grep -q H5T_IEEE_F64LE || fail "$d type"
done
[ "$(grep -c 'ATTRIBUTE "units"' <<<"$layout")" -eq 16 ] || fail "units on every dataset"
[ "$(grep -c 'ATTRIBUTE "meaning"' <<<"$layout")" -eq 16 ] || fail "meaning on every dataset"
props=$(h5dump -p -H -d /transactions/amount_cents "$WORK/a.h5")
assert_contains "$props" "CHUNKED ( 65536 )" "chunking"
assert_contains "$props" "SHUFFLE" "shuffle filter"
assert_contains "$props" "DEFLATE { LEVEL 1 }" "deflate filter"
assert_eq "$(attr "$WORK/a.h5" /format_version)" "1" "format_version"
assert_eq "$(attr "$WORK/a.h5" /kind)" '"bankstream transaction archive"' "kind"
assert_eq "$(attr "$WORK/a.h5" /source)" '"produce"' "source"
assert_eq "$(attr "$WORK/a.h5" /topic)" '"bank_transactions"' "topic"
assert_eq "$(attr "$WORK/a.h5" /seed)" "9" "seed"
assert_eq "$(attr "$WORK/a.h5" /n_rows)" "20000" "n_rows"
assert_eq "$(attr "$WORK/a.h5" /first_batch_id)" "-1" "first_batch_id"
assert_eq "$(attr "$WORK/a.h5" /last_batch_id)" "-1" "last_batch_id"
now_us=$(($(date +%s) * 1000000))
created=$(attr "$WORK/a.h5" /created_unix_us)
[ $((now_us - created)) -lt 600000000 ] && [ $((created - now_us)) -lt 600000000 ] \
    || fail "created_unix_us $created is not now ($now_us)"

# --- h5archive_read with 1 and 2 ranks: the same rows as h5dump ---------------
reader dump "$WORK/a.h5" "$WORK/r1" >"$WORK/info1"
reader_np 2 dump "$WORK/a.h5" "$WORK/r2" >"$WORK/info2"
cmp "$WORK/r1.0" <(cat "$WORK/r2.0" "$WORK/r2.1") || fail "-np 2 read differs from -np 1"
[ -s "$WORK/r2.0" ] && [ -s "$WORK/r2.1" ] || fail "-np 2: a rank read nothing"
assert_contains "$(cat "$WORK/info2")" "source=produce topic=bank_transactions n_rows=20000" "info"
paste -d' ' <(cut -f6 "$WORK/r1.0") "$WORK/a.amount_cents" | awk '$1 != $2 {exit 1}' \
    || fail "h5archive_read amounts differ from h5dump"
paste -d' ' <(cut -f5 "$WORK/r1.0") "$WORK/a.time_us" | awk '$1 != $2 {exit 1}' \
    || fail "h5archive_read times differ from h5dump"
[ "$(wc -l <"$WORK/r1.0")" -eq 20000 ] || fail "h5archive_read row count"

# --- bad inputs: one line naming file and dataset, nonzero exit ----------------
assert_fails "$WORK/none.h5: No such file or directory" reader dump "$WORK/none.h5" "$WORK/x"
echo "id,amount" >"$WORK/text.h5"
assert_fails "$WORK/text.h5: not an HDF5 file" reader dump "$WORK/text.h5" "$WORK/x"
h5copy -i "$WORK/a.h5" -o "$WORK/foreign.h5" -s /transactions/amount_cents -d /amounts
assert_fails "$WORK/foreign.h5: not a bankstream transaction archive" \
    reader dump "$WORK/foreign.h5" "$WORK/x"
cp "$WORK/a.h5" "$WORK/nodset.h5"
reader strip "$WORK/nodset.h5" /transactions/amount_cents
assert_fails "$WORK/nodset.h5: dataset /transactions/amount_cents is missing" \
    reader dump "$WORK/nodset.h5" "$WORK/x"
cp "$WORK/a.h5" "$WORK/v2.h5"
reader set-version "$WORK/v2.h5" 2
assert_fails "format version 2 of $WORK/v2.h5 is newer than this bankstream supports (1)" \
    reader_np 2 dump "$WORK/v2.h5" "$WORK/x"
[ ! -e "$WORK/x.0" ] || fail "a failed read wrote output"
err=$(reader dump "$WORK/v2.h5" "$WORK/x" 2>&1 >/dev/null) || true
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "error is not one line: $err"

# --- produce --hdf5: usage errors (2), failures (1), nothing written -----------
rc=0; err=$(produce --hdf5 "$WORK/u.h5" 2>&1) || rc=$?
assert_eq "$rc" 2 "--hdf5 without --count exit code"
assert_contains "$err" "--hdf5 needs --count" "--hdf5 without --count"
rc=0; err=$(produce --hdf5 "" --count 5 2>&1) || rc=$?
assert_eq "$rc" 2 "--hdf5 '' exit code"
rc=0; produce --hdf5 "$WORK/u.h5" --output "$WORK/u.tsv" --count 5 2>/dev/null || rc=$?
assert_eq "$rc" 2 "--hdf5 with --output exit code"
assert_fails "$WORK/no/dir/u.h5.partial: cannot create: No such file or directory" \
    produce --hdf5 "$WORK/no/dir/u.h5" --count 5
EMPTY=$(new_database archive_empty)
assert_fails "no usuarios table" "$BANKSTREAM" produce --pg "$EMPTY" --hdf5 "$WORK/u.h5" --count 5
[ ! -e "$WORK/u.h5" ] && [ ! -e "$WORK/u.h5.partial" ] && [ ! -e "$WORK/u.tsv" ] \
    || fail "a failed produce left a file"
# Interrupted: the archive is not published and the .partial goes.
# (Not through the produce function: a background subshell would ignore SIGINT.)
"$BANKSTREAM" produce --pg "$PG" --hdf5 "$WORK/big.h5" --count 20000000 --rate 0 2>"$WORK/int.err" &
pid=$!
for _ in $(seq 100); do [ -e "$WORK/big.h5.partial" ] && break; sleep 0.05; done
sleep 0.2
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -ne 0 ] || fail "interrupted produce --hdf5 exited 0"
assert_contains "$(cat "$WORK/int.err")" "was not written" "interrupted message"
[ ! -e "$WORK/big.h5" ] && [ ! -e "$WORK/big.h5.partial" ] || fail "interrupted produce left a file"
echo "archive: ok"
