#!/usr/bin/env bash
# 20-db.sh - `bankstream db start|stop|status` on a fresh cluster directory:
# the printed conninfo works with psql, a second start reuses the server,
# status exit codes (0 running, 3 stopped), port conflicts, unreachable
# directories, the on-demand start behind commands given no --pg, and
# shared_buffers (a quarter of the memory; ALTER SYSTEM overrides it).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

work=$(mktemp -d /tmp/bs-test-db.XXXXXX)
chmod 755 "$work"
dir="$work/pg"
listener=""
cleanup() {
    [ -n "$listener" ] && kill "$listener" 2>/dev/null
    "$BANKSTREAM" db stop --dir "$dir" >/dev/null 2>&1 || true
    "$BANKSTREAM" db stop --dir "$work/pg2" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
want="host=127.0.0.1 port=$port dbname=bank user=postgres"

# --- first start: initdb + start + database bank, one line on stdout
t0=$SECONDS
out=$("$BANKSTREAM" db start --dir "$dir" --port "$port")
echo "first start took $((SECONDS - t0)) s"
assert_eq "$out" "$want" "conninfo printed by db start"
assert_eq "$(cat "$dir/conninfo")" "$want" "DIR/conninfo"
settings="current_database(), current_setting('listen_addresses'), current_setting('fsync'),
          current_setting('max_wal_size'), current_setting('checkpoint_timeout'),
          current_setting('unix_socket_directories')"
assert_eq "$(psql_q "$out" "SELECT $settings")" "bank|127.0.0.1|on|2GB|15min|$(realpath "$dir")" \
    "database, listen address, fsync, max_wal_size, checkpoint_timeout, socket dir"
# shared_buffers: a quarter of the memory (the machine's, or the lowest
# limit of this control group and its ancestors), from 256 MB to 8 GB.
buffers_mb() { psql_q "$1" "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"; }
memory=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
while IFS= read -r line; do
    case "$line" in
        0::*) root=/sys/fs/cgroup file=memory.max group=${line#0::} ;;
        *:memory:*) root=/sys/fs/cgroup/memory file=memory.limit_in_bytes group=${line#*:memory:} ;;
        *) continue ;;
    esac
    while :; do
        l=$(cat "$root$group/$file" 2>/dev/null || true)
        [[ "$l" =~ ^[0-9]+$ ]] && [ "$l" -gt 0 ] && [ "$l" -lt "$memory" ] && memory=$l
        [ -z "${group#/}" ] && break
        group=${group%/*}
    done
done </proc/self/cgroup
quarter=$((memory / 4 / 1048576))
[ "$quarter" -lt 256 ] && quarter=256
[ "$quarter" -gt 8192 ] && quarter=8192
assert_eq "$(buffers_mb "$out")" "$quarter" "shared_buffers in MB, a quarter of $memory bytes"
# ALTER SYSTEM overrides it from the next start on (checked after the restarts below).
psql_q "$out" "ALTER SYSTEM SET shared_buffers = '200MB'"
[ -s "$dir/log/postgresql.log" ] || fail "no server log in $dir/log"
# Only 127.0.0.1 listens on the port (independent view: ss).
listening=$(ss -Htln "sport = :$port" | awk '{print $4}' | sort -u | tr '\n' ' ')
assert_eq "$listening" "127.0.0.1:$port " "listening sockets"
if [ "$(id -u)" = 0 ]; then
    pid=$(head -1 "$dir/data/postmaster.pid")
    assert_eq "$(ps -o user= -p "$pid" | tr -d ' ')" "postgres" "server user when started by root"
fi
psql_q "$out" "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)"

# --- second start reuses the running server
started=$(psql_q "$out" "SELECT pg_postmaster_start_time()")
out2=$("$BANKSTREAM" db start --dir "$dir")
assert_eq "$out2" "$want" "conninfo of the second start"
out3=$("$BANKSTREAM" db start --dir "$dir" --port "$port")
assert_eq "$out3" "$want" "conninfo of a start with the same port"
assert_eq "$(psql_q "$out" "SELECT pg_postmaster_start_time()")" "$started" "server was not restarted"
assert_fails "already runs on port $port" "$BANKSTREAM" db start --dir "$dir" --port "$(free_port)"

# --- status while running
rc=0; st=$("$BANKSTREAM" db status --dir "$dir") || rc=$?
assert_eq "$rc" 0 "exit status of db status while running"
assert_eq "$st" "running: $want" "db status while running"

# --- port in use: by our own running cluster, and by a plain listener
rc=0; err=$("$BANKSTREAM" db start --dir "$work/pg2" --port "$port" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status when the port is taken"
assert_contains "$err" "port $port on 127.0.0.1 is already in use" "port-in-use message"
assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "port-in-use error is one line"
[ ! -e "$work/pg2/data/PG_VERSION" ] || fail "initdb ran although the port was taken"
if command -v python3 >/dev/null; then
    other=$(free_port)
    python3 -c "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1',$other)); s.listen(); print('up', flush=True); time.sleep(60)" >"$work/listener.out" &
    listener=$!
    for _ in $(seq 50); do [ -s "$work/listener.out" ] && break; sleep 0.1; done
    assert_fails "port $other on 127.0.0.1 is already in use" \
        "$BANKSTREAM" db start --dir "$work/pg2" --port "$other"
    kill "$listener"; listener=""
fi

# --- stop, then status says stopped (exit 3) and the server is gone
assert_eq "$("$BANKSTREAM" db stop --dir "$dir")" "stopped" "db stop output"
rc=0; st=$("$BANKSTREAM" db status --dir "$dir") || rc=$?
assert_eq "$rc" 3 "exit status of db status when stopped"
assert_contains "$st" "stopped" "db status when stopped"
if psql_q "$out" "SELECT 1" >/dev/null 2>&1; then fail "server still answers after db stop"; fi
assert_eq "$("$BANKSTREAM" db stop --dir "$dir")" "not running" "db stop when stopped"
rc=0; err=$("$BANKSTREAM" db stop --dir "$work/no-such-dir" 2>&1) || rc=$?
assert_eq "$rc" 1 "db stop with a --dir holding no cluster"
assert_contains "$err" "no cluster under $work/no-such-dir" "db stop names the directory"
rc=0; "$BANKSTREAM" db status --dir "$work/nothing-here" >/dev/null || rc=$?
assert_eq "$rc" 3 "status of a directory without a cluster"

# --- on-demand start: no --pg, no PG*: init uses $BANKSTREAM_PGDIR/conninfo's port
rc=0
env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGDATABASE -u PGSERVICE BANKSTREAM_PGDIR="$dir" \
    "$BANKSTREAM" init --users 50 >/dev/null || rc=$?
assert_eq "$rc" 0 "init with the embedded cluster started on demand"
rc=0; st=$("$BANKSTREAM" db status --dir "$dir") || rc=$?
assert_eq "$rc" 0 "cluster running after on-demand start"
assert_eq "$st" "running: $want" "on-demand start kept the recorded port"
assert_eq "$(psql_q "$want" "SELECT count(*) FROM usuarios")" 50 "users loaded on demand"
assert_eq "$(psql_q "$want" "SELECT x FROM keep_me")" 42 "data kept across stop/start"
assert_eq "$(buffers_mb "$want")" 200 "shared_buffers set by ALTER SYSTEM, kept by the next start"
psql_q "$want" "ALTER SYSTEM RESET shared_buffers"

# --- a killed server: status notices, start recovers it with the data
kill -9 "$(head -1 "$dir/data/postmaster.pid")"
for _ in $(seq 50); do
    rc=0; "$BANKSTREAM" db status --dir "$dir" >/dev/null || rc=$?
    [ "$rc" = 3 ] && break
    sleep 0.1
done
assert_eq "$rc" 3 "status after the server was killed"
assert_eq "$("$BANKSTREAM" db start --dir "$dir")" "$want" "start after a kill"
assert_eq "$(psql_q "$want" "SELECT x FROM keep_me")" 42 "data kept across a kill"
assert_eq "$(buffers_mb "$want")" "$quarter" "shared_buffers after ALTER SYSTEM RESET and a start"
"$BANKSTREAM" db stop --dir "$dir" >/dev/null

# --- a database that is down at start is waited for (--pg-wait): a warning
# naming host:port and libpq's reason when the wait starts, one when connected
errf="$work/wait.err"
"$BANKSTREAM" init --pg "$want" --users 50 --pg-wait 60 >/dev/null 2>"$errf" &
initpid=$!
for _ in $(seq 100); do grep -q "waiting up to 60 s" "$errf" && break; sleep 0.1; done
assert_contains "$(head -1 "$errf")" "warning: PostgreSQL at 127.0.0.1:$port is not available (connection to server" \
    "warning when the wait starts"
"$BANKSTREAM" db start --dir "$dir" >/dev/null
rc=0; wait "$initpid" || rc=$?
assert_eq "$rc" 0 "exit status of an init that waited for the server"
assert_contains "$(tail -1 "$errf")" "warning: connected to PostgreSQL at 127.0.0.1:$port after" \
    "line when connected"
# A server that answers and refuses (here: no such database) is not waited for.
t0=$SECONDS
rc=0; err=$("$BANKSTREAM" init --pg "${want/dbname=bank/dbname=no_such_db}" --pg-wait 60 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status for a missing database"
assert_contains "$err" 'database "no_such_db" does not exist' "missing-database message"
assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "missing-database error is one line"
[ $((SECONDS - t0)) -lt 10 ] || fail "a missing database was waited for ($((SECONDS - t0)) s)"
"$BANKSTREAM" db stop --dir "$dir" >/dev/null
# Gives up after --pg-wait seconds, saying so.
t0=$SECONDS
rc=0; err=$("$BANKSTREAM" init --pg "$want" --pg-wait 3 2>&1 >/dev/null) || rc=$?
elapsed=$((SECONDS - t0))
assert_eq "$rc" 1 "exit status when the server never comes"
assert_contains "$(tail -1 <<<"$err")" "error: cannot connect to PostgreSQL at host=127.0.0.1 port=$port dbname=bank: " \
    "give-up message"
assert_contains "$(tail -1 <<<"$err")" "; waited 3 s; start it with 'bankstream db start'" "give-up message"
[ "$elapsed" -ge 3 ] && [ "$elapsed" -lt 10 ] || fail "gave up after $elapsed s, not 3"

# A server that says it is starting up (SQLSTATE 57P03, here from a stand-in
# speaking just enough of the protocol) is waited for; one that refuses the
# password (28P01) is not.
if command -v python3 >/dev/null; then
    fake_pg() { # port sqlstate message
        python3 - "$@" <<'PY' &
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); print("up", flush=True)
err = b"SFATAL\0VFATAL\0C" + sys.argv[2].encode() + b"\0M" + sys.argv[3].encode() + b"\0\0"
while True:
    c, _ = s.accept()
    try:
        while True:  # SSL or GSS encryption requests get "N", the startup packet the error
            n = struct.unpack("!I", c.recv(4, socket.MSG_WAITALL))[0]
            body = c.recv(n - 4, socket.MSG_WAITALL)
            if struct.unpack("!I", body[:4])[0] not in (80877103, 80877104): break
            c.sendall(b"N")
        c.sendall(b"E" + struct.pack("!I", len(err) + 4) + err)
    except Exception: pass
    c.close()
PY
        listener=$!
    }
    fport=$(free_port)
    fake_pg "$fport" 57P03 "the database system is starting up" >"$work/fake.out"
    for _ in $(seq 50); do [ -s "$work/fake.out" ] && break; sleep 0.1; done
    t0=$SECONDS
    rc=0; err=$("$BANKSTREAM" init --pg "host=127.0.0.1 port=$fport user=postgres" --pg-wait 2 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" 1 "exit status for a server that stays in start-up"
    assert_contains "$(head -1 <<<"$err")" "127.0.0.1:$fport is not available (connection to server at \"127.0.0.1\", port $fport failed: FATAL:  the database system is starting up); waiting up to 2 s" \
        "a server starting up is waited for"
    [ $((SECONDS - t0)) -ge 2 ] || fail "a server starting up was not waited for"
    kill "$listener"; wait "$listener" 2>/dev/null || true
    fport=$(free_port)
    fake_pg "$fport" 28P01 'password authentication failed for user "postgres"' >"$work/fake.out"
    for _ in $(seq 50); do [ -s "$work/fake.out" ] && break; sleep 0.1; done
    rc=0; err=$("$BANKSTREAM" init --pg "host=127.0.0.1 port=$fport user=postgres" --pg-wait 60 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" 1 "exit status for a refused password"
    assert_eq "$err" "bankstream init: error: cannot connect to PostgreSQL at host=127.0.0.1 port=$fport dbname=postgres: connection to server at \"127.0.0.1\", port $fport failed: FATAL:  password authentication failed for user \"postgres\"" \
        "a refused password fails at once, in one line"
    kill "$listener"; wait "$listener" 2>/dev/null || true
    listener=""
fi

# --- a directory the postgres user cannot reach (root only)
if [ "$(id -u)" = 0 ]; then
    private=$(mktemp -d /tmp/bs-test-private.XXXXXX) # mode 0700, owned by root
    rc=0; err=$("$BANKSTREAM" db start --dir "$private/pg" --port "$(free_port)" 2>&1) || rc=$?
    rm -rf "$private"
    assert_eq "$rc" 1 "exit status for an unreachable directory"
    assert_contains "$err" "cannot enter $private" "unreachable directory message"
fi

# --- usage errors exit 2
rc=0; "$BANKSTREAM" db start --dir "$dir" --port abc 2>/dev/null || rc=$?
assert_eq "$rc" 2 "bad --port"
rc=0; "$BANKSTREAM" db frobnicate 2>/dev/null || rc=$?
assert_eq "$rc" 2 "unknown action"
rc=0; "$BANKSTREAM" db status --bogus 2>/dev/null || rc=$?
assert_eq "$rc" 2 "unknown flag"
rc=0; "$BANKSTREAM" db stop --dir "$dir" --listen 127.0.0.1 2>/dev/null || rc=$?
assert_eq "$rc" 2 "--listen with stop"

# --- --listen / --trust bad input (listening across hosts: 98-hosts)
assert_fails "--listen 198.51.100.77: no interface of this host has that address" \
    "$BANKSTREAM" db start --dir "$work/pg3" --listen 198.51.100.77
assert_fails "--listen 'db.example' is not a numeric IPv4 or IPv6 address" \
    "$BANKSTREAM" db start --dir "$work/pg3" --listen db.example
assert_fails "give it alone" "$BANKSTREAM" db start --dir "$work/pg3" --listen '*,127.0.0.1,0.0.0.0'
assert_fails "listens on every interface: say which client networks may log in with --trust" \
    "$BANKSTREAM" db start --dir "$work/pg3" --listen '*'
assert_fails "--trust '10.0.0.0/33' is not a network" \
    "$BANKSTREAM" db start --dir "$work/pg3" --listen '*' --trust 10.0.0.0/33
assert_fails "--trust needs --listen ADDR" "$BANKSTREAM" db start --dir "$work/pg3" --trust 10.0.0.0/8
[ ! -e "$work/pg3/data" ] || fail "a refused --listen/--trust made a cluster"
echo "ok"
