#!/usr/bin/env bash
# docker/entrypoint.sh - the entry point of the bankstream image: one role per
# first argument, configured by the environment only.
#
#   entrypoint.sh init         wait for PostgreSQL, then `bankstream init` (schema,
#                              27 regions, users; idempotent), exit
#   entrypoint.sh producer     wait for PostgreSQL and the broker, then
#                              `bankstream produce` at BANKSTREAM_RATE until stopped
#   entrypoint.sh processor    wait for PostgreSQL, the broker and the topic, then
#                              `mpirun -np BANKSTREAM_RANKS bankstream run` until stopped
#   entrypoint.sh dashboard    wait for PostgreSQL, then `bankstream dashboard`
#                              on 0.0.0.0:BANKSTREAM_DASHBOARD_PORT (its topic
#                              panel: BANKSTREAM_BROKERS, BANKSTREAM_TOPIC)
#   entrypoint.sh wait         wait for PostgreSQL and the broker, exit 0
#   entrypoint.sh healthcheck ROLE   exit 0 if ROLE runs and answers here (for
#                              compose health checks), else 1 with the reason
#   entrypoint.sh ARGS...      anything else is a bankstream command, run as is
#                              (`version`, `snapshot ls /var/lib/bankstream/snapshots`...)
#
# Environment (compose sets these; all optional unless said):
#   BANKSTREAM_PG            libpq conninfo; or PGHOST (PGHOSTADDR, PGSERVICE) with
#                            PGPORT, PGDATABASE, PGUSER, PGPASSWORD: one is required,
#                            the image has no embedded PostgreSQL
#   BANKSTREAM_BROKERS       Kafka bootstrap servers (default broker:29092)
#   BANKSTREAM_TOPIC         topic (default bank_transactions)
#   BANKSTREAM_REGISTRY      Schema Registry URL (compose: http://schema-registry:8081);
#                            the processor decodes Avro messages with it, the
#                            producer registers its schema there (FORMAT=avro)
#   BANKSTREAM_WAIT_SECONDS  bound on each wait for a service (default 120)
#   BANKSTREAM_BIN           the binary (default: bankstream on PATH)
#   BANKSTREAM_RUN_DIR       pid files and the generated job file (default /tmp/bankstream)
#   init:      BANKSTREAM_USERS (10000), BANKSTREAM_SEED (42), BANKSTREAM_INIT_ARGS
#   producer:  BANKSTREAM_RATE (tx/s, default 100; 0 = unpaced), BANKSTREAM_COUNT
#              (default: until stopped), BANKSTREAM_PRODUCER_SEED (default: a new
#              random seed per start, since one seed always yields the same
#              transaction ids), BANKSTREAM_HISTORIC, BANKSTREAM_FORMAT (json, the
#              default, or avro: needs BANKSTREAM_REGISTRY), BANKSTREAM_PRODUCE_ARGS
#   processor: BANKSTREAM_RANKS (2), BANKSTREAM_JOB (an INI job file),
#              BANKSTREAM_SNAPSHOT_DIR, BANKSTREAM_BATCH_SIZE, BANKSTREAM_BATCH_MS,
#              BANKSTREAM_UNTIL_IDLE=1, BANKSTREAM_METRICS_PORT (default 9400, 0 = off;
#              served on 127.0.0.1 inside the container, used by the health check),
#              BANKSTREAM_ARGS (more `run` flags), BANKSTREAM_MPIRUN_ARGS,
#              BANKSTREAM_SIGNAL_GRACE (default 10 s), BANKSTREAM_WAIT_TOPIC_SECONDS
#              (default BANKSTREAM_WAIT_SECONDS)
#   dashboard: BANKSTREAM_DASHBOARD_PORT (8501), BANKSTREAM_DASHBOARD_ARGS
#
# Stopping: SIGTERM, SIGINT and SIGUSR1 (compose's stop_signal for the
# processor) are caught here. The processor gets SIGUSR1 through mpirun, which
# forwards it to every rank: rank 0 commits the batch in flight, the ranks write
# a snapshot and exit 0 (mpirun treats SIGTERM as an abort and would exit 1).
# The signal is held until BANKSTREAM_SIGNAL_GRACE seconds after the launch,
# since the ranks install their handlers only after MPI_Init. The producer and
# the dashboard get SIGTERM. The exit status is the command's.
#
# Open MPI inside a container (defaults set here unless already set):
#   OMPI_MCA_plm=isolated            one container is one node: no ssh/rsh launch
#   OMPI_MCA_pml=ob1, OMPI_MCA_btl=self,vader   shared memory between the ranks,
#                                    no UCX/InfiniBand probing
#   OMPI_MCA_btl_vader_single_copy_mechanism=none   CMA needs ptrace, which
#                                    Docker's default seccomp profile denies
#   OMPI_MCA_rmaps_base_oversubscribe=1   more ranks than the CPUs the container sees
#   OMPI_MCA_hwloc_base_binding_policy=none   no pinning to CPUs a cgroup may not give
#   as root (not the image's default user): OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1
#
# Errors: one line "bankstream-entrypoint: error: ..." and exit 2 (bad
# settings) or 1 (a service never became ready, the command failed).
set -uo pipefail

TAG=bankstream-entrypoint
log() { echo "$TAG: $*" >&2; }
die() { # status message
    local rc=$1
    shift
    echo "$TAG: error: $*" >&2
    exit "$rc"
}

BIN=${BANKSTREAM_BIN:-bankstream}
BROKERS=${BANKSTREAM_BROKERS:-broker:29092}
TOPIC=${BANKSTREAM_TOPIC:-bank_transactions}
WAIT=${BANKSTREAM_WAIT_SECONDS:-120}
RUN_DIR=${BANKSTREAM_RUN_DIR:-/tmp/bankstream}

need_uint() { # name value
    [[ "$2" =~ ^[0-9]+$ ]] || die 2 "$1='$2' is not a non-negative integer"
}
need_count() { # name value
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || die 2 "$1='$2' is not a positive integer"
}
need_uint BANKSTREAM_WAIT_SECONDS "$WAIT"

# Split a variable holding extra flags on spaces into the named array.
split_args() { # array-name value
    local -n _out=$1
    _out=()
    [ -n "$2" ] && read -r -a _out <<<"$2"
    return 0
}

# The telling line of a client's error output: the last one that says
# "error", else the last one; tabs and long lines trimmed.
error_line() {
    local all pick
    all=$(grep -v '^[[:space:]]*$' | tr '\t' ' ')
    pick=$(grep -i 'error' <<<"$all" | tail -1)
    [ -n "$pick" ] || pick=$(tail -1 <<<"$all")
    cut -c1-300 <<<"$pick"
}

# A stop signal that arrives while waiting for a service ends the role at once.
stop_if_asked() {
    [ -z "${_stop:-}" ] && return 0
    log "stopped by SIG$_stop before $ROLE started"
    exit 0
}

# ---- PostgreSQL -------------------------------------------------------------------------

PG_ARGS=() # what bankstream gets
PSQL=()    # how psql reaches the same database
pg_setup() {
    if [ -n "${BANKSTREAM_PG:-}" ]; then
        PG_ARGS=(--pg "$BANKSTREAM_PG")
        PSQL=(psql "$BANKSTREAM_PG")
    elif [ -n "${PGHOST:-}${PGHOSTADDR:-}${PGSERVICE:-}" ]; then
        PG_ARGS=() # bankstream and psql both read the PG* variables
        PSQL=(psql)
    else
        die 2 "no database given: set BANKSTREAM_PG (a libpq conninfo) or PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD (the image has no embedded PostgreSQL)"
    fi
}

# Text for the log with any conninfo password (password=..., user:pw@ in a URI) hidden.
mask() { sed -E "s/(password=)('[^']*'|[^ ]*)/\1***/g; s#(://[^:/@ ]*:)[^@ ]*@#\1***@#g" <<<"$1"; }

pg_describe() { # the database, for messages, never the password
    if [ -n "${BANKSTREAM_PG:-}" ]; then
        mask "$BANKSTREAM_PG"
    else
        echo "host=${PGHOST:-${PGHOSTADDR:-}} port=${PGPORT:-5432} dbname=${PGDATABASE:-${PGUSER:-?}} user=${PGUSER:-$(id -un)}"
    fi
}

# Wait until PostgreSQL accepts our credentials and runs a query.
wait_pg() {
    command -v psql >/dev/null 2>&1 || die 1 "psql not found on PATH (install postgresql-client)"
    local deadline=$((SECONDS + WAIT)) err said=0
    while :; do
        if err=$(PGCONNECT_TIMEOUT=5 "${PSQL[@]}" -XAtq -c 'SELECT 1' 2>&1 >/dev/null); then
            [ "$said" -eq 1 ] && log "PostgreSQL ready ($(pg_describe))"
            return 0
        fi
        stop_if_asked
        if [ "$SECONDS" -ge "$deadline" ]; then
            die 1 "PostgreSQL ($(pg_describe)) not ready after $WAIT s (BANKSTREAM_WAIT_SECONDS): $(error_line <<<"$err")"
        fi
        if [ "$said" -eq 0 ]; then
            log "waiting up to $WAIT s for PostgreSQL ($(pg_describe)): $(error_line <<<"$err")"
            said=1
        fi
        sleep 2
    done
}

# ---- Kafka ------------------------------------------------------------------------------

# Metadata of the cluster (or of one topic) as kcat's JSON; never creates the
# topic (allow.auto.create.topics=false). Without kcat, a TCP connect to the
# first bootstrap server stands in for the cluster check.
kafka_metadata() { # [topic]
    if command -v kcat >/dev/null 2>&1; then
        kcat -L -b "$BROKERS" -m 5 -J -X allow.auto.create.topics=false ${1:+-t "$1"} 2>&1
        return
    fi
    local first=${BROKERS%%,*} host port
    host=${first%:*} port=${first##*:}
    [ "$host" != "$first" ] || port=9092
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
        echo '{"no-kcat":true}'
        return 0
    fi
    echo "cannot connect to $host:$port"
    return 1
}

wait_broker() {
    local deadline=$((SECONDS + WAIT)) out said=0
    while :; do
        if out=$(kafka_metadata) && [[ "$out" == "{"* ]]; then
            [ "$said" -eq 1 ] && log "Kafka ready ($BROKERS)"
            return 0
        fi
        stop_if_asked
        if [ "$SECONDS" -ge "$deadline" ]; then
            die 1 "Kafka ($BROKERS, BANKSTREAM_BROKERS) not answering metadata after $WAIT s (BANKSTREAM_WAIT_SECONDS): $(error_line <<<"$out")"
        fi
        if [ "$said" -eq 0 ]; then
            log "waiting up to $WAIT s for Kafka ($BROKERS): $(error_line <<<"$out")"
            said=1
        fi
        sleep 2
    done
}

# The processor cannot start on a topic that does not exist (Kafka creates
# topics for producers, not consumers): wait for it to have partitions.
wait_topic() {
    command -v kcat >/dev/null 2>&1 || return 0
    local limit=${BANKSTREAM_WAIT_TOPIC_SECONDS:-$WAIT} out said=0
    need_uint BANKSTREAM_WAIT_TOPIC_SECONDS "$limit"
    local deadline=$((SECONDS + limit))
    while :; do
        out=$(kafka_metadata "$TOPIC")
        [[ "$out" == *'"partitions":[{'* ]] && break
        stop_if_asked
        if [ "$SECONDS" -ge "$deadline" ]; then
            die 1 "topic '$TOPIC' (BANKSTREAM_TOPIC) does not exist on $BROKERS after $limit s: create it (the compose file's 'topic' service does) or start a producer"
        fi
        if [ "$said" -eq 0 ]; then
            log "waiting up to $limit s for topic '$TOPIC' on $BROKERS"
            said=1
        fi
        sleep 2
    done
    [ "$said" -eq 1 ] && log "topic '$TOPIC' exists"
    return 0
}

# ---- running a long-lived command -------------------------------------------------------

_child=""     # pid of the command while it runs
_stop=""      # name of the stop signal received
_fwd=""       # set once the stop was forwarded
_launched=0   # $SECONDS at the launch
_fwd_sig=TERM # what the command gets on a stop
_grace=0      # seconds after the launch before a stop is forwarded

on_signal() { # name
    if [ -z "$_stop" ]; then
        _stop=$1
        log "SIG$1 received; stopping $ROLE"
    elif [ -n "$_fwd" ] && [ -n "$_child" ]; then
        kill -"$_fwd_sig" "$_child" 2>/dev/null # again, for an impatient sender
    fi
    return 0
}

forward_stop() {
    local left=$((_launched + _grace - SECONDS))
    if [ "$left" -gt 0 ]; then
        log "started less than $_grace s ago; forwarding the stop in $left s"
        sleep "$left" &
        local sp=$!
        # another signal interrupts wait: keep waiting out the grace
        while kill -0 "$sp" 2>/dev/null; do wait "$sp" 2>/dev/null; done
    fi
    _fwd=1
    kill -"$_fwd_sig" "$_child" 2>/dev/null
    return 0
}

# Run a command in the background, record its pid for the health check, and
# wait for it, forwarding a stop signal; returns the command's exit status.
supervise() { # command...
    mkdir -p "$RUN_DIR" || die 1 "cannot create BANKSTREAM_RUN_DIR '$RUN_DIR'"
    if [ -n "$_stop" ]; then
        log "stopped by SIG$_stop before $ROLE started"
        return 0
    fi
    "$@" &
    _child=$!
    _launched=$SECONDS
    echo "$_child" >"$RUN_DIR/$ROLE.pid"
    local rc=0 r n interrupted=0
    while :; do
        [ -n "$_stop" ] && [ -z "$_fwd" ] && forward_stop
        n=$_nsig
        r=0
        wait "$_child" 2>/dev/null || r=$?
        # A trapped signal makes wait return >128 with the command still
        # running: wait again. If it ended at that moment, wait says 127.
        [ "$interrupted" -eq 1 ] && [ "$r" -eq 127 ] && ! kill -0 "$_child" 2>/dev/null && break
        rc=$r
        interrupted=0
        if [ "$_nsig" -ne "$n" ] && [ "$r" -gt 128 ]; then
            interrupted=1
            continue
        fi
        break
    done
    rm -f "$RUN_DIR/$ROLE.pid"
    _child=""
    if [ -n "$_stop" ] && [ "$rc" -eq 0 ]; then
        log "$ROLE stopped cleanly on SIG$_stop after $((SECONDS - _launched)) s"
    elif [ "$rc" -ne 0 ]; then
        log "$ROLE exited with status $rc${_stop:+ after SIG$_stop}"
    fi
    return "$rc"
}

_nsig=0
trap_stops() {
    trap '_nsig=$((_nsig + 1)); on_signal TERM' TERM
    trap '_nsig=$((_nsig + 1)); on_signal INT' INT
    trap '_nsig=$((_nsig + 1)); on_signal USR1' USR1
}

# ---- roles ------------------------------------------------------------------------------

role_init() {
    pg_setup
    local users=${BANKSTREAM_USERS:-10000} seed=${BANKSTREAM_SEED:-42} extra=()
    need_count BANKSTREAM_USERS "$users"
    need_uint BANKSTREAM_SEED "$seed"
    split_args extra "${BANKSTREAM_INIT_ARGS:-}"
    wait_pg
    local cmd=("$BIN" init "${PG_ARGS[@]}" --users "$users" --seed "$seed" "${extra[@]}")
    log "$(mask "${cmd[*]}")"
    exec "${cmd[@]}"
}

role_producer() {
    pg_setup
    local rate=${BANKSTREAM_RATE:-100} seed=${BANKSTREAM_PRODUCER_SEED:-} args extra=()
    need_uint BANKSTREAM_RATE "$rate"
    if [ -z "$seed" ]; then
        seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
        log "BANKSTREAM_PRODUCER_SEED not set: seed $seed for this start"
    fi
    need_uint BANKSTREAM_PRODUCER_SEED "$seed"
    args=(produce "${PG_ARGS[@]}" --brokers "$BROKERS" --topic "$TOPIC" --rate "$rate" --seed "$seed")
    if [ -n "${BANKSTREAM_COUNT:-}" ]; then
        need_count BANKSTREAM_COUNT "$BANKSTREAM_COUNT"
        args+=(--count "$BANKSTREAM_COUNT")
    fi
    if [ -n "${BANKSTREAM_HISTORIC:-}" ]; then
        need_uint BANKSTREAM_HISTORIC "$BANKSTREAM_HISTORIC"
        args+=(--historic "$BANKSTREAM_HISTORIC")
    fi
    case "${BANKSTREAM_FORMAT:-json}" in
    json) ;;
    avro)
        [ -n "${BANKSTREAM_REGISTRY:-}" ] ||
            die 2 "BANKSTREAM_FORMAT=avro needs BANKSTREAM_REGISTRY (the Schema Registry URL)"
        args+=(--format avro --registry "$BANKSTREAM_REGISTRY")
        ;;
    *) die 2 "BANKSTREAM_FORMAT='$BANKSTREAM_FORMAT' is not json or avro" ;;
    esac
    split_args extra "${BANKSTREAM_PRODUCE_ARGS:-}"
    args+=("${extra[@]}")
    trap_stops
    wait_pg
    wait_broker
    log "$(mask "$BIN ${args[*]}")"
    supervise "$BIN" "${args[@]}"
}

# The job file `run` gets: BANKSTREAM_JOB (if any) with [metrics] port
# appended (a later value of a key wins).
processor_jobfile() { # -> path on stdout, or nothing
    local port=${BANKSTREAM_METRICS_PORT:-9400} job=${BANKSTREAM_JOB:-}
    need_uint BANKSTREAM_METRICS_PORT "$port"
    [ -z "$job" ] || [ -r "$job" ] || die 2 "job file '$job' (BANKSTREAM_JOB) not readable"
    if [ "$port" -eq 0 ]; then
        [ -n "$job" ] && echo "$job"
        return 0
    fi
    mkdir -p "$RUN_DIR" || die 1 "cannot create BANKSTREAM_RUN_DIR '$RUN_DIR'"
    local out="$RUN_DIR/processor.ini"
    {
        [ -n "$job" ] && cat -- "$job" && echo
        echo "; added by docker/entrypoint.sh (BANKSTREAM_METRICS_PORT)"
        echo "[metrics]"
        echo "port = $port"
    } >"$out" || die 1 "cannot write $out"
    echo "$out"
}

role_processor() {
    pg_setup
    local ranks=${BANKSTREAM_RANKS:-2} job args extra=() mpi_extra=()
    need_count BANKSTREAM_RANKS "$ranks"
    _grace=${BANKSTREAM_SIGNAL_GRACE:-10}
    need_uint BANKSTREAM_SIGNAL_GRACE "$_grace"
    _fwd_sig=USR1
    command -v mpirun >/dev/null 2>&1 || die 1 "mpirun not found on PATH (install openmpi-bin)"
    job=$(processor_jobfile) || exit $?
    args=(run)
    [ -n "$job" ] && args+=("$job")
    args+=("${PG_ARGS[@]}" --brokers "$BROKERS" --topic "$TOPIC")
    [ -n "${BANKSTREAM_SNAPSHOT_DIR:-}" ] && args+=(--snapshot-dir "$BANKSTREAM_SNAPSHOT_DIR")
    [ -n "${BANKSTREAM_REGISTRY:-}" ] && args+=(--registry "$BANKSTREAM_REGISTRY")
    if [ -n "${BANKSTREAM_BATCH_SIZE:-}" ]; then
        need_count BANKSTREAM_BATCH_SIZE "$BANKSTREAM_BATCH_SIZE"
        args+=(--batch-size "$BANKSTREAM_BATCH_SIZE")
    fi
    if [ -n "${BANKSTREAM_BATCH_MS:-}" ]; then
        need_uint BANKSTREAM_BATCH_MS "$BANKSTREAM_BATCH_MS"
        args+=(--batch-ms "$BANKSTREAM_BATCH_MS")
    fi
    case "${BANKSTREAM_UNTIL_IDLE:-0}" in
    1 | yes | true) args+=(--until-idle) ;;
    0 | no | false | "") ;;
    *) die 2 "BANKSTREAM_UNTIL_IDLE='$BANKSTREAM_UNTIL_IDLE' is not 1 or 0" ;;
    esac
    split_args extra "${BANKSTREAM_ARGS:-}"
    args+=("${extra[@]}")
    split_args mpi_extra "${BANKSTREAM_MPIRUN_ARGS:-}"
    if [ -n "${BANKSTREAM_SNAPSHOT_DIR:-}" ]; then
        { mkdir -p "$BANKSTREAM_SNAPSHOT_DIR" 2>/dev/null && [ -w "$BANKSTREAM_SNAPSHOT_DIR" ]; } ||
            die 1 "snapshot directory '$BANKSTREAM_SNAPSHOT_DIR' (BANKSTREAM_SNAPSHOT_DIR) is not writable by $(id -un)"
    fi
    trap_stops
    wait_pg
    wait_broker
    wait_topic
    local cmd=(mpirun -np "$ranks" "${mpi_extra[@]}" "$BIN" "${args[@]}")
    log "$(mask "${cmd[*]}")"
    supervise "${cmd[@]}"
}

role_dashboard() {
    pg_setup
    local port=${BANKSTREAM_DASHBOARD_PORT:-8501} extra=()
    need_count BANKSTREAM_DASHBOARD_PORT "$port"
    if [[ "$("$BIN" --help 2>/dev/null)" != *$'\n  dashboard '* ]]; then
        die 1 "this bankstream ($("$BIN" --version 2>/dev/null | head -1)) has no 'dashboard' command (BANKSTREAM_BIN is older than the dashboard)"
    fi
    split_args extra "${BANKSTREAM_DASHBOARD_ARGS:-}"
    trap_stops
    wait_pg
    local cmd=("$BIN" dashboard "${PG_ARGS[@]}" --brokers "$BROKERS" --topic "$TOPIC"
        --port "$port" --listen 0.0.0.0 "${extra[@]}")
    log "$(mask "${cmd[*]}")"
    supervise "${cmd[@]}"
}

role_wait() {
    pg_setup
    wait_pg
    wait_broker
    log "PostgreSQL and Kafka are ready"
}

# An HTTP GET on 127.0.0.1:port (bash's /dev/tcp: the image has no curl);
# succeeds if the answer is 200 and, when given, contains the text.
http_ok() { # port path [text]
    local reply
    reply=$(
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        timeout 5 cat <&3
    ) 2>/dev/null || return 1
    [[ "$reply" == "HTTP/1."[01]" 200"* ]] || return 1
    [ -z "${3:-}" ] || [[ "$reply" == *"$3"* ]]
}

role_healthcheck() { # role
    local role=${1:-} pid
    case "$role" in
    producer | processor | dashboard) ;;
    *) die 2 "healthcheck takes a role: producer, processor or dashboard" ;;
    esac
    { pid=$(cat "$RUN_DIR/$role.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; } ||
        die 1 "$role is not running (no live pid in $RUN_DIR/$role.pid)"
    case "$role" in
    processor)
        local port=${BANKSTREAM_METRICS_PORT:-9400}
        [ "$port" = 0 ] && exit 0
        http_ok "$port" /metrics bankstream_ ||
            die 1 "processor: no metrics on 127.0.0.1:$port/metrics yet"
        ;;
    dashboard)
        http_ok "${BANKSTREAM_DASHBOARD_PORT:-8501}" / ||
            die 1 "dashboard: no answer on 127.0.0.1:${BANKSTREAM_DASHBOARD_PORT:-8501}"
        ;;
    esac
    exit 0
}

# ---- main -------------------------------------------------------------------------------

# Open MPI in a container (see the header); the user's settings win.
export OMPI_MCA_plm=${OMPI_MCA_plm-isolated}
export OMPI_MCA_pml=${OMPI_MCA_pml-ob1}
export OMPI_MCA_btl=${OMPI_MCA_btl-self,vader}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism-none}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe-1}
export OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy-none}
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

ROLE=${1:-}
[ $# -gt 0 ] && shift
case "$ROLE" in
init) role_init ;;
producer) role_producer ;;
processor) role_processor ;;
dashboard) role_dashboard ;;
wait) role_wait ;;
healthcheck) role_healthcheck "$@" ;;
"" | -h | --help)
    sed -n '2,18s/^# \{0,1\}//p' "$0"
    [ -n "$ROLE" ]
    ;;
*) exec "$BIN" "$ROLE" "$@" ;;
esac
