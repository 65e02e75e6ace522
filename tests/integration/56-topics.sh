#!/usr/bin/env bash
# 56-topics.sh - what the sink writes per topic and per message:
#   1. two topics into one database (issue 12.3), one after the other, each
#      with a dead letter and a duplicate at the same (partition, offset):
#      both commit, and each row carries its topic; a transaction not
#      processed has transacao_aprovada false (issue 11.4);
#   2. batch_log.last_ts_ms: the Kafka timestamp of the last message taken
#      from each partition (-1 for none), and pgstate_last_ts reads the
#      newest batch's;
#   3. huge dead letters (issue 12.4): ONE batch of 2,200 dead letters of
#      1 MiB each commits through the sink (tests/pg/sink_check); each row
#      keeps the first 64 KiB of its message, its full length and SHA-256.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

check="$BS_BUILD/pg/sink_check"
[ -x "$check" ] || fail "$check is missing (make builds it)"
work=$(mktemp -d /tmp/bs-test-topics.XXXXXX)
chmod 755 "$work"
db=$(new_database topics)
cleanup() {
    local rc=$?
    psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$db") WITH (FORCE)" >/dev/null 2>&1
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "files kept in $work" >&2; fi
}
trap cleanup EXIT
q() { psql_q "$db" "$1"; }
"$BANKSTREAM" init --pg "$db" --users 200 >/dev/null
payer=$(q "SELECT id_usuario FROM usuarios ORDER BY id_usuario LIMIT 1")
receiver=$(q "SELECT id_usuario FROM usuarios ORDER BY id_usuario DESC LIMIT 1")

# --- 1. two topics, the same coordinates: a transaction, a dead letter, the
# transaction again, one dated 2099 (not processed)
now_ms=$(($(date +%s) * 1000))
for name in a b; do
    t=$(new_topic "topic$name")
    eval "topic_$name=$t"
    id=$(python3 -c 'import uuid; print(uuid.uuid4())')
    txn=$(printf '{"id_transacao":"%s","id_usuario_pagador":"%s","id_usuario_recebedor":"%s","id_regiao":"SP","modalidade_pagamento":"PIX","data_horario":%s,"valor_transacao":1.00}' \
        "$id" "$payer" "$receiver" "$now_ms")
    future=$(sed 's/"id_transacao":"[^"]*"/"id_transacao":"'"$(python3 -c 'import uuid; print(uuid.uuid4())')"'"/;
                  s/"data_horario":[0-9]*/"data_horario":4070908800000/' <<<"$txn")
    printf '%s\n' "$txn" "not json in topic $name" "$txn" "$future" |
        kcat -b "$BS_TEST_BROKERS" -t "$t" -P -p 0
    out=$(mpirun_bs 2 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$t" --snapshot-dir none \
        --until-idle 2>&1) || { echo "$out"; fail "the run of topic $name failed"; }
done
assert_eq "$(q "SELECT string_agg(topic || ':' || kafka_particao || ':' || kafka_offset, ' ' ORDER BY batch_id) FROM dead_letters")" \
    "$topic_a:0:1 $topic_b:0:1" "dead letters of both topics at the same coordinates"
assert_eq "$(q "SELECT string_agg(topic || ':' || kafka_particao || ':' || kafka_offset, ' ' ORDER BY batch_id) FROM transacoes_duplicadas")" \
    "$topic_a:0:2 $topic_b:0:2" "duplicates of both topics at the same coordinates"
assert_eq "$(q "SELECT string_agg(topic, ' ' ORDER BY batch_id) FROM batch_log")" "$topic_a $topic_b" "a batch per topic"
assert_eq "$(q "SELECT string_agg(status || ' ' || motivo || ' ' || transacao_aprovada, ',') FROM transacoes WHERE status <> 'aprovada'")" \
    "nao_processada data_futura false,nao_processada data_futura false" \
    "transacao_aprovada is false, not NULL, for a transaction not processed"
assert_eq "$(q "SELECT tamanho || ' ' || sha256 FROM dead_letters WHERE topic = '$topic_a'")" \
    "19 $(printf 'not json in topic a' | sha256sum | cut -d' ' -f1)" "a dead letter's length and hash"

# --- 2. last_ts_ms: the Kafka timestamp of each partition's last message, -1 for none
ts=$(kcat -b "$BS_TEST_BROKERS" -C -t "$topic_b" -p 0 -o 3 -c 1 -e -q -f '%T')
nparts=$(kcat -b "$BS_TEST_BROKERS" -L -t "$topic_b" | grep -c 'partition ')
want="{$ts$(for ((p = 1; p < nparts; p++)); do printf ',-1'; done)}"
assert_eq "$(q "SELECT last_ts_ms FROM batch_log WHERE topic = '$topic_b'")" "$want" "batch_log.last_ts_ms"
assert_eq "$("$check" "$db" lastts "$topic_b")" "2 ${want:1:-1}" "pgstate_last_ts"
assert_eq "$("$check" "$db" lastts no_such_topic)" "0 " "pgstate_last_ts of a topic without batches"

# --- 3. one batch of 2,200 dead letters of 1 MiB each (2.2 GiB of messages)
out=$("$check" "$db" bigdead t_big 2200 1048576 "$work/message") || fail "the huge batch did not commit"
echo "$out"
sum=$(sha256sum <"$work/message" | cut -d' ' -f1)
head_md5=$(head -c 65536 "$work/message" | md5sum | cut -d' ' -f1)
assert_eq "$(q "SELECT count(*) || ' ' || min(tamanho) || ' ' || max(tamanho) || ' ' || min(octet_length(payload))
                 || ' ' || max(octet_length(payload)) || ' ' || count(DISTINCT sha256) || ' ' || min(sha256)
                 || ' ' || count(DISTINCT md5(payload)) || ' ' || min(md5(payload))
            FROM dead_letters WHERE topic = 't_big'")" \
    "2200 1048576 1048576 65536 65536 1 $sum 1 $head_md5" \
    "each huge dead letter: its first 64 KiB, its length and SHA-256"
assert_eq "$(q "SELECT n_mensagens || ' ' || n_dead_letters || ' ' || end_offsets::text FROM batch_log WHERE topic = 't_big'")" \
    "2200 2200 {2200}" "the huge batch's log row"
echo "ok"
