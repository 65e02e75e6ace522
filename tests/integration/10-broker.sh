#!/usr/bin/env bash
# tests/integration/10-broker.sh - `bankstream broker`, checked with kcat.
#
# On the shared broker ($BS_TEST_BROKERS): the default topic's metadata, a
# keyed produce/consume round trip, and consumer-group commits (a second
# member of the group gets nothing again, then exactly the new messages).
# On private brokers started here: --partitions/--topic, --brokers-file,
# --port 0, retention beyond librdkafka's 5 MiB per-partition default,
# port in use, bad flags, --help, and clean exit on SIGTERM and SIGINT.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

B=${BS_TEST_BROKERS:?BS_TEST_BROKERS is not set (run through tests/run)}
T=$(mktemp -d "$BS_TEST_TMP/broker.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

KC=(timeout 60 kcat -q)

# Partitions of a topic according to kcat's metadata listing (the mock
# auto-creates a topic it is asked about, with 4 partitions).
partition_count() { # brokers topic
    "${KC[@]}" -L -b "$1" -t "$2" | awk -v t="\"$2\"" '$1 == "topic" && $2 == t { print $4 }'
}

# Start a private broker; sets BPID and BOUT (its stdout file).
start_broker() { # name args...
    local name=$1; shift
    BOUT="$T/$name.out"
    "$BANKSTREAM" broker "$@" >"$BOUT" 2>"$T/$name.err" &
    BPID=$!
    PIDS+=("$BPID")
    for _ in $(seq 200); do
        [ -s "$BOUT" ] && return 0
        kill -0 "$BPID" 2>/dev/null || break
        sleep 0.05
    done
    fail "broker $name did not start: $(cat "$T/$name.err")"
}

stop_broker() { # pid signal -> checks exit status 0
    local rc=0
    kill -"$2" "$1"
    wait "$1" || rc=$?
    assert_eq "$rc" 0 "exit status after SIG$2"
}

# Group consumer: commits on close; short session timeout because the mock
# holds a group's rebalance for session.timeout.ms - 1 s after a member leaves.
group_consume() { # brokers group topic
    "${KC[@]}" -b "$1" -G "$2" -e -f '%k:%s\n' -X auto.offset.reset=earliest \
        -X session.timeout.ms=3000 -X heartbeat.interval.ms=500 "$3"
}

echo "== metadata of the default topic on the shared broker"
# (Apache Kafka does not create a topic for kcat's metadata request)
if mock_only "auto-creation of bank_transactions by a metadata request"; then
    assert_eq "$(partition_count "$B" bank_transactions)" 4 "partitions of bank_transactions"
fi

echo "== keyed round trip: 100 messages"
topic=$(new_topic broker_rt)
for i in $(seq 1 100); do echo "key$i:value $i $RANDOM"; done >"$T/sent"
"${KC[@]}" -P -b "$B" -t "$topic" -K: <"$T/sent"
"${KC[@]}" -C -b "$B" -t "$topic" -o beginning -e -f '%k:%s\n' >"$T/got"
assert_eq "$(wc -l <"$T/got")" 100 "messages consumed back"
assert_eq "$(sort "$T/got" | md5sum)" "$(sort "$T/sent" | md5sum)" "keys and values consumed back"
assert_eq "$(partition_count "$B" "$topic")" 4 "partitions of an auto-created topic"

echo "== consumer group commits"
topic=$(new_topic broker_grp)
group="g_$$_$RANDOM"
for i in $(seq 1 100); do echo "a$i:first $i"; done >"$T/first"
for i in $(seq 1 50); do echo "b$i:second $i"; done >"$T/second"
"${KC[@]}" -P -b "$B" -t "$topic" -K: <"$T/first"
group_consume "$B" "$group" "$topic" >"$T/g1"
assert_eq "$(sort "$T/g1" | md5sum)" "$(sort "$T/first" | md5sum)" "first member of $group"
group_consume "$B" "$group" "$topic" >"$T/g2"
assert_eq "$(wc -l <"$T/g2")" 0 "messages redelivered to $group after its commit"
"${KC[@]}" -P -b "$B" -t "$topic" -K: <"$T/second"
group_consume "$B" "other_$group" "$topic" >"$T/g4" & # a fresh group, meanwhile
fresh=$!
group_consume "$B" "$group" "$topic" >"$T/g3"
assert_eq "$(sort "$T/g3" | md5sum)" "$(sort "$T/second" | md5sum)" "$group resumes at its committed offsets"
wait "$fresh" || fail "consumer of a fresh group failed"
assert_eq "$(wc -l <"$T/g4")" 150 "messages seen by a fresh group"

echo "== --partitions 8 --topic other --brokers-file"
port=$(free_port)
start_broker p8 --port "$port" --partitions 8 --topic other --brokers-file "$T/p8.addr"
P8=$BPID
assert_eq "$(cat "$BOUT")" "127.0.0.1:$port" "printed bootstrap address"
assert_eq "$(cat "$T/p8.addr")" "127.0.0.1:$port" "--brokers-file content"
assert_eq "$(partition_count "127.0.0.1:$port" other)" 8 "partitions of other"
# (listing all topics: a metadata request naming a topic would auto-create it)
assert_eq "$("${KC[@]}" -L -b "127.0.0.1:$port" | awk '$1 == "topic" { print $2 }')" '"other"' \
    "topics of a broker started with --topic other"

echo "== retention beyond 5 MiB per partition"
# 30,000 x ~260 bytes with one key = 7.8 MB in a single partition, on the
# created topic and on an auto-created one.
seq 1 30000 | awk '{ printf "%07d %0250d\n", $1, $1 }' >"$T/big"
for t in other auto_big; do
    "${KC[@]}" -P -b "127.0.0.1:$port" -t "$t" -k samekey <"$T/big"
    "${KC[@]}" -C -b "127.0.0.1:$port" -t "$t" -o beginning -e -f '%s\n' >"$T/big.got"
    assert_eq "$(wc -l <"$T/big.got")" 30000 "messages kept in $t"
    assert_eq "$(md5sum <"$T/big.got")" "$(md5sum <"$T/big")" "content kept in $t"
done

echo "== port in use"
rc=0
"$BANKSTREAM" broker --port "$port" >/dev/null 2>"$T/inuse.err" || rc=$?
assert_eq "$rc" 1 "exit status for a port in use"
assert_contains "$(cat "$T/inuse.err")" "port $port is in use" "port-in-use message"
assert_eq "$(wc -l <"$T/inuse.err")" 1 "lines of the port-in-use message"

echo "== SIGTERM"
stop_broker "$P8" TERM
[ ! -e "$T/p8.addr" ] || fail "--brokers-file left behind after exit"

echo "== --port 0 and SIGINT"
start_broker p0 --port 0
addr=$(cat "$BOUT")
[[ "$addr" =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "--port 0 printed '$addr'"
assert_eq "$(partition_count "$addr" bank_transactions)" 4 "partitions behind --port 0"
stop_broker "$BPID" INT

echo "== usage errors"
for args in "--partitions 0" "--port 70000" "--port abc" "--port" "--bogus" "extra" "--topic a/b" \
    "--listen 198.51.100.77 --port 0" "--listen="; do
    rc=0
    # shellcheck disable=SC2086 # split the flags on purpose
    "$BANKSTREAM" broker $args >/dev/null 2>"$T/usage.err" || rc=$?
    assert_eq "$rc" 2 "exit status of 'broker $args'"
    assert_eq "$(wc -l <"$T/usage.err")" 1 "lines of the error for 'broker $args'"
done
assert_contains "$("$BANKSTREAM" broker --help)" "usage: bankstream broker" "--help output"
# An address this host does not have (serving on other hosts' address: 98-hosts).
assert_fails "--listen 198.51.100.77 is not an address of this host" \
    "$BANKSTREAM" broker --listen 198.51.100.77 --port "$(free_port)"

echo "broker tests passed"
