#!/usr/bin/env bash
# 98-hosts.sh - bankstream on three hosts: network namespaces h1..h3 with
# veths into a private bridge (tests/hosts/hosts.sh: names and subnet unique
# to this run, torn down at exit, also on failure; SKIP where namespaces
# cannot be made), mpirun launching its daemons through an ssh-like agent
# (tests/hosts/rsh-agent.sh), the database (`db start --listen`, password
# login from the hosts) and the broker (`broker --listen`, or Apache Kafka
# with `kafka.sh start --listen` when BS_TEST_BROKER=kafka) on bridge
# addresses. Checks, each a named section:
#   services   what the hosts see: the network conninfo and its password
#              file, the broker's advertised address and its schema
#              registry, metrics on h1's address
#   stream     a topic streamed in two parts, on 3 ranks over h1..h3 and
#              then on 4 (restored from the 3-rank snapshot), equals a
#              one-host run: tables (dump_decisions), snapshots and archives
#              (h5dump, creation times and the database id masked)
#   tcp        the workers' hosts moved the batches over their veths
#   replay     a replay over h1..h3 (--out on the shared directory) equals
#              a one-host replay
#   unshared   a host that does not see the snapshot directory: refused,
#              naming it, in bounded time
#   unreachable  rank 0's host cannot reach the database, then the broker:
#              an error naming the host and the address, in bounded time
#   launch     hosts that cannot reach each other (bankstream's start-up
#              bound); a host whose network is down (the agent says so,
#              mpirun fails)
# Quick by default (make check, about 35 s): 'unreachable' and the host that
# is down run only with BS_TEST_HOSTS_FULL=1 (make test-hosts, about 70 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
source tests/hosts/hosts.sh
source tests/hosts/services.sh

K=1000      # batch size
NA=12000    # messages in the first part of the topic
NB=8000     # and in the second
USERS=3000
full=${BS_TEST_HOSTS_FULL:-0}

work=$(mktemp -d "$BS_TEST_TMP/hosts98.XXXXXX")
chmod 755 "$work"
cleanup() {
    set +e
    services_down
    hosts_down
    return 0
}
trap cleanup EXIT
trap "exit 1" INT TERM

step=setup
T0=$SECONDS
say() { echo "[$step] $* ($((SECONDS - t0)) s)"; }
fail() { echo "FAILED [$step]: $*" >&2; exit 1; }
failed_in_time() { [ "$1" -ne 0 ] && [ "$1" -ne 124 ]; } # exit status: failed, not killed by timeout

t0=$SECONDS
rc=0
hosts_up 3 "$work/hosts" || rc=$?
[ "$rc" -eq 2 ] && exit 0 # hosts_up printed why (SKIP)
[ "$rc" -eq 0 ] || fail "could not make the three hosts"
say "hosts h1..h3 on $HOSTS_CIDR (namespaces ${HOSTS_ID}h1..3)"

# mpirun over the hosts, passing what the ranks need (the agent gives them
# ssh's clean environment).
fwd=(-x PGPASSFILE)
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [ -n "${!v:-}" ] && fwd+=(-x "$v"); done
on_hosts() { # hosts(mpirun --host syntax) N bankstream-args...
    local h=$1 n=$2
    shift 2
    "${HOSTS_MPIRUN[@]}" "${fwd[@]}" --host "$h" -np "$n" -wdir "$work" "$BANKSTREAM" "$@"
}

# ---------------------------------------------------------------- services
step=services
t0=$SECONDS
services_up "$work/svc" || fail "could not start the database and the broker"
conn=$SVC_CONN pgport=$SVC_PGPORT brokers=$SVC_BROKERS kind=$SVC_KIND
assert_eq "$conn" "host=$HOSTS_DB_ADDR port=$pgport dbname=bank user=bankstream" "conninfo of db start --listen"
assert_contains "$(cat "$work/svc/db.err")" "hosts on $HOSTS_CIDR log in as role 'bankstream' with the password in $PGPASSFILE" \
    "db start's hint"
assert_eq "$(stat -c %a "$PGPASSFILE")" 600 "mode of the password file"
# From a host: a password is needed, and postgres cannot log in at all.
err=$(hosts_exec h2 env PGPASSFILE=/nonexistent psql "$conn connect_timeout=5" -XAtc "SELECT 1" 2>&1) &&
    fail "h2 logged in without a password"
assert_contains "$err" "no password supplied" "a login from h2 without the password"
hosts_exec h2 env PGPASSFILE="$PGPASSFILE" psql "host=$HOSTS_DB_ADDR port=$pgport dbname=bank user=postgres connect_timeout=5" \
    -XAtc "SELECT 1" >/dev/null 2>&1 && fail "postgres logged in from h2"
assert_eq "$(hosts_exec h2 env PGPASSFILE="$PGPASSFILE" psql "$conn connect_timeout=5" -XAtc "SELECT current_user || ' ' || host(inet_client_addr())")" \
    "bankstream $(hosts_ip h2)" "login from h2 with the password file"

[[ "$brokers" == "$HOSTS_KAFKA_ADDR":* ]] || fail "the broker's address is $brokers"
# What a host is told: the broker at the address it reaches.
md=$(hosts_exec h3 timeout 30 kcat -L -b "$brokers" -m 10) || fail "kcat -L from h3 failed"
assert_contains "$md" " at $brokers" "the broker's advertised address seen from h3"
if [ -n "$SVC_REGISTRY" ]; then # the embedded broker's schema registry, on the same address
    subjects=$(hosts_exec h3 curl -sf --max-time 5 "$SVC_REGISTRY/subjects") || fail "h3 cannot reach the registry at $SVC_REGISTRY"
    assert_eq "$subjects" "[]" "the registry's subjects seen from h3"
fi

# Two databases owned by the network role, made through its conninfo.
ref=$(services_db one_host --users "$USERS") || fail "init of the reference database"
multi=$(services_db three_hosts --users "$USERS") || fail "init of the database of the hosts"
topic=$(new_topic hosts)
produce() { # count seed start-time
    "$BANKSTREAM" produce --pg "$ref" --brokers "$brokers" --topic "$topic" --count "$1" --rate 0 \
        --seed "$2" --start-time "$3" --historic 0 --quiet || fail "produce"
}
produce "$NA" 31 1750000000000
printf '[snapshot]\nevery = 5\nmin_seconds = 0\n[metrics]\nport = %s\nlisten = %s\n' "$(free_port)" "$(hosts_ip h1)" >"$work/hosts.ini"
printf '[snapshot]\nevery = 5\nmin_seconds = 0\n' >"$work/one.ini"
say "database on $HOSTS_DB_ADDR:$pgport, broker ($kind) on $brokers, $NA messages"

# ----------------------------------------------------------------- stream
step=stream
t0=$SECONDS
run_args=(--brokers "$brokers" --topic "$topic" --batch-size "$K" --batch-ms 0)
# The reference: one host (this one), both parts, on as many ranks as the
# hosts' runs (a snapshot holds the users in the order their owners wrote
# them, so its bytes depend on N; its content does not: restore below).
mkdir -p "$work/snap-one" "$work/snap-hosts"
mpirun_bs 3 run "$work/one.ini" --pg "$ref" "${run_args[@]}" --snapshot-dir "$work/snap-one" \
    --until-idle >"$work/one-a.out" 2>&1 || { tail -20 "$work/one-a.out"; fail "one-host run, part 1"; }
# Part 1 over the hosts: rank 0 on h1, the workers on h2 and h3.
b0=$(hosts_bytes "h2 h3")
on_hosts h1,h2,h3 3 run "$work/hosts.ini" --pg "$multi" "${run_args[@]}" --snapshot-dir "$work/snap-hosts" \
    --until-idle >"$work/hosts-a.out" 2>&1 || { tail -20 "$work/hosts-a.out"; fail "run over h1..h3, part 1"; }
mpi_bytes=$(($(hosts_bytes "h2 h3") - b0))
grep -q "^bankstream run (h1, rank 0): consuming $topic (4 partitions) from batch 1 with 3 rank(s)" "$work/hosts-a.out" ||
    fail "rank 0 did not say where it runs: $(grep 'consuming' "$work/hosts-a.out")"
na=$(psql_q "$multi" "SELECT max(batch_id) FROM batch_log")
say "part 1: $na batches on 3 ranks over h1..h3"

# Part 2: four ranks (h1 twice), restored from the 3-rank snapshot, stopped
# with SIGUSR1 once it is done, while Prometheus is scraped from h2.
produce "$NB" 32 1750000600000
mpirun_bs 4 run "$work/one.ini" --pg "$ref" "${run_args[@]}" --snapshot-dir "$work/snap-one" \
    --until-idle >"$work/one-b.out" 2>&1 || { tail -20 "$work/one-b.out"; fail "one-host run, part 2"; }
nall=$(psql_q "$ref" "SELECT max(batch_id) FROM batch_log")
mport=$(sed -n 's/^port = //p' "$work/hosts.ini")
# (exec: the signal goes to mpirun itself, which forwards it to the ranks)
(exec "${HOSTS_MPIRUN[@]}" "${fwd[@]}" --host h1:2,h2,h3 -np 4 -wdir "$work" "$BANKSTREAM" run \
    "$work/hosts.ini" --pg "$multi" "${run_args[@]}" --snapshot-dir "$work/snap-hosts") \
    >"$work/hosts-b.out" 2>&1 &
mpirun_pid=$!
scraped=""
for _ in $(seq 600); do
    scraped=$(hosts_exec h2 curl -sf --max-time 2 "http://$(hosts_ip h1):$mport/metrics" 2>/dev/null || true)
    grep -q "^bankstream_last_batch_id $nall$" <<<"$scraped" && break
    kill -0 "$mpirun_pid" 2>/dev/null || break
    sleep 0.1
done
kill -USR1 "$mpirun_pid" 2>/dev/null
rc=0
wait "$mpirun_pid" || rc=$?
[ "$rc" -eq 0 ] || { tail -20 "$work/hosts-b.out"; fail "run over h1..h3 on 4 ranks exited $rc"; }
assert_contains "$scraped" "bankstream_ranks 4" "metrics scraped from h2 on h1's address"
assert_contains "$scraped" "bankstream_last_batch_id $nall" "last batch in the metrics"
grep -q "restored state as of batch $na .*snapshot + ledger" "$work/hosts-b.out" ||
    fail "the 4-rank run did not restore the 3-rank snapshot of batch $na: $(grep restored "$work/hosts-b.out")"
dump_decisions "$ref" "$work/dump-one"
dump_decisions "$multi" "$work/dump-hosts"
diff_dumps "tables of the run over hosts" "$work/dump-one" "$work/dump-hosts" || fail "tables differ"
# The snapshots and archives, file by file.
h5canon() { # file: h5dump without its first line, creation times and the database id (origin)
    h5dump "$1" | tail -n +2 | awk '/ATTRIBUTE "(created[a-z_]*|origin)"/ { mask = 1 }
        mask && /\(0\):/ { sub(/\(0\):.*/, "(0): masked"); mask = 0 } { print }'
}
files=$(cd "$work/snap-one" && ls snap-*.h5 archive-*.h5)
[ "$(cd "$work/snap-hosts" && ls snap-*.h5 archive-*.h5)" = "$files" ] ||
    fail "files differ: one host: $(tr '\n' ' ' <<<"$files"); hosts: $(cd "$work/snap-hosts" && echo snap-*.h5 archive-*.h5)"
for f in $files; do
    cmp -s <(h5canon "$work/snap-one/$f") <(h5canon "$work/snap-hosts/$f") || {
        diff <(h5canon "$work/snap-one/$f") <(h5canon "$work/snap-hosts/$f") | head -10 || true
        fail "$f differs between the one-host run and the run over the hosts"
    }
done
say "$nall batches; tables, $(wc -w <<<"$files") snapshots and archives equal a one-host run; metrics read from h2"

# -------------------------------------------------------------------- tcp
step=tcp
t0=$SECONDS
# h2 and h3 ran workers only: what crossed their veths is MPI (and mpirun's
# own traffic). Every transaction went to a worker and its result came back.
per_txn=$((mpi_bytes / NA))
[ "$per_txn" -ge 48 ] || fail "only $mpi_bytes bytes crossed h2's and h3's interfaces for $NA transactions"
say "$mpi_bytes bytes through h2's and h3's veths for $NA transactions ($per_txn per transaction)"

# ----------------------------------------------------------------- replay
step=replay
t0=$SECONDS
archives=()
for f in $files; do [[ "$f" == archive-* ]] && archives+=("$work/snap-hosts/$f"); done
on_hosts h1,h2,h3 3 replay "${archives[@]}" --pg "$multi" --out "$work/replay-hosts.h5" \
    >"$work/replay-hosts.out" 2>&1 || { tail -20 "$work/replay-hosts.out"; fail "replay over h1..h3"; }
mpirun_bs 2 replay "${archives[@]}" --pg "$multi" --out "$work/replay-one.h5" \
    >"$work/replay-one.out" 2>&1 || { tail -20 "$work/replay-one.out"; fail "one-host replay"; }
for g in /transactions /results; do
    cmp -s <(h5dump -g "$g" "$work/replay-one.h5" | tail -n +2) <(h5dump -g "$g" "$work/replay-hosts.h5" | tail -n +2) ||
        fail "$g of the replay over the hosts differs from the one-host replay"
done
assert_contains "$(cat "$work/replay-hosts.out")" "routing: all-to-all" "the replay over h1..h3 routes by all-to-all"
assert_contains "$(cat "$work/replay-one.out")" "routing: shared memory, one node" \
    "the one-host replay shares its rows in memory"
say "replay of ${#archives[@]} archives over h1..h3 equals a one-host replay"

# --------------------------------------------------------------- unshared
step=unshared
t0=$SECONDS
hosts_private h3 "$work/private"
mkdir -p "$work/private"
rc=0
timeout 120 "${HOSTS_MPIRUN[@]}" "${fwd[@]}" --host h1,h2,h3 -np 3 -wdir "$work" "$BANKSTREAM" run \
    --pg "$multi" "${run_args[@]}" --snapshot-dir "$work/private" --until-idle >"$work/unshared.out" 2>&1 || rc=$?
hosts_shared h3
failed_in_time "$rc" || fail "a run whose snapshot directory h3 does not see ended with $rc"
grep -q "error: $work/private is not shared with h3 (rank 2)" "$work/unshared.out" ||
    fail "no clear refusal: $(grep -i error "$work/unshared.out" | head -3)"
say "refused: $(grep -o 'is not shared with h3 (rank 2)' "$work/unshared.out" | head -1)"

# ------------------------------------------------------------ unreachable
step=unreachable
t0=$SECONDS
if [ "$full" = 1 ]; then
    printf '[sink]\nretry_seconds = 6\n[source]\nwait_seconds = 6\n' >"$work/short.ini"
    hosts_block h1 "$HOSTS_DB_ADDR"
    rc=0
    timeout 120 "${HOSTS_MPIRUN[@]}" "${fwd[@]}" --host h1,h2,h3 -np 3 -wdir "$work" "$BANKSTREAM" run \
        "$work/short.ini" --pg "$multi" "${run_args[@]}" --snapshot-dir none --until-idle >"$work/nodb.out" 2>&1 || rc=$?
    hosts_unblock h1 "$HOSTS_DB_ADDR"
    failed_in_time "$rc" || fail "a run whose rank 0 cannot reach the database ended with $rc"
    grep -q "^bankstream run (h1, rank 0): warning: PostgreSQL at $HOSTS_DB_ADDR:$pgport is not available" "$work/nodb.out" ||
        fail "no warning naming h1 and the database: $(head -3 "$work/nodb.out")"
    grep -q "^bankstream run (h1, rank 0): error: cannot connect to PostgreSQL at host=$HOSTS_DB_ADDR port=$pgport" "$work/nodb.out" ||
        fail "no error naming h1 and the database: $(grep error "$work/nodb.out" | head -3)"
    dbt=$((SECONDS - t0))
    [ "$dbt" -le 40 ] || fail "the unreachable database took $dbt s to report ([sink] retry_seconds = 6)"
    t1=$SECONDS
    hosts_block h1 "$HOSTS_KAFKA_ADDR"
    rc=0
    timeout 120 "${HOSTS_MPIRUN[@]}" "${fwd[@]}" --host h1,h2,h3 -np 3 -wdir "$work" "$BANKSTREAM" run \
        "$work/short.ini" --pg "$multi" "${run_args[@]}" --snapshot-dir none --until-idle >"$work/nokafka.out" 2>&1 || rc=$?
    hosts_unblock h1 "$HOSTS_KAFKA_ADDR"
    failed_in_time "$rc" || fail "a run whose rank 0 cannot reach the broker ended with $rc"
    grep -q "^bankstream run (h1, rank 0): error: .*Kafka at $brokers" "$work/nokafka.out" ||
        fail "no error naming h1 and the broker: $(grep -E 'error|warning' "$work/nokafka.out" | head -3)"
    kt=$((SECONDS - t1))
    [ "$kt" -le 40 ] || fail "the unreachable broker took $kt s to report ([source] wait_seconds = 6)"
    say "database unreachable from h1: error in $dbt s; broker: in $kt s, both naming h1 and the address"
else
    say "skipped (quick; BS_TEST_HOSTS_FULL=1 or make test-hosts runs it)"
fi

# ----------------------------------------------------------------- launch
step=launch
t0=$SECONDS
# Hosts that reach mpirun but not each other: bankstream's first contact.
hosts_block h3 "$(hosts_ip h1)"
hosts_block h3 "$(hosts_ip h2)"
rc=0
BANKSTREAM_MPI_START_TIMEOUT=8 timeout 120 "${HOSTS_MPIRUN[@]}" "${fwd[@]}" -x BANKSTREAM_MPI_START_TIMEOUT \
    --host h1,h2,h3 -np 3 -wdir "$work" "$BANKSTREAM" run --pg "$multi" "${run_args[@]}" --snapshot-dir none \
    --until-idle >"$work/split.out" 2>&1 || rc=$?
hosts_unblock h3 "$(hosts_ip h1)"
hosts_unblock h3 "$(hosts_ip h2)"
failed_in_time "$rc" || fail "a run whose hosts cannot reach each other ended with $rc"
grep -q "warning: rank 2 on h3: waiting for ranks 0, 1 to answer (MPI start-up, 5 s" "$work/split.out" ||
    fail "no progress line from h3: $(grep -E 'warning|error' "$work/split.out" | head -3)"
grep -q "error: rank 0 on h1: no answer from rank 2 within 8 s of MPI start-up" "$work/split.out" ||
    fail "no error from rank 0: $(grep error "$work/split.out" | head -3)"
splitt=$((SECONDS - t0))
if [ "$full" = 1 ]; then
    # A host whose network is down: the agent cannot reach mpirun from there.
    t1=$SECONDS
    hosts_isolate h3
    rc=0
    timeout 120 "${HOSTS_MPIRUN[@]}" --host h1,h2,h3 -np 3 hostname >"$work/down.out" 2>&1 || rc=$?
    hosts_reconnect h3
    failed_in_time "$rc" || fail "mpirun with h3 down ended with $rc"
    grep -q "rsh-agent: h3: cannot reach mpirun at" "$work/down.out" || fail "no line naming h3: $(head -3 "$work/down.out")"
    say "hosts cut off from each other: failed in $splitt s naming the ranks; h3 down: mpirun failed in $((SECONDS - t1)) s naming h3"
else
    say "hosts cut off from each other: failed in $splitt s naming the ranks (h3 down: BS_TEST_HOSTS_FULL=1)"
fi

step=all
t0=$T0
say "ok"
