#!/usr/bin/env bash
# 12-kafka-sh.sh - scripts/kafka.sh's bad input (issue 13): every failure is
# one line on stderr saying what failed and what to do, and leaves nothing
# running.
#
#  - the jars cannot be fetched (Maven Central unreachable: a mirror on a
#    closed port, an empty local repository, an empty jar cache): one line
#    naming the repository and the log, for `fetch` and `start`;
#  - Maven or Java missing from PATH: one line saying to run `make deps`;
#  - a broker that never becomes ready (a broker-only node whose controller
#    does not exist; start timeout 10 s): a bounded wait, then the last
#    lines of its log with the reason, the broker stopped, the port free;
#  - a configuration that KRaft's format refuses: the exception's message;
#  - a broker that exits during start-up (a heap too small to start): said,
#    with its log's last lines;
#  - the port taken: one line naming the port, before any JVM starts;
#  - bad arguments and settings (--port, --dir, BANKSTREAM_KAFKA_PROPERTIES,
#    an unknown tool) and a stale pid file (a broker killed with -9): one
#    line, or none.
# Uses the jars that scripts/kafka.sh fetched into its usual cache; never
# touches the shared test broker.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KAFKA_SH=$ROOT/scripts/kafka.sh

T=$(mktemp -d "$BS_TEST_TMP/kafkash.XXXXXX")
listener=""
cleanup() {
    [ -n "$listener" ] && kill "$listener" 2>/dev/null
    for d in "$T"/b*; do
        [ -d "$d" ] && "$KAFKA_SH" stop --dir "$d" >/dev/null 2>&1
    done
    rm -rf "$T"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# Run kafka.sh expecting a failure whose stderr has exactly `lines` lines
# beginning "kafka.sh: " (progress lines included), the last one containing
# `want`. Sets ERR (stderr) and RC.
expect_fail() { # lines want args...
    local lines=$1 want=$2
    shift 2
    RC=0
    ERR=$("$KAFKA_SH" "$@" 2>&1 >/dev/null) || RC=$?
    [ "$RC" -ne 0 ] || fail "kafka.sh $*: expected a failure, got exit 0"
    assert_contains "$(tail -1 <<<"$ERR")" "$want" "last line of kafka.sh $*"
    local n
    n=$(grep -c . <<<"$ERR" || true)
    [ "$n" -eq "$lines" ] || fail "kafka.sh $*: expected $lines line(s) on stderr, got $n:
$ERR"
    [ "$(grep -vc '^kafka.sh: ' <<<"$ERR" || true)" -eq 0 ] ||
        fail "kafka.sh $*: stray output on stderr:
$ERR"
    echo "ok: kafka.sh $* -> exit $RC: $(tail -1 <<<"$ERR" | cut -c1-200)"
}

# --------------------------------------------------- the jars cannot be had
echo "== fetch with Maven Central unreachable"
cat >"$T/settings.xml" <<'EOF'
<settings><mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>
<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>
EOF
(
    export BANKSTREAM_KAFKA_CACHE=$T/cache
    export BANKSTREAM_KAFKA_MVN_ARGS="-s $T/settings.xml -Dmaven.repo.local=$T/m2"
    t0=$(now)
    # a progress line, then the reason
    expect_fail 2 "could not fetch the Kafka jars with Maven: Could not transfer artifact" fetch
    assert_contains "$ERR" "from/to unreachable (http://127.0.0.1:9/maven2): Connection refused" "what to reach"
    assert_contains "$ERR" "(log: $T/cache/fetch.log)" "the log named"
    [ ! -e "$T/cache/lib" ] && [ ! -e "$T/cache/.fetched" ] || fail "a failed fetch left $T/cache/lib or .fetched"
    echo "fetch failed in $(since "$t0") s"
    # start needs the jars (tool too, through the same fetch): the same line
    expect_fail 2 "could not fetch the Kafka jars with Maven" start --dir "$T/b-nojars" --port "$(free_port)"
)

echo "== Maven or Java missing"
mkdir -p "$T/nomvn" "$T/nojava"
for d in /usr/local/bin /usr/bin /bin; do
    for f in "$d"/*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        b=${f##*/}
        [ "$b" = mvn ] || [ -L "$T/nomvn/$b" ] || ln -sn "$f" "$T/nomvn/$b"
        [ "$b" = java ] || [ -L "$T/nojava/$b" ] || ln -sn "$f" "$T/nojava/$b"
    done
done
(
    export BANKSTREAM_KAFKA_CACHE=$T/cache2 PATH=$T/nomvn
    expect_fail 1 "mvn not found: run 'make deps' (installs maven)" fetch
)
(
    export BANKSTREAM_KAFKA_CACHE=$T/cache2 PATH=$T/nojava
    expect_fail 1 "java not found: run 'make deps' (installs openjdk-17-jre-headless)" fetch
)

# The jars from here on: the usual cache (fetched once; later runs find them).
"$KAFKA_SH" fetch 2>"$T/fetch.err" || fail "kafka.sh fetch: $(tail -1 "$T/fetch.err")"

echo "== a broker that never becomes ready"
# A broker-only node whose controller does not exist: it starts and waits
# for the controller forever.
port=$(free_port)
t0=$(now)
RC=0
ERR=$(BANKSTREAM_KAFKA_START_TIMEOUT=10 BANKSTREAM_KAFKA_PROPERTIES="process.roles=broker node.id=2
    listeners=PLAINTEXT://127.0.0.1:$port controller.quorum.voters=1@127.0.0.1:9" \
    "$KAFKA_SH" start --dir "$T/b-slow" --port "$port" 2>&1 >/dev/null) || RC=$?
took=$(since "$t0")
echo "$ERR" | cut -c1-200 | sed 's/^/    /'
[ "$RC" -ne 0 ] || fail "start of a broker without a controller succeeded"
assert_contains "$(tail -1 <<<"$ERR")" "did not answer metadata on 127.0.0.1:$port within 10 s; stopped it (log: $T/b-slow/server.log)" \
    "the last line after a start that timed out"
assert_contains "$ERR" "kafka.sh: last warnings and errors in $T/b-slow/server.log:" "the log's warnings announced"
assert_contains "$ERR" "Connection to node 1 (/127.0.0.1:9) could not be established" "the log's last lines say why"
awk -v t="$took" 'BEGIN { exit !(t < 10 + 35) }' || fail "start took $took s with a 10 s timeout"
st=$("$KAFKA_SH" status --dir "$T/b-slow" 2>&1) && fail "status after a failed start: $st (exit 0)"
assert_eq "$st" stopped "status after a failed start"
ss -Htln "sport = :$port" | grep -q . && fail "port $port still in use after a failed start"
echo "ok: gave up after $took s; broker stopped, port free"

echo "== a KRaft directory that cannot be formatted"
(
    export BANKSTREAM_KAFKA_PROPERTIES="process.roles=broker"
    expect_fail 1 "could not format the KRaft log directory $T/b-fmt/data: Exception in thread \"main\" java.lang.IllegalArgumentException: requirement failed: If process.roles contains just the 'broker' role" \
        start --dir "$T/b-fmt" --port "$(free_port)"
)

echo "== a broker that exits during start-up"
port=$(free_port)
RC=0
ERR=$(BANKSTREAM_KAFKA_HEAP="-Xms1m -Xmx1m" "$KAFKA_SH" start --dir "$T/b-heap" --port "$port" 2>&1 >/dev/null) || RC=$?
echo "$ERR" | sed 's/^/    /'
[ "$RC" -ne 0 ] || fail "start with a 1 MB heap succeeded"
assert_contains "$(tail -1 <<<"$ERR")" "the broker exited during start-up (log: $T/b-heap/server.log)" \
    "the last line when the JVM cannot start"
assert_contains "$ERR" "heap" "the log's last lines say why"

echo "== port taken"
port=$(free_port)
python3 -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(1); time.sleep(120)" &
listener=$!
for _ in $(seq 50); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.1; done
t0=$(now)
expect_fail 1 "port $port is already in use (pick another --port)" start --dir "$T/b-port" --port "$port"
awk -v t="$(since "$t0")" 'BEGIN { exit !(t < 5) }' || fail "the taken port was found only after $(since "$t0") s"
[ ! -e "$T/b-port/kafka.pid" ] || fail "a broker was started on a taken port"
kill "$listener"
listener=""

echo "== bad arguments and settings"
expect_fail 1 "start: --port expects a TCP port number, not 'x'" start --dir "$T/b-args" --port x
expect_fail 1 "start: --port expects a TCP port number, not '70000'" start --dir "$T/b-args" --port 70000
expect_fail 1 "start: --dir DIR is required" start --port 9092
expect_fail 1 "expected --dir DIR" stop
expect_fail 1 "tool: unknown tool 'nope'" tool nope
RC=0
ERR=$(BANKSTREAM_KAFKA_PROPERTIES="log.retention.ms=1000 oops" "$KAFKA_SH" start --dir "$T/b-props" \
    --port "$(free_port)" 2>&1 >/dev/null) || RC=$?
[ "$RC" -ne 0 ] || fail "start with a bad BANKSTREAM_KAFKA_PROPERTIES succeeded"
assert_eq "$ERR" "kafka.sh: BANKSTREAM_KAFKA_PROPERTIES: expected KEY=VALUE, not 'oops'" \
    "stderr with a bad BANKSTREAM_KAFKA_PROPERTIES"

echo "== a stale pid file (a broker killed with -9)"
mkdir -p "$T/b-stale"
sleep 0.1 &
dead=$!
wait "$dead"
echo "$dead" >"$T/b-stale/kafka.pid"
RC=0
out=$("$KAFKA_SH" status --dir "$T/b-stale" 2>"$T/stale.err") || RC=$?
assert_eq "$RC/$out/$(cat "$T/stale.err")" "3/stopped/" "status (exit/stdout/stderr) with a stale pid file"
out=$("$KAFKA_SH" stop --dir "$T/b-stale" 2>"$T/stale.err")
assert_eq "$out/$(cat "$T/stale.err")" "stopped/" "stop (stdout/stderr) with a stale pid file"
echo "ok: a stale pid file reads as stopped, silently"
echo "all kafka.sh bad-input checks passed"
