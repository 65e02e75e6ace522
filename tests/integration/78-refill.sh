#!/usr/bin/env bash
# 78-refill.sh - a topic that is not the one batch_log describes is refused
# (issue 12.2): a broker that lost its data and was refilled with more
# messages than were read (so that every logged offset still exists), one
# refilled with fewer, and --accept-gap, which goes on and says so in
# batch_log.nota. Uses a broker of its own (it restarts it empty).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

T=$(mktemp -d "$BS_TEST_TMP/refill.XXXXXX")
PORT=$(free_port)
BPID=
start_broker() {
    "$BANKSTREAM" broker --port "$PORT" >"$T/broker.out" 2>"$T/broker.err" &
    BPID=$!
    for _ in $(seq 100); do [ -s "$T/broker.out" ] && return 0; sleep 0.1; done
    fail "the broker did not start: $(cat "$T/broker.err")"
}
stop_broker() { kill "$BPID" 2>/dev/null || true; wait "$BPID" 2>/dev/null || true; }
trap 'stop_broker; drop_databases' EXIT
B=127.0.0.1:$PORT
TOPIC=bank_transactions
DB=$(new_database refill --users 500)
produce() { "$BANKSTREAM" produce --pg "$DB" --brokers "$B" --topic "$TOPIC" --count "$1" \
    --rate 0 --seed "$2" --historic 0 --quiet; }
run() { mpirun_bs 2 run --pg "$DB" --brokers "$B" --topic "$TOPIC" --batch-size 500 --batch-ms 0 \
    --until-idle --snapshot-dir none "$@" 2>&1; }

echo "== a first broker: 4000 messages, all processed"
start_broker
produce 4000 1
run >/dev/null || fail "the first run failed"
assert_eq "$(psql_q "$DB" "SELECT count(*) FROM transacoes")" 4000 "rows after the first run"

echo "== the broker loses its data and is refilled with 10000 other messages"
stop_broker
start_broker
produce 10000 2
rc=0
out=$(run) || rc=$?
[ "$rc" -ne 0 ] || fail "a refilled topic was accepted: $out"
assert_contains "$out" "not the topic bankstream read" "the refill is named"
assert_contains "$out" "--accept-gap" "the way to go on is named"
assert_eq "$(psql_q "$DB" "SELECT count(*) FROM transacoes")" 4000 "nothing written by the refused run"

echo "== refilled with fewer messages than were read"
stop_broker
start_broker
produce 100 3
rc=0
out=$(run) || rc=$?
[ "$rc" -ne 0 ] || fail "a shorter topic was accepted: $out"
assert_contains "$out" "the partition ends at" "a shorter partition is named"

echo "== --accept-gap goes on and records it"
produce 1000 4
out=$(run --accept-gap) || fail "--accept-gap failed: $out"
assert_contains "$out" "going on as --accept-gap asks" "the accepted gap is reported"
note=$(psql_q "$DB" "SELECT nota FROM batch_log WHERE nota IS NOT NULL")
assert_contains "$note" "--accept-gap" "batch_log.nota records it"
assert_eq "$(psql_q "$DB" "SELECT count(*) FROM batch_log WHERE nota IS NOT NULL")" 1 \
    "only the first batch after the gap carries the note"

echo "== the same topic again: no complaint (the check passes on the topic it read)"
produce 500 5
out=$(run) || fail "a run after the accepted gap failed: $out"
[[ "$out" != *"accept-gap"* ]] || fail "a consistent topic was questioned: $out"
echo ok
