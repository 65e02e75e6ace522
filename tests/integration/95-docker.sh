#!/usr/bin/env bash
# 95-docker.sh - docker/ without a Docker engine: what can be checked of the
# deployment here is checked, and the scripts the containers run are run.
#
#  1. docker/compose.yaml passes `docker-compose config` (Debian's 1.29) with
#     no warning; its shape is the contract: the services and host ports of
#     the original (9092, 8081, 8080, 5432, and 8501), health checks on every
#     long-running service, depends_on conditions that start everything in
#     order with no manual step, the processor stopped by SIGUSR1 with a grace
#     period and its snapshots on a volume, every service (the dashboard too)
#     started by a plain `up` (no profiles), the bankstream services' database
#     and broker settings matching the postgres and broker services.
#     (SKIP with the reason if docker-compose is not installed.)
#  2. docker/Dockerfile: every package it installs exists in Debian 12
#     (apt-cache show), the runtime list ships every library the binary links,
#     hadolint passes when installed; shellcheck passes on the entry point.
#  3. docker/entrypoint.sh, run as the containers run it: each role gets
#     exactly the environment compose gives its service (env -i), except what
#     names a place (PGHOST/PGPORT/PGDATABASE -> the test's PostgreSQL, the
#     broker -> a real Apache Kafka, the topic, the snapshot and run
#     directories, the binary) and the producer's count and rate. The topic is
#     created by the compose 'topic' service's own command line (Kafka's
#     kafka-topics, from scripts/kafka.sh's jars). init twice, the processor
#     (2 ranks) until healthy, a bounded producer, an unbounded one stopped by
#     SIGTERM, the processor stopped by SIGUSR1 (exit 0, drained within
#     DRAIN_BOUND s, snapshot written); then more messages, a restart from the
#     snapshot, and SIGTERM twice (forwarded as SIGUSR1: exit 0). Every message
#     produced is one row; batch_log is filled. Bad settings fail fast with one
#     line each. The tests' broker is used when it is Kafka; otherwise this
#     test starts its own (scripts/kafka.sh) and stops it.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COMPOSE=$ROOT/docker/compose.yaml
DOCKERFILE=$ROOT/docker/Dockerfile
ENTRY=$ROOT/docker/entrypoint.sh
DRAIN_BOUND=30 # seconds from SIGUSR1 to the processor's exit

T=$(mktemp -d "$BS_TEST_TMP/docker.XXXXXX")
chmod 755 "$T"
own_kafka=""
bg_pids=() # entry points started in the background and not yet waited for
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$st" != Z* ]]; }
descendants() { # pid -> its descendants' pids, deepest first
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        descendants "$c"
        echo "$c"
    done
}
reaped() { # pid: waited for, no longer to clean up
    local p keep=()
    for p in "${bg_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    bg_pids=("${keep[@]}")
}
# On the way out (a failed check included): each entry point still running is
# asked to stop (SIGTERM; the processor's forwards SIGUSR1 to mpirun) and,
# 30 s later, killed with everything it started.
cleanup() {
    local p t=$SECONDS tree
    for p in "${bg_pids[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
    for p in "${bg_pids[@]}"; do
        while alive "$p" && [ $((SECONDS - t)) -lt 30 ]; do sleep 0.5; done
        if alive "$p"; then
            tree=$(descendants "$p")
            # shellcheck disable=SC2086 # a list of pids
            kill -KILL $tree "$p" 2>/dev/null
        fi
    done
    [ -n "$own_kafka" ] && "$ROOT/scripts/kafka.sh" stop --dir "$own_kafka" >/dev/null 2>&1
    return 0
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
timing() { echo "timing: $*"; }

# A python3 with PyYAML (Debian's docker-compose brings python3-yaml).
PY=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
        PY=$p
        break
    fi
done

# ---- 1. the compose file ----------------------------------------------------------------
CONFIG=$T/compose.config.yaml
if command -v docker-compose >/dev/null 2>&1; then
    [ -n "$PY" ] || fail "docker-compose is installed but no python3 has PyYAML (python3-yaml)"
    t0=$(now)
    (cd "$ROOT/docker" && docker-compose -f compose.yaml config) \
        >"$CONFIG" 2>"$T/compose.err" ||
        fail "docker-compose config rejects docker/compose.yaml: $(cat "$T/compose.err")"
    [ ! -s "$T/compose.err" ] || fail "docker-compose config warns: $(cat "$T/compose.err")"
    timing "docker-compose config $(since "$t0") s ($(docker-compose version --short 2>/dev/null))"
    CONFIG_KIND=resolved
else
    echo "SKIP (docker-compose is not installed; scripts/install-deps.sh installs it): docker-compose config of docker/compose.yaml; the checks below read the file itself"
    [ -n "$PY" ] || fail "no python3 with PyYAML (python3-yaml) to read docker/compose.yaml"
    cp "$COMPOSE" "$CONFIG"
    CONFIG_KIND=raw
fi

# Checks the configuration's shape, then writes for each bankstream service
# T/env.SERVICE (its environment, NUL-separated NAME=value) and T/topic.cmd
# (the topic service's command, NUL-separated).
"$PY" - "$CONFIG" "$CONFIG_KIND" "$T" "$ROOT" <<'PYEOF'
import os, re, sys, yaml

path, kind, outdir, root = sys.argv[1:5]
doc = yaml.safe_load(open(path))
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

def interp(v):
    # ${VAR:-default} / ${VAR-default} / ${VAR} as compose does (raw file only)
    if kind != "raw" or not isinstance(v, str):
        return v
    def rep(m):
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        val = os.environ.get(name)
        if op == ":-" and not val: return default
        if op == "-" and val is None: return default
        return val or ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", rep, v)

def env_of(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) for x in e)
    return {k: "" if v is None else str(interp(v)) for k, v in e.items()}

def seconds(d):
    if isinstance(d, (int, float)): return d
    total = 0
    for n, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(d)):
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total

svcs = doc.get("services") or {}
want = {"broker", "topic", "schema-registry", "kafka-ui", "postgres", "init", "producer",
        "processor", "dashboard"}
check(set(svcs) == want, f"services {sorted(svcs)} != {sorted(want)}")

def published(name):
    out = set()
    for p in svcs.get(name, {}).get("ports") or []:
        if isinstance(p, dict):
            out.add(int(p.get("published")))
        else:
            parts = str(interp(p)).split(":")
            out.add(int(parts[-2]) if len(parts) >= 2 else int(parts[0]))
    return out

for name, port in [("broker", 9092), ("schema-registry", 8081), ("kafka-ui", 8080),
                   ("postgres", 5432), ("dashboard", 8501)]:
    check(port in published(name), f"{name} does not publish port {port}")

img = lambda n: str(interp(svcs.get(n, {}).get("image", "")))
check(img("broker").startswith("apache/kafka:"), "broker is not the official apache/kafka image")
check(img("topic") == img("broker"), "topic does not use the broker's image")
check(img("schema-registry").startswith("confluentinc/cp-schema-registry:"), "schema-registry image")
check(img("kafka-ui").startswith("provectuslabs/kafka-ui:"), "kafka-ui image")
check(img("postgres").startswith("postgres:15"), "postgres is not PostgreSQL 15")

be = env_of(svcs.get("broker", {}))
check("controller" in be.get("KAFKA_PROCESS_ROLES", "") and "broker" in be.get("KAFKA_PROCESS_ROLES", ""),
      "broker is not a KRaft broker+controller")
adv = be.get("KAFKA_ADVERTISED_LISTENERS", "")
check("://broker:29092" in adv and ":9092" in adv, f"advertised listeners {adv!r}: want broker:29092 and :9092")
ue = env_of(svcs.get("kafka-ui", {}))
check(ue.get("KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS") == "broker:29092", "kafka-ui cluster is not broker:29092")
check(ue.get("KAFKA_CLUSTERS_0_SCHEMAREGISTRY") == "http://schema-registry:8081", "kafka-ui has no schema registry")
se = env_of(svcs.get("schema-registry", {}))
check("broker:29092" in se.get("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", ""), "schema-registry store is not broker:29092")
pe = env_of(svcs.get("postgres", {}))
check(pe.get("POSTGRES_DB") == "bank" and pe.get("POSTGRES_USER") == "bank_etl",
      "postgres: database bank and role bank_etl expected")

bankstream = ["init", "producer", "processor", "dashboard"]
roles = {"init": "init", "producer": "producer", "processor": "processor", "dashboard": "dashboard"}
for n in bankstream:
    s = svcs.get(n, {})
    b = s.get("build") or {}
    check(str(b.get("dockerfile", "")).endswith("docker/Dockerfile"), f"{n} is not built from docker/Dockerfile")
    ctx = str(b.get("context", ""))
    if kind == "resolved":
        check(os.path.realpath(ctx) == os.path.realpath(root), f"{n}: build context {ctx} is not the repository root")
    check(s.get("image") == svcs["init"].get("image"), f"{n}: not the same image as init")
    cmd = s.get("command")
    check(cmd == [roles[n]], f"{n}: command {cmd!r}, want [{roles[n]!r}]")
    e = env_of(s)
    check(e.get("PGHOST") == "postgres", f"{n}: PGHOST is not the postgres service")
    check(e.get("PGUSER") == pe.get("POSTGRES_USER") and e.get("PGPASSWORD") == pe.get("POSTGRES_PASSWORD")
          and e.get("PGDATABASE") == pe.get("POSTGRES_DB"), f"{n}: PGUSER/PGPASSWORD/PGDATABASE differ from the postgres service's")
    check(e.get("BANKSTREAM_BROKERS") == "broker:29092", f"{n}: BANKSTREAM_BROKERS is not broker:29092")
    with open(os.path.join(outdir, "env." + n), "wb") as f:
        for k, v in sorted(e.items()):
            f.write(f"{k}={v}".encode() + b"\0")

# one-shots and long-running services
oneshot = {"topic", "init"}
for n, s in svcs.items():
    if n in oneshot:
        check(str(s.get("restart", "no")) == "no", f"{n} is a one-shot but restarts")
        check("healthcheck" not in s, f"{n} is a one-shot with a health check")
    else:
        hc = s.get("healthcheck") or {}
        check(bool(hc.get("test")) and not hc.get("disable"), f"{n} has no health check")
        check(str(s.get("restart", "no")) != "no", f"{n} is long-running but never restarted")

# depends_on: conditions that hold, an order with no cycle
want_deps = {
    "topic": {"broker": "service_healthy"},
    "schema-registry": {"broker": "service_healthy"},
    "kafka-ui": {"broker": "service_healthy", "schema-registry": "service_healthy"},
    "init": {"postgres": "service_healthy"},
    "producer": {"init": "service_completed_successfully", "topic": "service_completed_successfully"},
    "processor": {"init": "service_completed_successfully", "topic": "service_completed_successfully"},
    "dashboard": {"init": "service_completed_successfully"},
}
deps = {}
for n, s in svcs.items():
    d = s.get("depends_on") or {}
    if isinstance(d, list):
        d = {x: {"condition": "service_started"} for x in d}
    deps[n] = {k: (v or {}).get("condition", "service_started") for k, v in d.items()}
    for k, cond in deps[n].items():
        check(k in svcs, f"{n} depends on unknown {k}")
        if cond == "service_healthy":
            check("healthcheck" in svcs.get(k, {}), f"{n} waits for {k} healthy, which has no health check")
        if cond == "service_completed_successfully":
            check(k in oneshot, f"{n} waits for {k} to complete, which runs forever")
for n, w in want_deps.items():
    for k, cond in w.items():
        check(deps.get(n, {}).get(k) == cond, f"{n} should depend on {k} with {cond}, has {deps.get(n, {}).get(k)}")
levels, done = [], set()
while len(done) < len(svcs):
    ready = sorted(n for n in svcs if n not in done and set(deps[n]) <= done)
    if not ready:
        errors.append(f"depends_on has a cycle among {sorted(set(svcs) - done)}")
        break
    levels.append(ready)
    done |= set(ready)

# the processor: SIGUSR1, a drain's grace, snapshots on a named volume
p = svcs.get("processor", {})
check(p.get("stop_signal") == "SIGUSR1", "processor stop_signal is not SIGUSR1")
check(seconds(p.get("stop_grace_period", "10s")) >= 60, "processor stop_grace_period under 60 s")
snapdir = env_of(p).get("BANKSTREAM_SNAPSHOT_DIR", "")
vols = [v if isinstance(v, dict) else {"source": str(v).split(":")[0], "target": str(v).split(":")[1]}
        for v in p.get("volumes") or []]
check(any(v.get("target") == snapdir and v.get("source") in (doc.get("volumes") or {}) for v in vols),
      f"processor snapshots ({snapdir or 'BANKSTREAM_SNAPSHOT_DIR unset'}) are not on a named volume")
check(env_of(p).get("BANKSTREAM_RANKS", "") != "", "processor has no BANKSTREAM_RANKS")
check(not svcs.get("dashboard", {}).get("profiles"), "dashboard is behind a profile: a plain `up` would not start it")
check(not any(s.get("profiles") for s in svcs.values()), "a service is behind a profile")

t = svcs.get("topic", {}).get("command") or []
check(len(t) > 1 and str(t[0]).endswith("kafka-topics.sh"), "topic service does not run kafka-topics.sh")
with open(os.path.join(outdir, "topic.cmd"), "wb") as f:
    for w in t:
        f.write(str(interp(w)).encode() + b"\0")

if errors:
    for e in errors:
        print("FAILED: compose:", e, file=sys.stderr)
    sys.exit(1)
ports = ", ".join(f"{n} {sorted(published(n))[0]}" for n in ["broker", "schema-registry", "kafka-ui", "postgres", "dashboard"])
print(f"compose: {len(svcs)} services; host ports: {ports}")
print("compose: start order: " + " -> ".join("{" + ", ".join(l) + "}" for l in levels))
PYEOF

# ---- 2. the Dockerfile --------------------------------------------------------------------
# The packages between "# BEGIN NAME packages" and "# END NAME packages".
dockerfile_pkgs() { # name
    sed -n "/^# BEGIN $1 packages/,/^# END $1 packages/p" "$DOCKERFILE" |
        grep -E '^ {6}[a-z0-9]' | sed 's/\\$//' | tr -s ' ' '\n' | grep .
}
mapfile -t runtime_pkgs < <(dockerfile_pkgs runtime)
mapfile -t build_pkgs < <(dockerfile_pkgs build)
[ "${#runtime_pkgs[@]}" -ge 10 ] || fail "found ${#runtime_pkgs[@]} runtime packages in docker/Dockerfile"
[ "${#build_pkgs[@]}" -ge 8 ] || fail "found ${#build_pkgs[@]} build packages in docker/Dockerfile"
missing=()
for p in "${runtime_pkgs[@]}" "${build_pkgs[@]}"; do
    n=$(apt-cache show --no-all-versions "$p" 2>/dev/null | grep -c '^Package: ') || true
    [ "${n:-0}" -ge 1 ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || fail "not in this Debian's package lists (apt-cache show): ${missing[*]}"
echo "dockerfile: ${#runtime_pkgs[@]} runtime and ${#build_pkgs[@]} build packages found by apt-cache show"

# Every library the binary needs comes from a runtime package (libc6 is in the base image).
needed=$(objdump -p "$BANKSTREAM" | awk '$1 == "NEEDED" { print $2 }')
for lib in $needed; do
    case "$lib" in libc.so.* | libm.so.* | libasan.so.* | libubsan.so.* | ld-linux*) continue ;; esac
    path=$(ldconfig -p | awk -v l="$lib" '!found && $1 == l && /x86-64|AArch64/ { print $NF; found = 1 }')
    [ -n "$path" ] || path=$(ldd "$BANKSTREAM" | awk -v l="$lib" '$1 == l { print $3 }')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) || true
    pkg=${pkg%%:*}
    [ -n "$pkg" ] || fail "no package ships $lib ($path)"
    [[ " ${runtime_pkgs[*]} " == *" $pkg "* ]] ||
        fail "the binary needs $lib from package $pkg, which the Dockerfile's runtime stage does not install"
done
echo "dockerfile: the runtime packages ship every library bankstream links ($(wc -w <<<"$needed") NEEDED)"

# hadolint: on PATH, else where scripts/install-deps.sh puts it.
HADOLINT=$(command -v hadolint || true)
if [ -z "$HADOLINT" ] && [ -x "$HOME/.cache/bankstream/hadolint/bin/hadolint" ]; then
    HADOLINT=$HOME/.cache/bankstream/hadolint/bin/hadolint
fi
if [ -n "$HADOLINT" ]; then
    out=$("$HADOLINT" "$DOCKERFILE" 2>&1) || fail "hadolint docker/Dockerfile: $out"
    echo "dockerfile: $("$HADOLINT" --version) passes"
else
    echo "SKIP (hadolint not installed; scripts/install-deps.sh puts it in ~/.cache/bankstream/hadolint): Dockerfile lint"
fi
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck "$ENTRY" || fail "shellcheck docker/entrypoint.sh"
    echo "entrypoint: shellcheck passes"
fi

# ---- 3. the entry point, as the containers run it -------------------------------------
case "${BS_TEST_BROKER_KIND:-mock}" in
kafka | external) BROKERS=$BS_TEST_BROKERS ;;
*)
    own_kafka=$T/kafka
    t0=$(now)
    BROKERS=$("$ROOT/scripts/kafka.sh" start --dir "$own_kafka" --port "$(free_port)" | tail -1) ||
        fail "could not start Apache Kafka with scripts/kafka.sh"
    timing "Apache Kafka started for this test in $(since "$t0") s ($BROKERS)"
    ;;
esac

# The test's PostgreSQL as compose's: a database of our own owned by bank_etl
# (the postgres image makes POSTGRES_USER a superuser), reached over TCP.
psql_q "$BS_TEST_PG" "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bank_etl') THEN
        CREATE ROLE bank_etl LOGIN SUPERUSER; END IF; END \$\$" >/dev/null
PG=$(new_database docker)
DB=$(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$PG")
psql_q "$BS_TEST_PG" "ALTER DATABASE $DB OWNER TO bank_etl" >/dev/null
PGH=$(sed 's/.*host=\([^ ]*\).*/\1/' <<<"$PG")
PGP=$(sed 's/.*port=\([^ ]*\).*/\1/' <<<"$PG")
TOPIC=$(new_topic docker)
SNAP=$T/snapshots
q() { psql_q "$PG" "$1"; }

METRICS=""
if ss -Htln "sport = :9400" | grep -q .; then
    METRICS=$(free_port)
    echo "note: port 9400 (the compose file's BANKSTREAM_METRICS_PORT) is taken here; the processor uses $METRICS"
fi

# entry_cmd SERVICE [NAME=value...] -- ROLE [ARGS...]: sets CMD to the entry
# point with the environment compose gives SERVICE and nothing else, places
# replaced (env execs the entry point: "${CMD[@]}" & gives its pid in $!).
# entry ...: the same, run in the foreground.
CMD=()
entry_cmd() {
    local svc=$1
    shift
    local -a assign=() compose_env=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        assign+=("$1")
        shift
    done
    shift
    mapfile -d '' compose_env <"$T/env.$svc"
    local -a places=(PGHOST="$PGH" PGPORT="$PGP" PGDATABASE="$DB" BANKSTREAM_BROKERS="$BROKERS"
        BANKSTREAM_TOPIC="$TOPIC" BANKSTREAM_BIN="$BANKSTREAM" BANKSTREAM_RUN_DIR="$T/run-$svc")
    [ "$svc" = processor ] && places+=(BANKSTREAM_SNAPSHOT_DIR="$SNAP")
    [ "$svc" = processor ] && [ -n "$METRICS" ] && places+=(BANKSTREAM_METRICS_PORT="$METRICS")
    CMD=(env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8)
    [ -n "${ASAN_OPTIONS:-}" ] && CMD+=(ASAN_OPTIONS="$ASAN_OPTIONS")
    [ -n "${UBSAN_OPTIONS:-}" ] && CMD+=(UBSAN_OPTIONS="$UBSAN_OPTIONS")
    CMD+=("${compose_env[@]}" "${places[@]}" "${assign[@]}" "$ENTRY" "$@")
}
entry() {
    entry_cmd "$@"
    "${CMD[@]}"
}

topic_messages() { # messages in the topic (sum of high watermarks)
    kcat -C -b "$BROKERS" -t "$TOPIC" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l
}
committed() { q "SELECT coalesce(sum(n_mensagens), 0) FROM batch_log"; }
wait_committed() { # n seconds
    local n=$1 limit=$2 t=$SECONDS c
    while :; do
        c=$(committed)
        [ "$c" -ge "$n" ] && break
        [ $((SECONDS - t)) -lt "$limit" ] || fail "processor committed $c of $n messages in $limit s"
        sleep 1
    done
    assert_eq "$c" "$n" "messages committed"
}
wait_healthy() { # service seconds
    local t=$SECONDS
    until entry "$1" -- healthcheck "$1" 2>"$T/health.err"; do
        [ $((SECONDS - t)) -lt "$2" ] || fail "$1 not healthy after $2 s: $(cat "$T/health.err")"
        sleep 1
    done
}

# init: schema and reference data, twice (every `compose up` runs it).
USERS=$(tr '\0' '\n' <"$T/env.init" | sed -n 's/^BANKSTREAM_USERS=//p')
for i in 1 2; do
    t0=$(now)
    entry init -- init >"$T/init.$i.out" 2>&1 || fail "entrypoint init ($i): $(cat "$T/init.$i.out")"
    timing "init #$i $(since "$t0") s"
done
assert_eq "$(q "SELECT count(*) FROM usuarios")" "$USERS" "users after init (BANKSTREAM_USERS)"
assert_eq "$(q "SELECT count(*) FROM regioes")" 27 "regions after init"
owner=$(q "SELECT tableowner FROM pg_tables WHERE tablename = 'transacoes'")
assert_eq "$owner" bank_etl "transacoes created by the compose role"

# topic: the compose service's own command line, through Kafka's jars.
mapfile -d '' topic_cmd <"$T/topic.cmd"
tool=$(basename "${topic_cmd[0]}" .sh)
tool=${tool#kafka-}
args=()
for w in "${topic_cmd[@]:1}"; do
    case "$w" in
    broker:29092) args+=("$BROKERS") ;;
    bank_transactions) args+=("$TOPIC") ;;
    *) args+=("$w") ;;
    esac
done
t0=$(now)
"$ROOT/scripts/kafka.sh" tool "$tool" "${args[@]}" >"$T/topic.out" 2>&1 ||
    fail "the topic service's command: kafka-$tool ${args[*]}: $(cat "$T/topic.out")"
timing "topic service command (kafka-$tool) $(since "$t0") s"
parts=$(kcat -L -b "$BROKERS" -t "$TOPIC" -J | grep -o '"partition":' | wc -l)
assert_eq "$parts" 4 "partitions of the topic the topic service created"

# processor: started before any message, as compose may; healthy when it serves metrics.
t0=$(now)
entry_cmd processor -- processor
"${CMD[@]}" >"$T/processor.1.out" 2>&1 &
proc=$!
bg_pids+=("$proc")
wait_healthy processor 90
timing "processor (BANKSTREAM_RANKS=$(tr '\0' '\n' <"$T/env.processor" | sed -n 's/^BANKSTREAM_RANKS=//p')) healthy after $(since "$t0") s"

# producer, bounded (BANKSTREAM_COUNT; rate raised to keep the test short).
t0=$(now)
entry producer BANKSTREAM_COUNT=2000 BANKSTREAM_RATE=1000 -- producer >"$T/producer.1.out" 2>&1 ||
    fail "entrypoint producer (bounded): $(cat "$T/producer.1.out")"
timing "producer, 2000 messages at 1000/s: $(since "$t0") s"

# producer as compose runs it (its BANKSTREAM_RATE, no count), stopped by SIGTERM
# (compose's default stop signal).
entry_cmd producer -- producer
"${CMD[@]}" >"$T/producer.2.out" 2>&1 &
prod=$!
bg_pids+=("$prod")
wait_healthy producer 30
sleep 2
t0=$(now)
kill -TERM "$prod"
rc=0
wait "$prod" || rc=$?
reaped "$prod"
timing "producer stopped by SIGTERM in $(since "$t0") s"
assert_eq "$rc" 0 "producer exit status after SIGTERM ($(tail -3 "$T/producer.2.out"))"
assert_contains "$(cat "$T/producer.2.out")" "stopped cleanly on SIGTERM" "producer stop logged"
total=$(topic_messages)
[ "$total" -gt 2000 ] || fail "the unbounded producer produced nothing ($total in the topic)"

# The processor catches up, then SIGUSR1 (compose's stop_signal): drained, exit 0.
t0=$(now)
wait_committed "$total" 120
timing "processor caught up with $total messages $(since "$t0") s after the last producer stopped"
entry processor -- healthcheck processor || fail "processor unhealthy while running"
t0=$(now)
kill -USR1 "$proc"
rc=0
wait "$proc" || rc=$?
reaped "$proc"
drain=$(since "$t0")
timing "processor drained and exited $drain s after SIGUSR1 (bound $DRAIN_BOUND s)"
assert_eq "$rc" 0 "processor exit status after SIGUSR1 ($(tail -3 "$T/processor.1.out"))"
awk -v d="$drain" -v b="$DRAIN_BOUND" 'BEGIN { exit !(d < b) }' ||
    fail "SIGUSR1 drain took $drain s, over $DRAIN_BOUND s"
out=$(cat "$T/processor.1.out")
assert_contains "$out" "stop requested" "graceful stop logged by rank 0"
assert_contains "$out" "processor stopped cleanly on SIGUSR1" "entrypoint saw a clean stop"
ls "$SNAP"/snap-*.h5 >/dev/null 2>&1 || fail "no snapshot in the snapshot directory after the stop"
entry processor -- healthcheck processor 2>/dev/null && fail "healthcheck passes with the processor stopped"

# Every message is one row; batch_log filled.
rows=$(q "SELECT (SELECT count(*) FROM transacoes) + (SELECT count(*) FROM transacoes_duplicadas)
    + (SELECT count(*) FROM dead_letters)")
assert_eq "$rows" "$total" "rows for the messages in the topic"
assert_eq "$(q "SELECT count(*) FROM transacoes_duplicadas")" 0 "duplicates (each producer start draws its own seed)"
[ "$(q "SELECT count(*) FROM batch_log")" -ge 1 ] || fail "batch_log is empty"
bad=$(q "SELECT count(*) FROM transacoes WHERE (status = 'aprovada') IS DISTINCT FROM coalesce(transacao_aprovada, false)")
assert_eq "$bad" 0 "status and transacao_aprovada agree"

# More messages, a restart from the snapshot, and SIGTERM (forwarded as SIGUSR1).
entry producer BANKSTREAM_COUNT=500 BANKSTREAM_RATE=0 -- producer >"$T/producer.3.out" 2>&1 ||
    fail "entrypoint producer (3): $(cat "$T/producer.3.out")"
total=$((total + 500))
assert_eq "$(topic_messages)" "$total" "messages in the topic"
t0=$(now)
entry_cmd processor -- processor
"${CMD[@]}" >"$T/processor.2.out" 2>&1 &
proc=$!
bg_pids+=("$proc")
wait_committed "$total" 120
timing "restarted processor caught up (+500) in $(since "$t0") s"
assert_contains "$(cat "$T/processor.2.out")" "users from $SNAP/snap-" "restart restored from the snapshot"
t0=$(now)
kill -TERM "$proc"
sleep 1
kill -TERM "$proc" # an impatient second stop changes nothing
rc=0
wait "$proc" || rc=$?
reaped "$proc"
timing "processor stopped $(since "$t0") s after SIGTERM, sent twice (held until 10 s after its launch)"
assert_eq "$rc" 0 "processor exit status after SIGTERM ($(tail -3 "$T/processor.2.out"))"
rows=$(q "SELECT (SELECT count(*) FROM transacoes) + (SELECT count(*) FROM transacoes_duplicadas)
    + (SELECT count(*) FROM dead_letters)")
assert_eq "$rows" "$total" "rows after the restart"

# Bad settings and missing services: one line, bounded, nonzero.
assert_fails "PostgreSQL (host=127.0.0.1 port=1" entry init PGPORT=1 BANKSTREAM_WAIT_SECONDS=2 -- init
assert_fails "Kafka (127.0.0.1:1, BANKSTREAM_BROKERS) not answering" \
    entry producer BANKSTREAM_BROKERS=127.0.0.1:1 BANKSTREAM_WAIT_SECONDS=2 -- producer
assert_fails "topic 'no_such_topic_$$' (BANKSTREAM_TOPIC) does not exist" \
    entry processor BANKSTREAM_TOPIC=no_such_topic_$$ BANKSTREAM_WAIT_TOPIC_SECONDS=2 -- processor
assert_fails "BANKSTREAM_RANKS='0' is not a positive integer" entry processor BANKSTREAM_RANKS=0 -- processor
assert_fails "no database given" entry init PGHOST= -- init
assert_fails "healthcheck takes a role" entry producer -- healthcheck
meta=$(kcat -L -b "$BROKERS" -J)
[[ "$meta" != *"no_such_topic_$$"* ]] || fail "waiting for a topic created it"

# dashboard: run it if this bankstream has it, else the clear refusal.
# Its topic panel reads the broker and topic the service is given.
if [[ "$("$BANKSTREAM" --help)" == *$'\n  dashboard '* ]]; then
    DPORT=$(free_port)
    entry_cmd dashboard BANKSTREAM_DASHBOARD_PORT="$DPORT" -- dashboard
    "${CMD[@]}" >"$T/dashboard.out" 2>&1 &
    dash=$!
    bg_pids+=("$dash")
    t=$SECONDS
    until entry dashboard BANKSTREAM_DASHBOARD_PORT="$DPORT" -- healthcheck dashboard 2>"$T/health.err"; do
        [ $((SECONDS - t)) -lt 60 ] || fail "dashboard not healthy after 60 s: $(cat "$T/health.err") $(tail -5 "$T/dashboard.out")"
        sleep 1
    done
    t=$SECONDS
    until topico=$(curl -sf "http://127.0.0.1:$DPORT/api/topico") &&
        [[ "$topico" == *'"ok":true'* && "$topico" == *"\"topic\":\"$TOPIC\""* &&
            "$topico" == *'"particao":0'* ]]; do
        [ $((SECONDS - t)) -lt 30 ] ||
            fail "dashboard's /api/topico does not show topic $TOPIC on the service's broker: ${topico:-no answer}"
        sleep 1
    done
    kill -TERM "$dash"
    rc=0
    wait "$dash" || rc=$?
    reaped "$dash"
    assert_eq "$rc" 0 "dashboard exit status after SIGTERM"
else
    assert_fails "has no 'dashboard' command" entry dashboard -- dashboard
    echo "SKIP (this bankstream has no dashboard command yet): the dashboard role; it refuses with a clear line"
fi

# Anything else is a bankstream command.
out=$(entry init -- version)
assert_contains "$(head -1 <<<"$out")" "bankstream " "entrypoint version"
echo "ok"
