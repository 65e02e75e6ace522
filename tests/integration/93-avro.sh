#!/usr/bin/env bash
# 93-avro.sh - Avro through a Schema Registry (issue 17), with Confluent's own
# Python client (confluent-kafka's AvroSerializer, AvroDeserializer and
# SchemaRegistryClient, in the venv `make deps` makes) against the in-memory
# registry of `bankstream broker --registry-port`:
#   1. the Python client reads what `bankstream produce --format avro` wrote;
#   2. a topic mixing JSON and Avro message by message gives the same tables as
#      the all-JSON topic, and so does the Python client's Avro;
#   3. the evolution cases: a field added, a field removed (reader default),
#      valor_transacao as float, data_horario as ISO text;
#   4. a writer schema that cannot be resolved and an unknown schema id are
#      dead letters naming the field and the id;
#   5. the registry down at start and back: nothing dead-lettered, the pause
#      reported when it starts, after 10 s and when it ends;
#   6. the registry's compatibility check and its refusal of an incompatible schema;
#   7. no registry configured: Avro messages are dead letters saying so; an
#      unknown [registry] setting named at start.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PY=${BS_AVRO_PYTHON:-$HOME/.cache/bankstream/pyclients/bin/python}
if ! "$PY" -c "import confluent_kafka.schema_registry.avro, fastavro" 2>/dev/null; then
    echo "SKIP: no Python with confluent-kafka[avro] at $PY (make deps installs it)"
    exit 0
fi
CLIENT=(timeout 300 "$PY" "$(dirname "$0")/avro_client.py")
work="$BS_TEST_TMP/avro.$$"
mkdir -p "$work"
RP=$(free_port)
REG=http://127.0.0.1:$RP
REG_PID=

start_registry() {
    "$BANKSTREAM" broker --port 0 --registry-port "$RP" >/dev/null 2>>"$work/registry.err" &
    REG_PID=$!
    for _ in $(seq 50); do curl -sf "$REG/subjects" >/dev/null && return; sleep 0.1; done
    cat "$work/registry.err"
    fail "the registry did not start on port $RP"
}
stop_registry() {
    [ -n "$REG_PID" ] || return 0
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=
}
run_pid=
trap '[ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null; stop_registry; drop_databases' EXIT
start_registry

run_topic() { # db topic [registry] -> run bankstream over the topic into db
    mpirun_bs 2 run --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$2" --batch-size 500 \
        --batch-ms 0 --until-idle --snapshot-dir none --registry "${3:-$REG}" --quiet
}
dump_as() { # db dir topic: dump_decisions with the topic name made neutral
    dump_decisions "$1" "$2"
    sed -i "s/$3/TOPIC/" "$2/batch_log"
}

PRODUCE=(--brokers "$BS_TEST_BROKERS" --count 2000 --rate 0 --seed 11 --historic 100
         --start-time 1750428191123 --quiet)
PG=$(new_database avro_users --users 500)
J=$(new_topic avro_json)
A=$(new_topic avro_avro)
"$BANKSTREAM" produce --pg "$PG" --topic "$J" "${PRODUCE[@]}"
"$BANKSTREAM" produce --pg "$PG" --topic "$A" "${PRODUCE[@]}" --format avro --registry "$REG"
assert_eq "$(curl -sf "$REG/subjects/$A-value/versions")" "[1]" "schema registered under <topic>-value"
first=$(kcat -C -b "$BS_TEST_BROKERS" -t "$A" -p 0 -o 0 -c 1 -e -f '%s' | head -c 5 | od -An -tx1 | tr -d ' \n')
assert_eq "$first" "0000000001" "Confluent framing: magic byte 0, schema id 1 big-endian"

# 1. Confluent's deserializer reads bankstream's Avro: each record equals its JSON twin.
out=$("${CLIENT[@]}" consume "$BS_TEST_BROKERS" "$REG" "$A" "$J")
assert_contains "$out" "consumed 2000 Avro messages" "Python AvroDeserializer"

# 2. Mixed JSON/Avro, and the Python client's Avro, give the all-JSON topic's tables.
M=$(new_topic avro_mixed)
P=$(new_topic avro_python)
"${CLIENT[@]}" mix "$BS_TEST_BROKERS" "$J" "$A" "$M"
"${CLIENT[@]}" produce "$BS_TEST_BROKERS" "$REG" "$J" "$P" >/dev/null
for t in J M P; do
    db=$(new_database "avro_${t,,}" --users 500)
    run_topic "$db" "${!t}"
    dump_as "$db" "$work/dump_$t" "${!t}"
done
[ "$(wc -l <"$work/dump_J/transacoes")" -eq 2000 ] || fail "the JSON run decided 2000 transactions"
diff_dumps "mixed JSON/Avro topic" "$work/dump_J" "$work/dump_M" || fail "mixed topic differs"
diff_dumps "Python client's Avro" "$work/dump_J" "$work/dump_P" || fail "Python-produced topic differs"

# 3. Evolved writer schemas, each against the rows it must give.
"$BANKSTREAM" produce --pg "$PG" --topic "${J}_small" --brokers "$BS_TEST_BROKERS" --count 300 \
    --rate 0 --seed 12 --historic 0 --start-time 1750428191123 --quiet
for case in added removed float iso; do
    T=$(new_topic "avro_$case")
    "${CLIENT[@]}" produce "$BS_TEST_BROKERS" "$REG" "${J}_small" "$T" "$case" >"$work/want_$case"
    db=$(new_database "avro_$case" --users 500)
    run_topic "$db" "$T"
    psql_q "$db" "COPY (SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
        modalidade_pagamento, (extract(epoch FROM data_horario) * 1000000)::bigint,
        (valor_transacao * 100)::bigint FROM transacoes) TO STDOUT" | LC_ALL=C sort >"$work/got_$case"
    LC_ALL=C sort -o "$work/want_$case" "$work/want_$case"
    cmp -s "$work/want_$case" "$work/got_$case" ||
        { diff "$work/want_$case" "$work/got_$case" | head; fail "evolution case $case"; }
    assert_eq "$(psql_q "$db" "SELECT count(*) FROM dead_letters")" 0 "no dead letters ($case)"
done
assert_eq "$(psql_q "$db" "SELECT count(*) FROM transacoes")" 300 "300 rows per evolution case"

# 4. An unresolvable writer schema, an unknown id.
B=$(new_topic avro_bad)
"${CLIENT[@]}" bad "$BS_TEST_BROKERS" "$REG" "$B"
db=$(new_database avro_bad --users 500)
run_topic "$db" "$B"
dead=$(psql_q "$db" "SELECT erro FROM dead_letters ORDER BY kafka_particao, kafka_offset")
echo "$dead"
assert_eq "$(grep -c 'field valor_transacao: writer type string cannot be read as double' <<<"$dead")" \
    3 "unresolvable schema: dead letters naming the field"
assert_contains "$dead" "avro schema " "dead letter names the encoding and schema id"
assert_eq "$(grep -c 'avro schema 999999: schema id 999999 not found in the registry (error 40403' \
    <<<"$dead")" 2 "unknown schema id: dead letters naming it"
assert_eq "$(psql_q "$db" "SELECT count(*) FROM dead_letters WHERE get_byte(payload, 0) = 0")" 5 \
    "dead letters keep the raw bytes"

# 5. The registry down at start, then back: the stream waits and resumes.
D=$(new_topic avro_down)
"$BANKSTREAM" produce --pg "$PG" --topic "$D" --brokers "$BS_TEST_BROKERS" --count 300 --rate 0 \
    --seed 13 --historic 0 --quiet --format avro --registry "$REG"
stop_registry
db=$(new_database avro_down --users 500)
mpirun_bs 2 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$D" --batch-size 100 \
    --batch-ms 200 --until-idle --snapshot-dir none --registry "$REG" >"$work/down.out" 2>&1 &
run_pid=$!
for _ in $(seq 900); do grep -q "still unreachable after 1" "$work/down.out" && break; sleep 0.1; done
cat "$work/down.out"
assert_contains "$(cat "$work/down.out")" "schema registry unreachable: " "outage reported at its start"
assert_contains "$(cat "$work/down.out")" "batches with Avro messages wait for it" "the pause is said"
assert_contains "$(cat "$work/down.out")" "still unreachable after 1" "outage reported after 10 s"
assert_eq "$(psql_q "$db" "SELECT count(*) FROM batch_log")" 0 "no batch cut while the registry is down"
start_registry # empty again: register the same schema first, for the same id 1
"$BANKSTREAM" produce --pg "$PG" --topic "$D" --brokers "$BS_TEST_BROKERS" --count 0 --quiet \
    --format avro --registry "$REG"
rc=0; wait "$run_pid" || rc=$?
run_pid=
cat "$work/down.out"
assert_eq "$rc" 0 "run finishes after the outage"
assert_contains "$(cat "$work/down.out")" "reachable again after" "outage end reported"
assert_eq "$(psql_q "$db" "SELECT count(*) FROM dead_letters")" 0 "no good message dead-lettered"
assert_eq "$(psql_q "$db" "SELECT count(*) FROM transacoes")" 300 "every message decided"

# 6. Compatibility (BACKWARD): a float valor_transacao cannot read the double data.
float_schema=$("$PY" -c 'import json,sys; sys.path.insert(0, sys.argv[1]); import avro_client as c
print(json.dumps({"schema": json.dumps(c.schema_for("float"))}))' "$(dirname "$0")")
"$BANKSTREAM" produce --pg "$PG" --topic "$A" --brokers "$BS_TEST_BROKERS" --count 0 --quiet \
    --format avro --registry "$REG"
ans=$(curl -s -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "$float_schema" "$REG/compatibility/subjects/$A-value/versions/latest")
assert_eq "$ans" '{"is_compatible":false}' "compatibility check"
ans=$(curl -s -X POST --data "$float_schema" "$REG/subjects/$A-value/versions")
assert_contains "$ans" '"error_code":409' "incompatible schema refused"
assert_eq "$(curl -s "$REG/schemas/ids/77")" '{"error_code":40403,"message":"Schema 77 not found"}' \
    "unknown id: Confluent's error"
# 7. No registry configured: Avro messages are dead letters saying so (a stray
#    message starting with byte 0 on a JSON-only topic must not stall it), and a
#    [registry] setting bankstream does not know stops the run at start, named.
db=$(new_database avro_noreg --users 500)
mpirun_bs 1 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$B" --batch-size 500 \
    --batch-ms 0 --until-idle --snapshot-dir none --quiet
assert_eq "$(psql_q "$db" "SELECT count(*) FROM dead_letters WHERE erro LIKE 'avro schema %: no schema registry configured%'")" \
    5 "without a registry, Avro messages are dead letters saying so"
printf '[registry]\nurl = %s\nbasic.auth.user.info = u:p\nfoo = 1\n' "$REG" >"$work/bad.ini"
assert_fails "[registry] unknown setting 'foo'" mpirun_bs 1 run "$work/bad.ini" --pg "$PG" \
    --brokers "$BS_TEST_BROKERS" --topic "$J" --snapshot-dir none
echo "ok"
