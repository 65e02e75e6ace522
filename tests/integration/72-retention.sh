#!/usr/bin/env bash
# 72-retention.sh - retention cannot corrupt state (issue 11.1). Two
# databases consume the same topic with the same batches and restarts: the
# reference never purges; the other runs limpar_transacoes_antigas(30) on
# rows whose created_at the test moved 40 days back (whole batches), then
# restarts WITHOUT snapshots, then WITH only snapshots older than the purge
# (which must be skipped, saying why), then with a snapshot newer than it;
# the new messages include purged transactions sent again. Every balance,
# computed independently in SQL (usuarios + what retention carried + the
# remaining rows, against usuarios + every row of the reference), every
# later decision, the duplicates and the batch log must equal the
# reference's.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

USERS=600
BATCH=400
PURGED=10 # batches 1..PURGED are purged

work=$(mktemp -d /tmp/bs-test-retention.XXXXXX)
chmod 755 "$work"
topic=$(new_topic retention)
ref=$(new_database retref)
pur=$(new_database retpur)
cleanup() {
    local rc=$?
    for d in "$ref" "$pur"; do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$d") WITH (FORCE)" >/dev/null 2>&1
    done
    if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "logs kept in $work" >&2; fi
}
trap cleanup EXIT
q() { psql_q "$1" "$2"; }
for d in "$ref" "$pur"; do "$BANKSTREAM" init --pg "$d" --users "$USERS" >/dev/null; done
printf '[snapshot]\nevery = 4\nmin_seconds = 0\n' >"$work/job.ini"

produce() { # seed start-ms count
    "$BANKSTREAM" produce --pg "$ref" --brokers "$BS_TEST_BROKERS" --topic "$topic" --rate 0 \
        --historic 0 --quiet --seed "$1" --start-time "$2" --count "$3"
}
generated() { # seed start-ms count: the same messages as key<TAB>value lines
    "$BANKSTREAM" produce --pg "$ref" --output - --rate 0 --historic 0 --quiet --seed "$1" \
        --start-time "$2" --count "$3"
}
resend() { # file of key<TAB>value lines -> the topic again
    kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -K $'\t' <"$1"
}
runs=0
run() { # db snapshot-dir -> runs to the end of the topic; the log in $log
    runs=$((runs + 1))
    log="$work/run$runs.log"
    mpirun_bs 2 run "$work/job.ini" --pg "$1" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-size "$BATCH" --batch-ms 0 --snapshot-dir "$2" --until-idle >"$log" 2>&1 ||
        { tail -20 "$log"; fail "run $runs exited non-zero"; }
    printf '[%s] %s\n' "$runs" "$(grep 'restored state' "$log" || true)"
}
ledger_sql="SELECT x, sum(d) AS d FROM (
        SELECT id_usuario_pagador AS x, -(valor_transacao * 100)::bigint AS d FROM transacoes WHERE status = 'aprovada'
        UNION ALL SELECT id_usuario_recebedor, (valor_transacao * 100)::bigint FROM transacoes WHERE status = 'aprovada') y
    GROUP BY x"
balances() { # db -> "user cents" lines: usuarios + carried (if any) + the remaining rows
    q "$1" "SELECT u.id_usuario || ' ' || ((u.saldo * 100)::bigint + coalesce(c.delta_centavos, 0)
                                         + coalesce(l.d, 0))
              FROM usuarios u LEFT JOIN saldos_expurgados c USING (id_usuario)
              LEFT JOIN ($ledger_sql) l ON l.x = u.id_usuario ORDER BY 1"
}
rows() { # db table-query -> its rows, canonical
    q "$1" "$2"
}
decisions="SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, valor_transacao,
    transacao_aprovada, tempo_entrada_kafka, status, motivo, batch_id, kafka_particao, kafka_offset
    FROM transacoes WHERE batch_id > $PURGED ORDER BY id_transacao"
duplicates="SELECT id_transacao, batch_id, kafka_particao, kafka_offset, md5(payload), topic
    FROM transacoes_duplicadas ORDER BY topic, kafka_particao, kafka_offset"
batches="SELECT batch_id, topic, start_offsets, end_offsets, n_mensagens, n_aprovadas,
    n_rejeitadas, n_nao_processadas, n_dead_letters, last_ts_ms FROM batch_log ORDER BY batch_id"

# --- phase 1: both databases, snapshots every 4 batches
produce 21 1750000000000 4800
run "$ref" "$work/ref.snap"
run "$pur" "$work/pur.snap"
n1=$(q "$pur" "SELECT count(*) FROM batch_log")
[ "$n1" -gt $((PURGED + 1)) ] || fail "phase 1 made only $n1 batches"
assert_eq "$(balances "$pur")" "$(balances "$ref")" "balances after phase 1"

# --- the purge: whole batches 1..PURGED inserted "40 days ago"
purged_rows=$(q "$pur" "SELECT count(*) FROM transacoes WHERE batch_id <= $PURGED")
q "$pur" "SELECT id_transacao FROM transacoes WHERE batch_id <= $PURGED" | sort >"$work/purged.ids"
q "$pur" "UPDATE transacoes SET created_at = created_at - interval '40 days' WHERE batch_id <= $PURGED" >/dev/null
assert_eq "$(q "$pur" "SELECT limpar_transacoes_antigas(dias_retencao => 30)")" "$purged_rows" \
    "limpar_transacoes_antigas(30) deletes the rows inserted more than 30 days ago"
assert_eq "$(q "$pur" "SELECT count(*) FROM transacoes WHERE batch_id <= $PURGED")" 0 "purged batches gone"
assert_eq "$(q "$pur" "SELECT count(*) FROM transacoes_scores s WHERE NOT EXISTS (SELECT 1 FROM transacoes t WHERE t.id_transacao = s.id_transacao)")" \
    0 "their scores are gone too"
assert_eq "$(q "$pur" "SELECT count(*) FROM transacoes_ids_expurgados")" "$purged_rows" "purged ids kept"
assert_eq "$(q "$pur" "SELECT valor FROM bankstream_meta WHERE chave = 'expurgado_ate_batch'")" "$PURGED" \
    "highest purged batch recorded"
[ "$(q "$pur" "SELECT count(*) FROM saldos_expurgados")" -gt 0 ] || fail "nothing carried"
assert_eq "$(balances "$pur")" "$(balances "$ref")" "balances (usuarios + carried + remaining) after the purge"
assert_eq "$(q "$pur" "SELECT limpar_transacoes_antigas(30)")" 0 "a second purge deletes nothing"

# Purged transactions to send again (as duplicates) in each later phase.
generated 21 1750000000000 4800 >"$work/phase1.msgs"
grep -F -f "$work/purged.ids" "$work/phase1.msgs" >"$work/purged.msgs" || true
[ "$(wc -l <"$work/purged.msgs")" -eq "$purged_rows" ] || fail "could not find the purged messages"
awk 'NR % 50 == 1' "$work/purged.msgs" >"$work/resend.a"
awk 'NR % 50 == 2' "$work/purged.msgs" >"$work/resend.b"
awk 'NR % 50 == 3' "$work/purged.msgs" >"$work/resend.c"

# --- phase 2a: a restart WITHOUT snapshots (usuarios + carried + ledger)
produce 22 1750000100000 1200
resend "$work/resend.a"
run "$ref" "$work/ref.snap"
run "$pur" none
assert_contains "$(cat "$log")" "usuarios + balances carried by retention + ledger" "restore without snapshots"

# --- phase 2b: a restart with only snapshots older than the purge
ls "$work/pur.snap"/snap-*.h5 >/dev/null || fail "no snapshots in phase 1"
for f in "$work/pur.snap"/snap-*.h5; do
    b=$(basename "$f" .h5)
    b=$((10#${b#snap-}))
    [ "$b" -lt "$PURGED" ] || rm -f "$f"
done
[ -n "$(ls "$work/pur.snap"/snap-*.h5)" ] || fail "no snapshot older than the purge left"
produce 23 1750000200000 1200
resend "$work/resend.b"
run "$ref" "$work/ref.snap"
run "$pur" "$work/pur.snap"
assert_contains "$(cat "$log")" "retention (limpar_transacoes_antigas) deleted the transactions of batches up to $PURGED" \
    "an older snapshot is skipped, saying why"
assert_contains "$(cat "$log")" "usuarios + balances carried by retention + ledger" "restore past older snapshots"
assert_contains "$(cat "$log")" "not rebuilding the archive" "no archive rebuilt without the purged rows"

# --- phase 2c: a restart from a snapshot newer than the purge
produce 24 1750000300000 800
resend "$work/resend.c"
run "$ref" "$work/ref.snap"
run "$pur" "$work/pur.snap"
assert_contains "$(cat "$log")" "snapshot + ledger" "restore from a snapshot newer than the purge"

# --- everything equals the run without the purge
assert_eq "$(balances "$pur")" "$(balances "$ref")" "final balances"
assert_eq "$(rows "$pur" "$decisions")" "$(rows "$ref" "$decisions")" "decisions of the later batches"
assert_eq "$(rows "$pur" "$duplicates")" "$(rows "$ref" "$duplicates")" "duplicates"
assert_eq "$(rows "$pur" "$batches")" "$(rows "$ref" "$batches")" "batch_log"
resent=$(cat "$work"/resend.[abc] | wc -l)
assert_eq "$(q "$pur" "SELECT count(*) FROM transacoes_duplicadas")" "$resent" \
    "every purged transaction sent again is a duplicate"
echo "ok: $purged_rows rows of $PURGED batches purged, $resent sent again, $runs runs"
