#!/usr/bin/env bash
# 60-determinism.sh - the results depend on the input and the batch size only:
# the same topic (20,000 generated transactions plus hand-made edge cases in
# every partition) processed with -np 1, 2, 3 and 4, each into its own freshly
# initialized database, gives the same rows in transacoes, transacoes_scores,
# transacoes_duplicadas, dead_letters and batch_log, and the same final
# balances; and those equal what tests/reference/serial_ref.py (an independent
# serial Python implementation of the rules) computes from the same topic.
# -np 3 and 4 commit each batch through 3 and 2 connections ([sink]
# connections: slices and two-phase commit), -np 1 and 2 through one.
# Then the same with the original's producer's way of sending (no key: each
# payer's transactions spread over every partition), -np 1 and 3, where
# deciding in (partition, offset) order used to refuse transactions that
# were not late.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
REF="$(cd "$(dirname "$0")/../reference" && pwd)"

K=1000                # batch size
RANKS="1 2 3 4"
declare -A conns=([1]=1 [2]=1 [3]=3 [4]=2)
work=$(mktemp -d "$BS_TEST_TMP/determinism.XXXXXX")
topic=$(new_topic determinism)

# --- one fresh, identically initialized database per run (dropped at exit)
declare -A db
trap drop_databases EXIT
for n in $RANKS; do
    db[$n]=$(new_database "det$n" --users 2000)
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

# --- the runs, each dumped in serial_ref.py's format (dump_decisions --reference)
for n in $RANKS; do
    t0=$SECONDS
    printf '[sink]\nconnections = %s\n' "${conns[$n]}" >"$work/job$n.ini"
    mpirun_bs "$n" run "$work/job$n.ini" --pg "${db[$n]}" --brokers "$BS_TEST_BROKERS" \
        --topic "$topic" --batch-size "$K" --batch-ms 0 --until-idle >"$work/run$n.out" 2>&1 ||
        { tail -20 "$work/run$n.out"; fail "bankstream run with -np $n failed"; }
    if [ "${conns[$n]}" -gt 1 ]; then
        grep -q "committing each batch through ${conns[$n]} connections" "$work/run$n.out" ||
            fail "-np $n did not commit through ${conns[$n]} connections"
    fi
    echo "-np $n: $((SECONDS - t0)) s (connections = ${conns[$n]})"
    assert_eq "$(psql_q "${db[$n]}" "SELECT count(*) FROM batch_log WHERE ranks <> $n")" 0 \
        "batch_log.ranks with -np $n"
    dump_decisions "${db[$n]}" "$work/np$n" --reference
done
echo "runs and dumps: $SECONDS s"

# --- compare: every run with -np 1, then -np 1 with the reference
failed=0
for n in $RANKS; do
    diff_dumps "NOT DETERMINISTIC: -np 1 vs -np $n" "$work/np1" "$work/np$n" || failed=1
done
diff_dumps "MISMATCH: serial reference vs database (-np 1)" "$work/ref" "$work/np1" || failed=1
if [ "$failed" -ne 0 ]; then
    fail "the database differs from the serial reference"
fi
wc -l "$work"/ref/*.txt | sed 's/^/    /'
echo "ok: -np $RANKS and the serial reference agree"

# --- an unkeyed producer: each payer over every partition
nokey=$(new_topic determinism_nokey)
for n in 1 3; do
    db[nokey$n]=$(new_database "detnokey$n" --users 300)
done
"$BANKSTREAM" produce --pg "${db[nokey1]}" --brokers "$BS_TEST_BROKERS" --topic "$nokey" \
    --count 6000 --rate 0 --seed 11 --start-time 1750000000000 --historic 0 --key none --quiet
spread=$(kcat -C -b "$BS_TEST_BROKERS" -t "$nokey" -e -q -f '%p %s\n' |
    python3 -c 'import sys, json, collections
parts = collections.defaultdict(set)
for line in sys.stdin:
    p, v = line.split(" ", 1)
    parts[json.loads(v)["id_usuario_pagador"]].add(p)
print(sum(1 for s in parts.values() if len(s) > 1))')
[ "$spread" -gt 100 ] || fail "the unkeyed producer spread only $spread payers over several partitions"
python3 "$REF/serial_ref.py" --brokers "$BS_TEST_BROKERS" --topic "$nokey" --pg "${db[nokey1]}" \
    --batch-size "$K" --out "$work/refnokey"
for n in 1 3; do
    mpirun_bs "$n" run --pg "${db[nokey$n]}" --brokers "$BS_TEST_BROKERS" --topic "$nokey" \
        --batch-size "$K" --batch-ms 0 --until-idle >"$work/runnokey$n.out" 2>&1 ||
        { tail -20 "$work/runnokey$n.out"; fail "bankstream run (unkeyed topic) with -np $n failed"; }
    dump_decisions "${db[nokey$n]}" "$work/nokey$n" --reference
done
diff_dumps "NOT DETERMINISTIC (unkeyed): -np 1 vs -np 3" "$work/nokey1" "$work/nokey3" ||
    fail "unkeyed topic: -np 1 and -np 3 differ"
diff_dumps "MISMATCH (unkeyed): serial reference vs database" "$work/refnokey" "$work/nokey1" ||
    fail "unkeyed topic: the database differs from the serial reference"
assert_eq "$(psql_q "${db[nokey1]}" "SELECT count(*) FROM transacoes WHERE motivo = 'anterior_a_ultima'")" 0 \
    "no transaction of a fresh unkeyed stream (one clock) refused as older than the last approved"
echo "ok: an unkeyed topic, -np 1 and 3 and the serial reference agree"
