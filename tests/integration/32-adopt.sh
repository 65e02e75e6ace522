#!/usr/bin/env bash
# 32-adopt.sh - `bankstream init` adopts a database the original system's
# seed script built (issue 11.6), creates its roles (11.7), and the
# original's scripts and readers keep working on it (11.2, 11.4, 11.5):
#   - a database is built with tests/reference/original_schema.sql (the
#     original's tables, indexes, views and function) and filled with users,
#     regions and historic transactions the way the original would;
#   - init adopts it: every row kept, usuarios as it is, transactions
#     'historico', bankstream_meta users = their count, seed = 'adotado';
#     idempotent; --users refused; a same-named table of another layout, or
#     a user without a known home region, fails with one line and changes
#     nothing;
#   - --app-role/--reader-role: login roles with SCRAM passwords from a file
#     or the environment, the grants they need, no SUPERUSER/CREATEDB/
#     CREATEROLE, the password reset on a re-run; never the role running init;
#   - the stream runs on it: balances start from usuarios.saldo (a historic
#     payment is not debited), a historic id sent again is a duplicate;
#   - the original's seed script runs again (CREATE OR REPLACE of the views
#     and function) and succeeds; its own purge keeps the state; the
#     original readers' queries succeed as the reader role; an INSERT of the
#     original's columns only succeeds as the application role.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

ORIGINAL="$(dirname "$0")/../reference/original_schema.sql"
APP="bs_app_$$"
READER="bs_reader_$$"
work=$(mktemp -d /tmp/bs-test-adopt.XXXXXX)
chmod 755 "$work"
db=$(new_database adopt)
dbf=$(new_database adoptforeign)
topic=$(new_topic adopt)
dbname() { sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$1"; }
cleanup() {
    local rc=$?
    for d in "$db" "$dbf"; do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(dbname "$d") WITH (FORCE)" >/dev/null 2>&1
    done
    psql_q "$BS_TEST_PG" "DROP ROLE IF EXISTS $APP, $READER" >/dev/null 2>&1
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "files kept in $work" >&2; fi
}
trap cleanup EXIT
q() { psql_q "$db" "$1"; }
as() { # role sql -> runs as that role (the test cluster trusts local connections)
    psql "$db user=$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

# --- the original's database: its seed script, then data as its mock script would
build_original() { # conninfo
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -f "$ORIGINAL" >/dev/null
    psql_q "$1" "
    INSERT INTO regioes
    SELECT uf, -30 + 30 * random(), -70 + 30 * random(), round((1000 + 30000 * random())::numeric, 2),
           floor(100 * random())
      FROM unnest(string_to_array('AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO', ' ')) uf;
    INSERT INTO usuarios (id_usuario, id_regiao, saldo, limite_pix, limite_ted, limite_doc, limite_boleto)
    SELECT gen_random_uuid(), (SELECT id_regiao FROM regioes ORDER BY random() + g LIMIT 1), s, l, l, l, l
      FROM (SELECT g, round((-5000 * ln(1 - random()))::numeric, 2) AS s,
                   round((100 - 5000 * ln(1 - random()))::numeric, 2) AS l
              FROM generate_series(1, 300) g) x;
    -- X has 100.00 and a historic approved payment of 90.00 to Y
    INSERT INTO usuarios (id_usuario, id_regiao, saldo, limite_pix, limite_ted, limite_doc, limite_boleto)
    VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 'SP', 100.00, 5000, 5000, 5000, 5000),
           ('aaaaaaaa-0000-4000-8000-000000000002', 'SP', 10.00, 5000, 5000, 5000, 5000);
    INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
        modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
        tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento, latencia_total_ms,
        tempo_processamento_ms, created_at)
    SELECT gen_random_uuid(), p, r, 'SP', (ARRAY['PIX', 'TED', 'DOC', 'Boleto'])[1 + g % 4], t, v,
           random() < 0.8, t + interval '1 s', t + interval '100 ms', t + interval '500 ms', 900,
           400, now() - (g % 60) * interval '1 day'
      FROM (SELECT g, now() - g * interval '1 hour' AS t,
                   round((-1000 * ln(1 - random()))::numeric, 2) AS v,
                   (SELECT id_usuario FROM usuarios ORDER BY random() + g LIMIT 1) AS p,
                   (SELECT id_usuario FROM usuarios ORDER BY random() - g LIMIT 1) AS r
              FROM generate_series(1, 400) g) x;
    INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
        modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
        tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento, latencia_total_ms,
        tempo_processamento_ms)
    VALUES ('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001',
            'aaaaaaaa-0000-4000-8000-000000000002', 'SP', 'PIX', now() - interval '1 hour', 90.00, true,
            now(), now(), now(), 700, 300);
    INSERT INTO transacoes_scores SELECT id_transacao, random(), (random() < 0.5)::int, random()
      FROM transacoes" >/dev/null
}
build_original "$db"
# What the original wrote (its columns only), to compare after each step.
original_rows() { # conninfo
    psql_q "$1" "SELECT md5(coalesce((SELECT string_agg(u::text, ';' ORDER BY id_usuario) FROM usuarios u), '')
        || coalesce((SELECT string_agg(r::text, ';' ORDER BY id_regiao) FROM regioes r), '')
        || coalesce((SELECT string_agg(concat_ws(',', id_transacao, id_usuario_pagador, id_usuario_recebedor,
               id_regiao, modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
               tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento, latencia_total_ms,
               tempo_processamento_ms, created_at), ';' ORDER BY id_transacao)
             FROM transacoes t WHERE to_jsonb(t) ->> 'batch_id' IS NULL), '')
        || coalesce((SELECT string_agg(s::text, ';' ORDER BY s::text) FROM transacoes_scores s
             WHERE s.id_transacao IN (SELECT id_transacao FROM transacoes t WHERE to_jsonb(t) ->> 'batch_id' IS NULL)), ''))"
}
catalog() { # conninfo -> a fingerprint of the schema's relations, columns and functions
    psql_q "$1" "SELECT md5(coalesce((SELECT string_agg(c.relname || ':' || c.relkind::text || ':' ||
            coalesce((SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
                        FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), ''),
            ';' ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace), '')
        || coalesce((SELECT string_agg(p.oid::regprocedure::text || md5(p.prosrc), ';' ORDER BY 1)
                       FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace), ''))"
}
before=$(original_rows "$db")
n_users=$(q "SELECT count(*) FROM usuarios")
n_txns=$(q "SELECT count(*) FROM transacoes")

# --- a same-named table of another layout: one line, nothing changed
psql "$dbf" -XAtq -v ON_ERROR_STOP=1 -f "$ORIGINAL" >/dev/null
psql_q "$dbf" "SET client_min_messages = warning; DROP TABLE transacoes CASCADE;
    CREATE TABLE transacoes (id serial PRIMARY KEY, descricao text);
    INSERT INTO transacoes (descricao) VALUES ('not the original''s');
    INSERT INTO usuarios (id_usuario, id_regiao, saldo) VALUES (gen_random_uuid(), 'SP', 1)" >/dev/null
cat_before=$(catalog "$dbf")
rc=0; err=$("$BANKSTREAM" init --pg "$dbf" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "exit status for a foreign transacoes table"
assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "one error line for a foreign table"
assert_contains "$err" "table transacoes has another layout" "the foreign table is named"
assert_eq "$(catalog "$dbf")" "$cat_before" "nothing changed in the foreign database"
assert_eq "$(psql_q "$dbf" "SELECT count(*) FROM usuarios") $(psql_q "$dbf" "SELECT to_regclass('bankstream_meta') IS NULL")" \
    "1 t" "the foreign database's rows are untouched, no bankstream table"
# The original's tables, but a user without a home region the rules know: refused.
psql_q "$dbf" "SET client_min_messages = warning; DROP TABLE transacoes CASCADE" >/dev/null
psql "$dbf" -XAtq -v ON_ERROR_STOP=1 -f "$ORIGINAL" >/dev/null
psql_q "$dbf" "INSERT INTO usuarios (id_usuario, id_regiao, saldo) VALUES (gen_random_uuid(), 'XX', 5)" >/dev/null
cat_before=$(catalog "$dbf")
rc=0; err=$("$BANKSTREAM" init --pg "$dbf" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc $(printf '%s\n' "$err" | wc -l)" "1 1" "exit status and one line for a user without a region"
assert_contains "$err" "1 users of usuarios have no id_regiao among the 27 UFs" "the homeless user is reported"
assert_eq "$(catalog "$dbf")" "$cat_before" "nothing changed by the refused adoption"

# --- passwords: never on the command line; a file or the environment
assert_fails "needs a password" env -u BANKSTREAM_APP_PASSWORD "$BANKSTREAM" init --pg "$db" --app-role "$APP"
rc=0; "$BANKSTREAM" init --pg "$db" --app-role "$APP" --app-password x >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "no --app-password flag"
assert_fails "exists with SUPERUSER" env BANKSTREAM_APP_PASSWORD=x "$BANKSTREAM" init --pg "$db" \
    --app-role "$(q "SELECT current_user")"
assert_eq "$(original_rows "$db") $(q "SELECT to_regclass('bankstream_meta') IS NULL")" "$before t" \
    "refused inits changed nothing"

# --- adoption, with both roles
printf 'reader secret 1\n' >"$work/reader.pw"
out=$(BANKSTREAM_APP_PASSWORD='app secret 1' "$BANKSTREAM" init --pg "$db" --app-role "$APP" \
    --reader-role "$READER" --reader-password-file "$work/reader.pw")
echo "$out"
assert_contains "$out" "adopted the existing database: $n_users users, 27 regions and $n_txns historic transactions" \
    "adoption summary"
assert_contains "$out" "role $APP: created" "app role created"
assert_contains "$out" "role $READER: created" "reader role created"
assert_eq "$(original_rows "$db")" "$before" "every row of the original kept"
assert_eq "$(q "SELECT string_agg(chave || '=' || valor, ' ' ORDER BY chave) FROM bankstream_meta WHERE chave IN ('users', 'seed', 'schema_version')")" \
    "schema_version=2 seed=adotado users=$n_users" "bankstream_meta records the adoption"
assert_eq "$(q "SELECT string_agg(DISTINCT status, ' ') || ' ' || count(batch_id) FROM transacoes")" "historico 0" \
    "the original's transactions are history"
assert_eq "$(q "SELECT count(*) FROM pg_indexes WHERE tablename = 'transacoes' AND indexdef ~ '\(data_horario\)$'")" 1 \
    "no second index on data_horario"
# The roles: login, no dangerous right, SCRAM passwords from the file and the environment.
assert_eq "$(q "SELECT string_agg(rolname || ':' || rolcanlogin || rolsuper || rolcreatedb || rolcreaterole, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('$APP', '$READER')")" \
    "$APP:truefalsefalsefalse $READER:truefalsefalsefalse" "role attributes"
scram_ok() { # role password -> t when the stored SCRAM verifier matches the password
    python3 - "$(q "SELECT rolpassword FROM pg_authid WHERE rolname = '$1'")" "$2" <<'EOF'
import base64, hashlib, hmac, sys
stored, pw = sys.argv[1], sys.argv[2]
mech, rest = stored.split("$", 1)
assert mech == "SCRAM-SHA-256", mech
salt_part, keys = rest.split("$")
iters, salt = salt_part.split(":")
stored_key, server_key = keys.split(":")
salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(salt), int(iters))
client = hmac.new(salted, b"Client Key", "sha256").digest()
ok = (base64.b64encode(hashlib.sha256(client).digest()).decode() == stored_key and
      base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server_key)
print("t" if ok else "f")
EOF
}
assert_eq "$(scram_ok "$APP" 'app secret 1')" t "the app role's password (environment)"
assert_eq "$(scram_ok "$READER" 'reader secret 1')" t "the reader role's password (file)"
priv() { # role -> its privileges on the tables, views and function
    q "SELECT string_agg(t || ':' || concat_ws('', CASE WHEN has_table_privilege('$1', t, 'SELECT') THEN 'S' END,
              CASE WHEN has_table_privilege('$1', t, 'INSERT') THEN 'I' END,
              CASE WHEN has_table_privilege('$1', t, 'UPDATE') THEN 'U' END,
              CASE WHEN has_table_privilege('$1', t, 'DELETE') THEN 'D' END), ' ' ORDER BY t)
              || ' f:' || has_function_privilege('$1', 'limpar_transacoes_antigas(integer)', 'EXECUTE')
         FROM unnest(ARRAY['usuarios', 'regioes', 'transacoes', 'transacoes_scores', 'vw_performance_stats',
                           'vw_performance_temporal', 'batch_log', 'bankstream_meta']) t"
}
assert_eq "$(priv "$APP")" "bankstream_meta: batch_log: regioes:S transacoes:SI transacoes_scores:SI usuarios:S vw_performance_stats:S vw_performance_temporal:S f:true" \
    "the app role's grants"
assert_eq "$(priv "$READER")" "bankstream_meta:S batch_log:S regioes:S transacoes:S transacoes_scores:S usuarios:S vw_performance_stats:S vw_performance_temporal:S f:true" \
    "the reader role's grants"

# --- idempotent: same rows, passwords reset, --users refused
out=$(BANKSTREAM_APP_PASSWORD='app secret 2' BANKSTREAM_READER_PASSWORD='reader secret 2' \
    "$BANKSTREAM" init --pg "$db" --app-role "$APP" --reader-role "$READER")
assert_contains "$out" "already initialized (adopted database, $n_users users)" "second init"
assert_contains "$out" "role $APP: password reset" "app role updated"
assert_eq "$(scram_ok "$APP" 'app secret 2') $(scram_ok "$READER" 'reader secret 2')" "t t" "passwords reset"
assert_eq "$(original_rows "$db")" "$before" "rows after a second init"
assert_fails "--users and --seed do not apply" "$BANKSTREAM" init --pg "$db" --users 500
assert_eq "$(original_rows "$db")" "$before" "rows after a refused init"

# --- the stream on the adopted database. First X pays Y 50.00: approved,
# since balances start from usuarios.saldo (100.00; the historic 90.00 is not
# debited); and a historic transaction's id sent again is a duplicate.
now_ms=$(($(date +%s) * 1000))
msg() { # id payer receiver amount time-ms
    printf '{"id_transacao":"%s","id_usuario_pagador":"%s","id_usuario_recebedor":"%s","id_regiao":"SP","modalidade_pagamento":"PIX","valor_transacao":%s,"data_horario":%s}\n' "$@"
}
X=aaaaaaaa-0000-4000-8000-000000000001 Y=aaaaaaaa-0000-4000-8000-000000000002
{
    msg cccccccc-0000-4000-8000-000000000001 "$X" "$Y" 50.00 "$now_ms"
    msg bbbbbbbb-0000-4000-8000-000000000001 "$Y" "$X" 1.00 "$now_ms"
} | kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -p 0
run() {
    mpirun_bs 2 run --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" --batch-size 500 \
        --snapshot-dir none --until-idle >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "run failed"; }
}
run
assert_eq "$(q "SELECT status || ' ' || transacao_aprovada FROM transacoes WHERE id_transacao = 'cccccccc-0000-4000-8000-000000000001'")" \
    "aprovada true" "X's payment is decided against usuarios.saldo, not minus the history"
assert_eq "$(q "SELECT count(*) FROM transacoes_duplicadas WHERE id_transacao = 'bbbbbbbb-0000-4000-8000-000000000001'")" 1 \
    "a historic id sent again is a duplicate"
"$BANKSTREAM" produce --pg "$db" --brokers "$BS_TEST_BROKERS" --topic "$topic" --count 1500 --rate 0 \
    --seed 31 --historic 0 --key none --start-time $((now_ms + 1000)) --quiet
run
assert_eq "$(q "SELECT count(*) FROM transacoes WHERE batch_id IS NOT NULL")" 1501 "the stream's rows"
assert_eq "$(original_rows "$db")" "$before" "the original's rows after the stream"
ledger_balances() { # per user: usuarios + carried + approved rows, centavos
    q "SELECT string_agg(u.id_usuario || '=' || ((u.saldo * 100)::bigint + coalesce(c.delta_centavos, 0) + coalesce(l.d, 0)), ' ' ORDER BY u.id_usuario)
         FROM usuarios u LEFT JOIN saldos_expurgados c USING (id_usuario)
         LEFT JOIN (SELECT x, sum(d) AS d FROM (
                 SELECT id_usuario_pagador AS x, -(valor_transacao * 100)::bigint AS d FROM transacoes WHERE status = 'aprovada'
                 UNION ALL SELECT id_usuario_recebedor, (valor_transacao * 100)::bigint FROM transacoes WHERE status = 'aprovada') y
             GROUP BY x) l ON l.x = u.id_usuario"
}
[ "$(ledger_balances | tr ' ' '\n' | awk -F= '$2 < 0' | wc -l)" -eq 0 ] || fail "a balance went below zero"

# --- the original's seed script again: CREATE OR REPLACE must succeed
psql "$db" -XAtq -v ON_ERROR_STOP=1 -f "$ORIGINAL" >/dev/null || fail "the original's seed script failed on the adopted database"

# --- the original readers' queries, as the reader role
for sql in "SELECT * FROM usuarios" "SELECT * FROM regioes" "SELECT * FROM transacoes" \
    "SELECT * FROM transacoes_scores" "SELECT * FROM vw_performance_stats" \
    "SELECT * FROM vw_performance_temporal" "SELECT id_usuario, saldo FROM usuarios" \
    "SELECT COUNT(*) FROM transacoes"; do
    as "$READER" "$sql" >/dev/null || fail "as the reader role: $sql"
done
assert_eq "$(as "$READER" "SELECT COUNT(*) FROM transacoes")" "$(q "SELECT count(*) FROM transacoes")" "COUNT(*) as the reader"
assert_eq "$(as "$READER" "SELECT count(*) FROM transacoes WHERE transacao_aprovada IS NULL")" 0 \
    "transacao_aprovada is never NULL"
rc=0; as "$READER" "INSERT INTO regioes (id_regiao) VALUES ('ZZ')" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the reader role could insert"

# --- the original's own purge (its function now, run as its owner): the
# state stays (usuarios + carried + remaining rows), purged ids stay seen
balances_before=$(ledger_balances)
q "UPDATE transacoes SET created_at = created_at - interval '40 days' WHERE batch_id = 1" >/dev/null
old=$(q "SELECT count(*) FROM transacoes WHERE created_at < now() - interval '30 days'")
[ "$old" -gt 1 ] || fail "nothing to purge"
assert_eq "$(q "SELECT limpar_transacoes_antigas(dias_retencao => 30)")" "$old" "the original's purge"
assert_eq "$(ledger_balances)" "$balances_before" "balances after the original's purge"
assert_eq "$(q "SELECT count(*) FROM transacoes_ids_expurgados")" "$old" "purged ids kept"

# --- init puts bankstream's function back; the reader may call it
"$BANKSTREAM" init --pg "$db" >/dev/null
assert_eq "$(as "$READER" "SELECT limpar_transacoes_antigas(dias_retencao => 30)")" 0 \
    "the reader role runs limpar_transacoes_antigas"

# --- the original's writers: an INSERT of its columns only, as the app role
as "$APP" "INSERT INTO transacoes (id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
        modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
        tempo_saida_resultado, tempo_entrada_kafka, tempo_inicio_processamento,
        latencia_total_ms, tempo_processamento_ms)
    VALUES ('dddddddd-0000-4000-8000-000000000001', '$X', '$Y', 'SP', 'PIX', now(), 1.00, true,
            now(), now(), now(), 5, 2);
    INSERT INTO transacoes_scores VALUES ('dddddddd-0000-4000-8000-000000000001', 0, 0, 0)" >/dev/null
assert_eq "$(q "SELECT status FROM transacoes WHERE id_transacao = 'dddddddd-0000-4000-8000-000000000001'")" \
    historico "an INSERT of the original's columns"
rc=0; as "$APP" "DELETE FROM transacoes" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the app role could delete"
assert_eq "$(ledger_balances)" "$balances_before" "a historic insert is not in the ledger"

# --- the stream again: the purged payment and the inserted row sent again are duplicates
{
    msg cccccccc-0000-4000-8000-000000000001 "$X" "$Y" 50.00 "$now_ms"
    msg dddddddd-0000-4000-8000-000000000001 "$X" "$Y" 1.00 "$now_ms"
} | kcat -b "$BS_TEST_BROKERS" -t "$topic" -P -p 1
run
assert_eq "$(q "SELECT count(*) FROM transacoes_duplicadas WHERE id_transacao IN ('cccccccc-0000-4000-8000-000000000001', 'dddddddd-0000-4000-8000-000000000001')")" 2 \
    "a purged id and an inserted one are duplicates"
assert_eq "$(ledger_balances)" "$balances_before" "balances after the duplicates"
echo "ok"
