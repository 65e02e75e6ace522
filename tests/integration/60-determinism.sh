#!/usr/bin/env bash
# 60-determinism.sh - the results depend on the input and the batch size only:
# the same topic (20,000 generated transactions plus hand-made edge cases in
# every partition) processed with -np 1, 2, 3 and 4, each into its own freshly
# initialized database, gives the same rows in transacoes, transacoes_scores,
# transacoes_duplicadas, dead_letters and batch_log, and the same final
# balances; and those equal what tests/reference/serial_ref.py (an independent
# serial Python implementation of the rules) computes from the same topic.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
REF="$(cd "$(dirname "$0")/../reference" && pwd)"

K=1000                # batch size
RANKS="1 2 3 4"
work=$(mktemp -d "$BS_TEST_TMP/determinism.XXXXXX")
topic=$(new_topic determinism)

# --- one fresh, identically initialized database per run (dropped at exit)
declare -A db
drop_databases() {
    for conn in "${db[@]}"; do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$conn")" \
            >/dev/null 2>&1 || true
    done
}
trap drop_databases EXIT
for n in $RANKS; do
    db[$n]=$(new_database "det$n" 2>/dev/null)
    "$BANKSTREAM" init --pg "${db[$n]}" --users 2000 >/dev/null
done
users_md5() {
    psql_q "$1" "SELECT md5(string_agg(concat_ws(',', id_usuario, id_regiao, saldo, limite_pix,
                   limite_ted, limite_doc, limite_boleto), ';' ORDER BY id_usuario)) FROM usuarios"
}
for n in $RANKS; do
    assert_eq "$(users_md5 "${db[$n]}")" "$(users_md5 "${db[1]}")" "usuarios of database $n"
done

# --- the input: a few edge cases, the generated stream, more edge cases in each partition
echo "setup: $SECONDS s"
python3 "$REF/edge_cases.py" inject --phase head --pg "${db[1]}" --brokers "$BS_TEST_BROKERS" \
    --topic "$topic" --manifest "$work/manifest"
"$BANKSTREAM" produce --pg "${db[1]}" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
    --count 20000 --rate 0 --seed 7 --start-time 1750000000000 --historic 500 --quiet
nparts=$(kcat -L -b "$BS_TEST_BROKERS" -t "$topic" | grep -c '^ *partition [0-9]*, leader' || true)
assert_eq "$nparts" 4 "partitions of the auto-created topic"
python3 "$REF/edge_cases.py" inject --phase tail --pg "${db[1]}" --brokers "$BS_TEST_BROKERS" \
    --topic "$topic" --manifest "$work/manifest"

# --- the reference, and a check that the edge cases exercise what they should
python3 "$REF/serial_ref.py" --brokers "$BS_TEST_BROKERS" --topic "$topic" --pg "${db[1]}" \
    --batch-size "$K" --out "$work/ref"
python3 "$REF/edge_cases.py" check "$work/manifest" "$work/ref/rows.txt" ||
    fail "the reference does not classify the edge cases as the test intends"
for outcome in aprovada rejeitada/saldo_insuficiente rejeitada/limite_excedido rejeitada/risco \
    rejeitada/pagador_desconhecido rejeitada/recebedor_desconhecido nao_processada/anterior_a_ultima \
    nao_processada/data_futura; do
    [ "$(awk -F'\t' -v o="$outcome" '$5 "/" $6 == o || ($5 == o && $6 == "\\N")' \
        "$work/ref/rows.txt" | head -1)" ] || fail "no '$outcome' in the reference's results"
done

echo "reference: $SECONDS s"

# --- canonical dumps of what the processor wrote (same format as serial_ref.py)
dump() { # conninfo dir
    local conn=$1 dir=$2
    mkdir -p "$dir"
    copy() { # sql file; floats as "%.12g" (extra_float_digits <= 0 means printf's %.*g)
        psql "$conn" -XAtq -v ON_ERROR_STOP=1 -c "SET extra_float_digits = -3" \
            -c "COPY ($1) TO STDOUT" | LC_ALL=C sort >"$dir/$2.txt"
    }
    copy "SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
                 modalidade_pagamento, (extract(epoch FROM data_horario) * 1000000)::bigint,
                 valor_transacao, transacao_aprovada, status, motivo, batch_id, kafka_particao,
                 kafka_offset FROM transacoes" transacoes
    copy "SELECT id_transacao, t5_score, t6_score, t7_score FROM transacoes_scores" scores
    copy "SELECT id_transacao, batch_id, kafka_particao, kafka_offset, md5(payload)
            FROM transacoes_duplicadas" duplicadas
    copy "SELECT batch_id, kafka_particao, kafka_offset, md5(payload), erro <> ''
            FROM dead_letters" dead_letters
    copy "SELECT batch_id, topic, start_offsets, end_offsets, n_mensagens, n_aprovadas,
                 n_rejeitadas, n_nao_processadas, n_dead_letters FROM batch_log" batch_log
    copy "SELECT u.id_usuario, ((u.saldo - coalesce(d.s, 0) + coalesce(c.s, 0)) * 100)::bigint
            FROM usuarios u
            LEFT JOIN (SELECT id_usuario_pagador AS id, sum(valor_transacao) AS s FROM transacoes
                        WHERE status = 'aprovada' GROUP BY 1) d ON d.id = u.id_usuario
            LEFT JOIN (SELECT id_usuario_recebedor AS id, sum(valor_transacao) AS s FROM transacoes
                        WHERE status = 'aprovada' GROUP BY 1) c ON c.id = u.id_usuario" saldos
}
TABLES="transacoes scores duplicadas dead_letters batch_log saldos"

# --- the runs
for n in $RANKS; do
    t0=$SECONDS
    mpirun_bs "$n" run --pg "${db[$n]}" --brokers "$BS_TEST_BROKERS" --topic "$topic" \
        --batch-size "$K" --batch-ms 0 --until-idle >"$work/run$n.out" 2>&1 ||
        { tail -20 "$work/run$n.out"; fail "bankstream run with -np $n failed"; }
    echo "-np $n: $((SECONDS - t0)) s"
    assert_eq "$(psql_q "${db[$n]}" "SELECT count(*) FROM batch_log WHERE ranks <> $n")" 0 \
        "batch_log.ranks with -np $n"
    dump "${db[$n]}" "$work/np$n"
done
echo "runs and dumps: $SECONDS s"

# --- compare: every run with -np 1, then -np 1 with the reference
show_diff() { # what a b
    echo "$1: $(wc -l <"$2") vs $(wc -l <"$3") rows; diff:"
    diff "$2" "$3" | head -8 | sed 's/^/    /' || true
}
failed=0
for n in $RANKS; do
    for t in $TABLES; do
        cmp -s "$work/np1/$t.txt" "$work/np$n/$t.txt" && continue
        failed=1
        show_diff "NOT DETERMINISTIC: $t, -np 1 vs -np $n" "$work/np1/$t.txt" "$work/np$n/$t.txt"
    done
done
for t in $TABLES; do
    cmp -s "$work/ref/$t.txt" "$work/np1/$t.txt" && continue
    failed=1
    show_diff "MISMATCH: $t, serial reference vs database (-np 1)" "$work/ref/$t.txt" \
        "$work/np1/$t.txt"
done
if [ "$failed" -ne 0 ]; then
    fail "the database differs from the serial reference"
fi
wc -l "$work"/ref/*.txt | sed 's/^/    /'
echo "ok: -np $RANKS and the serial reference agree"
