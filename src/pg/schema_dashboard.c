/* schema_dashboard.c - the DDL of the dashboard's aggregates (bankstream
 * dashboard, src/dashboard/): counts of transacoes by the dimensions its
 * panels filter and group on, and how they are kept.
 *
 * Design:
 *   1. Invariant, in every snapshot: the aggregates count exactly the rows
 *      of transacoes with batch_id IS NULL or batch_id <= W, where W is
 *      dashboard_estado.ate_batch (the watermark). Every writer's change to
 *      the rows, the aggregates and W commits atomically, so the invariant
 *      holds in any one snapshot; dashboard_verificar() checks it.
 *   2. The processor's rows (batch_id above the newest committed batch,
 *      inserted by the session that holds the processor lock, pglock.h)
 *      cost its transaction nothing but the INSERT trigger's first test:
 *      they are above W, and dashboard_atualizar() counts them later, from
 *      a cut C = the newest batch in batch_log, which is consistent because
 *      a batch's rows commit with its batch_log row, batches commit in
 *      order, and only the lock holder commits batches. The sink never
 *      waits for, nor locks, anything of the dashboard's.
 *   3. Any other change is counted in the writer's transaction by the
 *      statement triggers on transacoes (dashboard_agregar): inserted rows
 *      with batch_id NULL or <= W (status 'historico' from the original's
 *      producer, produce --historic, by hand), deleted and updated rows
 *      with batch_id NULL or <= W (retention's purge, init's upgrade). These
 *      read W under FOR SHARE of the watermark row, so W cannot move under
 *      them; dashboard_atualizar takes it FOR UPDATE SKIP LOCKED (it skips
 *      a turn rather than wait) and dashboard_reconstruir retries that
 *      until it has it: nothing ever queues for the watermark's exclusive
 *      lock, so a writer's FOR SHARE never waits behind one (design 5).
 *      TRUNCATE empties the aggregates and sets W to the newest batch.
 *   4. Lock order, everywhere: transacoes, then the watermark row, then the
 *      aggregates; so a TRUNCATE, a purge, a catch-up and a rebuild cannot
 *      deadlock each other.
 *   5. A sink that commits one batch in several transactions (two-phase
 *      commit): its slice sessions, which do not hold the processor lock,
 *      take the triggers' other path, FOR SHARE of the watermark and
 *      nothing counted for rows above W; FOR SHARE locks do not block each
 *      other, so its sessions never wait on each other here (a catch-up
 *      skips its turn while one is held). And since the batch_log row may
 *      be visible before a prepared slice's rows, dashboard_atualizar does
 *      not move W while a prepared transaction holds a lock on transacoes.
 *      A sink that writes the next batch in a second session (the
 *      pipeline, stream/sink_ahead.h) names in that session's transaction
 *      the backend that holds the processor lock
 *      (bankstream.sessao_processador), and its rows take design 2's path,
 *      for design 2's reasons: they are the batch after the newest in
 *      batch_log; they commit only with their batch_log row, whose key
 *      stops any other commit of that batch meanwhile, and only after that
 *      transaction has checked that the sink's own session still holds the
 *      lock; and a transaction of that session that fails was rolled back
 *      or lost its connection, so it never commits later (a COMMIT in
 *      doubt: its backend is ended before the batch is committed again,
 *      stream/sink_pg.c). Otherwise that
 *      session would hold the watermark FOR SHARE from its first row to
 *      its commit, which under a backlog is nearly all the time, and the
 *      catch-up would skip turn after turn. A named backend that does not
 *      hold the lock changes nothing: the other path.
 * Counts are signed (a deleted row subtracts); rows at 0 are removed after
 * deletes. The tables are half-filled pages (fillfactor 50) so that a
 * count's update stays on its page (a HOT update, no index entry).
 * Dimensions: modalidade, hora = the hour of data_horario in
 * America/Sao_Paulo (the rules' zone), aprovada =
 * coalesce(transacao_aprovada, false). t5 is the rules' Euclidean distance
 * in degrees between the capitals of the transaction's region and the
 * payer's home region (same operations as engine/rules.c, so the same
 * double), defined where the rules compute it: payer known and the row not
 * decided before the risk step; dist_km the great-circle distance between
 * the same two capitals. */
#include "pg/schema_dashboard.h"
#include "pg/pglock.h"

/* The processor lock's key halves as pg_locks shows them (classid = key >>
 * 32, objid = the low half), written as numbers in the SQL below. */
_Static_assert(PGLOCK_KEY >> 32 == 1650552427, "classid in dashboard_sessao_processador()");
_Static_assert((PGLOCK_KEY & 0xffffffff) == 1937011309, "objid in dashboard_sessao_processador()");

const char schema_dashboard_ddl[] =
    "SET LOCAL client_min_messages = warning;\n"
    "CREATE TABLE IF NOT EXISTS dashboard_resumo (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,          -- 0..23, -1 without data_horario\n"
    "    aprovada bool NOT NULL,\n"
    "    status varchar(14) NOT NULL,\n"
    "    motivo varchar(24) NOT NULL,     -- '' when none\n"
    "    id_regiao varchar(2) NOT NULL,\n"
    "    faixa_dist smallint NOT NULL,    -- 0 <50 km, 1 50-300, 2 300-1000, 3 >=1000, -1 unknown\n"
    "    n bigint NOT NULL,\n"
    "    soma_valor numeric NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_valor (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    balde int NOT NULL,              -- floor(valor / 10), at most 1,000,000\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, balde)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_t5 (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    faixa_valor smallint NOT NULL,   -- (0,500] (500,1000] ... (10000,inf): 0..5\n"
    "    t5 float8 NOT NULL,\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, faixa_valor, t5)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_calor (\n"
    "    modalidade varchar(6) NOT NULL,\n"
    "    hora smallint NOT NULL,\n"
    "    aprovada bool NOT NULL,\n"
    "    bx smallint NOT NULL,            -- least(floor(valor / 250), 29)\n"
    "    by smallint NOT NULL,            -- least(floor(t5 / 1.2), 29)\n"
    "    n bigint NOT NULL,\n"
    "    PRIMARY KEY (modalidade, hora, aprovada, bx, by)\n"
    ") WITH (fillfactor = 50);\n"
    "CREATE TABLE IF NOT EXISTS dashboard_temporal (\n"
    "    hora timestamp PRIMARY KEY,      -- date_trunc('hour', tempo_saida_resultado)\n"
    "    n bigint NOT NULL,\n"
    "    n_latencia bigint NOT NULL,\n"
    "    soma_latencia_ms numeric NOT NULL\n"
    ") WITH (fillfactor = 50);\n"
    /* The watermark (design 1): one row. */
    "CREATE TABLE IF NOT EXISTS dashboard_estado (\n"
    "    id bool PRIMARY KEY DEFAULT true CHECK (id),\n"
    "    ate_batch bigint NOT NULL,       -- rows of batches up to this one are counted\n"
    "    atualizado_em timestamptz NOT NULL DEFAULT now()  -- when it last moved\n"
    ");\n"
    /* Every pair of regions (27 x 27 rows, computed when read): the rules'
     * t5 and the distance band between the two capitals, so that rows join
     * it instead of computing both per row. */
    "CREATE OR REPLACE VIEW dashboard_pares AS\n"
    "SELECT id_regiao, id_regiao_pagador, t5,\n"
    "       (CASE WHEN km < 50 THEN 0 WHEN km < 300 THEN 1 WHEN km < 1000 THEN 2 ELSE 3 END)\n"
    "           ::smallint AS faixa_dist\n"
    "  FROM (SELECT r.id_regiao, p.id_regiao AS id_regiao_pagador,\n"
    "               sqrt((r.latitude - p.latitude) * (r.latitude - p.latitude)\n"
    "                    + (r.longitude - p.longitude) * (r.longitude - p.longitude)) AS t5,\n"
    "               2 * 6371.0 * asin(least(1, sqrt(sin(radians(r.latitude - p.latitude) / 2) ^ 2\n"
    "                   + cos(radians(r.latitude)) * cos(radians(p.latitude))\n"
    "                   * sin(radians(r.longitude - p.longitude) / 2) ^ 2))) AS km\n"
    "          FROM regioes r CROSS JOIN regioes p) x;\n"
    /* The previous layout's objects: one trigger function that counted
     * every row in the writer's transaction, and a two-argument builder. */
    "DROP TRIGGER IF EXISTS dashboard_ins ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_del ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_upd ON transacoes;\n"
    "DROP TRIGGER IF EXISTS dashboard_trunc ON transacoes;\n"
    "DROP FUNCTION IF EXISTS dashboard_sql(text, int);\n"
    /* The statement that adds (sinal 1) or subtracts (-1) the rows of the
     * relation fonte (a table name or a parenthesized query, $1 and $2 its
     * parameters) into the tables <destino>resumo, ...: one statement, the
     * enriched rows computed once; it returns their number. */
    "CREATE OR REPLACE FUNCTION dashboard_sql(fonte text, sinal int, destino text)\n"
    "RETURNS text LANGUAGE sql IMMUTABLE AS $fn$ SELECT format($q$\n"
    "WITH e AS MATERIALIZED (\n"
    "  SELECT coalesce(t.modalidade_pagamento, '') AS modalidade,\n"
    "         coalesce(extract(hour FROM (t.data_horario AT TIME ZONE 'UTC')\n"
    "                  AT TIME ZONE 'America/Sao_Paulo')::int, -1)::smallint AS hora,\n"
    "         coalesce(t.transacao_aprovada, false) AS aprovada, t.status,\n"
    "         coalesce(t.motivo, '') AS motivo, coalesce(t.id_regiao, '') AS id_regiao,\n"
    "         coalesce(t.valor_transacao, 0) AS valor, t.tempo_saida_resultado,\n"
    "         t.latencia_total_ms,\n"
    "         CASE WHEN t.status NOT IN ('rejeitada', 'nao_processada')\n"
    "                   OR t.motivo IN ('saldo_insuficiente', 'limite_excedido', 'risco')\n"
    "              THEN p.t5 END AS t5,\n"
    "         coalesce(p.faixa_dist, -1)::smallint AS faixa_dist\n"
    "    FROM %1$s t\n"
    "    LEFT JOIN usuarios u ON u.id_usuario = t.id_usuario_pagador\n"
    "    LEFT JOIN dashboard_pares p ON p.id_regiao = t.id_regiao\n"
    "                               AND p.id_regiao_pagador = u.id_regiao),\n"
    "a AS (INSERT INTO %3$sresumo AS x\n"
    "      SELECT modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist,\n"
    "             %2$s * count(*), %2$s * sum(valor) FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7\n"
    "       ORDER BY 1, 2, 3, 4, 5, 6, 7\n"
    "      ON CONFLICT (modalidade, hora, aprovada, status, motivo, id_regiao, faixa_dist)\n"
    "      DO UPDATE SET n = x.n + EXCLUDED.n, soma_valor = x.soma_valor + EXCLUDED.soma_valor),\n"
    "b AS (INSERT INTO %3$svalor AS x\n"
    "      SELECT modalidade, hora, aprovada, least(floor(valor / 10), 1000000)::int,\n"
    "             %2$s * count(*) FROM e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n"
    "      ON CONFLICT (modalidade, hora, aprovada, balde) DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "c AS (INSERT INTO %3$st5 AS x\n"
    "      SELECT modalidade, hora, aprovada,\n"
    "             CASE WHEN valor <= 500 THEN 0 WHEN valor <= 1000 THEN 1\n"
    "                  WHEN valor <= 2500 THEN 2 WHEN valor <= 5000 THEN 3\n"
    "                  WHEN valor <= 10000 THEN 4 ELSE 5 END,\n"
    "             t5, %2$s * count(*) FROM e WHERE t5 IS NOT NULL\n"
    "       GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5\n"
    "      ON CONFLICT (modalidade, hora, aprovada, faixa_valor, t5)\n"
    "      DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "d AS (INSERT INTO %3$scalor AS x\n"
    "      SELECT modalidade, hora, aprovada, least(floor(valor / 250), 29)::smallint,\n"
    "             least(floor(t5 / 1.2), 29)::smallint, %2$s * count(*) FROM e\n"
    "       WHERE t5 IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5\n"
    "      ON CONFLICT (modalidade, hora, aprovada, bx, by) DO UPDATE SET n = x.n + EXCLUDED.n),\n"
    "f AS (INSERT INTO %3$stemporal AS x\n"
    "      SELECT date_trunc('hour', tempo_saida_resultado), %2$s * count(*),\n"
    "             %2$s * count(latencia_total_ms), %2$s * coalesce(sum(latencia_total_ms), 0)\n"
    "        FROM e WHERE tempo_saida_resultado IS NOT NULL GROUP BY 1 ORDER BY 1\n"
    "      ON CONFLICT (hora) DO UPDATE SET n = x.n + EXCLUDED.n,\n"
    "         n_latencia = x.n_latencia + EXCLUDED.n_latencia,\n"
    "         soma_latencia_ms = x.soma_latencia_ms + EXCLUDED.soma_latencia_ms)\n"
    "SELECT (SELECT count(*) FROM e)\n"
    "$q$, fonte, sinal, destino) $fn$;\n"
    "CREATE OR REPLACE FUNCTION dashboard_limpar_zeros() RETURNS void LANGUAGE sql AS $fn$\n"
    "    DELETE FROM dashboard_resumo WHERE n = 0;\n"
    "    DELETE FROM dashboard_valor WHERE n = 0;\n"
    "    DELETE FROM dashboard_t5 WHERE n = 0;\n"
    "    DELETE FROM dashboard_calor WHERE n = 0;\n"
    "    DELETE FROM dashboard_temporal WHERE n = 0;\n"
    "$fn$;\n"
    /* Design 2: true when this session holds the processor lock (pglock.h,
     * the int8 advisory lock PGLOCK_KEY) in this database: no other session
     * can commit a batch while it does. Also true in the processor's ahead
     * session (design 5), which names the backend holding the lock in
     * bankstream.sessao_processador for its transaction. */
    "CREATE OR REPLACE FUNCTION dashboard_sessao_processador() RETURNS boolean\n"
    "LANGUAGE sql STABLE AS $fn$\n"
    "SELECT EXISTS (SELECT 1 FROM pg_locks l\n"
    "                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1\n"
    "                  AND l.classid = 1650552427 AND l.objid = 1937011309\n"
    "                  AND l.pid IN (pg_backend_pid(),\n"
    "                                (SELECT v::int FROM current_setting(\n"
    "                                     'bankstream.sessao_processador', true) v\n"
    "                                  WHERE v ~ '^[0-9]{1,9}$'))\n"
    "                  AND l.database = (SELECT oid FROM pg_database\n"
    "                                     WHERE datname = current_database()))\n"
    "$fn$;\n"
    /* The trigger function (design 2, 3): runs the statement itself, since
     * only the function a trigger calls sees its transition tables. It runs
     * as the owner of the aggregates (SECURITY DEFINER, with the search_path
     * of its creation): a role that may only INSERT into transacoes (the app
     * role of init --app-role, the original's producer) still counts its
     * rows. */
    "CREATE OR REPLACE FUNCTION dashboard_agregar() RETURNS trigger LANGUAGE plpgsql\n"
    "SECURITY DEFINER SET search_path FROM CURRENT AS $fn$\n"
    "DECLARE\n"
    "    nulos bigint;\n"
    "    menor bigint;\n"
    "    w bigint;\n"
    "BEGIN\n"
    "    IF TG_OP = 'TRUNCATE' THEN\n"
    "        UPDATE dashboard_estado\n"
    "           SET ate_batch = (SELECT coalesce(max(batch_id), 0) FROM batch_log),\n"
    "               atualizado_em = now();\n"
    "        TRUNCATE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "                 dashboard_temporal;\n"
    "        RETURN NULL;\n"
    "    END IF;\n"
    "    IF TG_OP = 'INSERT' THEN\n"
    "        SELECT count(*) FILTER (WHERE batch_id IS NULL), min(batch_id)\n"
    "          INTO nulos, menor FROM novas;\n"
    "        IF nulos = 0 AND (menor IS NULL\n"
    "           OR (menor > (SELECT coalesce(max(batch_id), 0) FROM batch_log)\n"
    "               AND menor > (SELECT ate_batch FROM dashboard_estado)\n"
    "               AND dashboard_sessao_processador())) THEN\n"
    "            RETURN NULL;  -- none, or the processor's batch: dashboard_atualizar's\n"
    "        END IF;\n"
    "    ELSIF NOT EXISTS (SELECT 1 FROM antigas) THEN\n"
    "        RETURN NULL;\n"
    "    END IF;\n"
    "    SELECT ate_batch INTO w FROM dashboard_estado FOR SHARE;\n"
    "    IF TG_OP = 'INSERT' AND nulos = 0 AND menor > w THEN\n"
    "        RETURN NULL;  -- none to count now; the lock keeps W below them until commit\n"
    "    END IF;\n"
    "    IF TG_OP IN ('DELETE', 'UPDATE') THEN\n"
    "        EXECUTE dashboard_sql('(SELECT * FROM antigas WHERE batch_id IS NULL'\n"
    "                              ' OR batch_id <= $1)', -1, 'dashboard_') USING w;\n"
    "    END IF;\n"
    "    IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
    "        EXECUTE dashboard_sql('(SELECT * FROM novas WHERE batch_id IS NULL'\n"
    "                              ' OR batch_id <= $1)', 1, 'dashboard_') USING w;\n"
    "    END IF;\n"
    "    IF TG_OP IN ('DELETE', 'UPDATE') THEN\n"
    "        PERFORM dashboard_limpar_zeros();\n"
    "    END IF;\n"
    "    RETURN NULL;\n"
    "END\n"
    "$fn$;\n"
    "CREATE TRIGGER dashboard_ins AFTER INSERT ON transacoes REFERENCING NEW TABLE AS novas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_del AFTER DELETE ON transacoes REFERENCING OLD TABLE AS antigas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_upd AFTER UPDATE ON transacoes\n"
    "    REFERENCING OLD TABLE AS antigas NEW TABLE AS novas\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    "CREATE TRIGGER dashboard_trunc AFTER TRUNCATE ON transacoes\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_agregar();\n"
    /* The catch-up (design 2): counts the rows of the batches after W up to
     * the cut (at most about `limite` rows, whole batches, counted from
     * batch_log), moves W there, in one transaction. Returns the new W, the
     * rows counted, and whether W reached the newest batch. Skips (W
     * unchanged, 0 rows) when another catch-up, a rebuild or a writer's
     * trigger holds the watermark, or a prepared transaction holds a lock
     * on transacoes (design 5). Any role may call it: it only brings the
     * aggregates up to a consistent cut. */
    "CREATE OR REPLACE FUNCTION dashboard_atualizar(limite bigint DEFAULT 200000,\n"
    "    OUT ate_batch bigint, OUT linhas bigint, OUT em_dia boolean)\n"
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$\n"
    "DECLARE\n"
    "    w bigint;\n"
    "    c bigint;\n"
    "    ultimo bigint;\n"
    "BEGIN\n"
    "    linhas := 0;\n"
    "    LOCK TABLE transacoes IN ACCESS SHARE MODE;  -- design 4\n"
    "    SELECT e.ate_batch INTO w FROM dashboard_estado e FOR UPDATE SKIP LOCKED;\n"
    "    IF NOT FOUND THEN\n"
    "        SELECT e.ate_batch INTO ate_batch FROM dashboard_estado e;\n"
    "        em_dia := false;\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    ate_batch := w;\n"
    "    SELECT coalesce(max(batch_id), 0) INTO ultimo FROM batch_log;\n"
    "    IF ultimo <= w THEN\n"
    "        em_dia := true;\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    IF EXISTS (SELECT 1 FROM pg_locks l\n"
    "                WHERE l.pid IS NULL AND l.locktype = 'relation'\n"
    "                  AND l.relation = 'transacoes'::regclass\n"
    "                  AND l.database = (SELECT oid FROM pg_database\n"
    "                                     WHERE datname = current_database())) THEN\n"
    "        em_dia := false;\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    SELECT min(batch_id) INTO c\n"
    "      FROM (SELECT batch_id, sum(n_aprovadas + n_rejeitadas + n_nao_processadas)\n"
    "                   OVER (ORDER BY batch_id) AS acumulado\n"
    "              FROM batch_log WHERE batch_id > w AND batch_id <= ultimo) x\n"
    "     WHERE acumulado >= limite;\n"
    "    c := coalesce(c, ultimo);\n"
    "    EXECUTE dashboard_sql('(SELECT * FROM transacoes WHERE batch_id > $1'\n"
    "                          ' AND batch_id <= $2)', 1, 'dashboard_')\n"
    "       INTO linhas USING w, c;\n"
    "    UPDATE dashboard_estado SET ate_batch = c, atualizado_em = now();\n"
    "    ate_batch := c;\n"
    "    em_dia := c = ultimo;\n"
    "END\n"
    "$fn$;\n"
    /* Recount everything from transacoes up to the newest batch (the first
     * creation, or a repair). Waits for the watermark by retrying, not in
     * its lock queue, so that a writer's FOR SHARE never queues behind it
     * (a prepared transaction holding one would otherwise deadlock its sink
     * out of PostgreSQL's sight: design 3, 5). */
    "CREATE OR REPLACE FUNCTION dashboard_reconstruir() RETURNS bigint LANGUAGE plpgsql AS $fn$\n"
    "DECLARE\n"
    "    c bigint;\n"
    "BEGIN\n"
    "    LOCK TABLE transacoes IN ACCESS SHARE MODE;  -- design 4\n"
    "    INSERT INTO dashboard_estado (ate_batch) VALUES (0) ON CONFLICT DO NOTHING;\n"
    "    LOOP\n"
    "        PERFORM 1 FROM dashboard_estado FOR UPDATE SKIP LOCKED;\n"
    "        EXIT WHEN FOUND;\n"
    "        PERFORM pg_sleep(0.05);\n"
    "    END LOOP;\n"
    "    TRUNCATE dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "             dashboard_temporal;\n"
    "    SELECT coalesce(max(batch_id), 0) INTO c FROM batch_log;\n"
    "    EXECUTE dashboard_sql('(SELECT * FROM transacoes WHERE batch_id IS NULL'\n"
    "                          ' OR batch_id <= $1)', 1, 'dashboard_') USING c;\n"
    "    UPDATE dashboard_estado SET ate_batch = c, atualizado_em = now();\n"
    "    RETURN (SELECT coalesce(sum(n), 0) FROM dashboard_resumo);\n"
    "END\n"
    "$fn$;\n"
    /* Design 1, checked: the aggregate rows that differ from a recount of
     * the rows they must count (0 when exact). Needs one snapshot for the
     * rows, the aggregates and W: a REPEATABLE READ transaction. */
    "CREATE OR REPLACE FUNCTION dashboard_verificar() RETURNS bigint LANGUAGE plpgsql AS $fn$\n"
    "DECLARE\n"
    "    w bigint;\n"
    "    t text;\n"
    "    k bigint;\n"
    "    total bigint := 0;\n"
    "BEGIN\n"
    "    IF current_setting('transaction_isolation') = 'read committed' THEN\n"
    "        RAISE EXCEPTION 'dashboard_verificar() needs one snapshot'\n"
    "            USING HINT = 'run it in a REPEATABLE READ transaction';\n"
    "    END IF;\n"
    "    SELECT ate_batch INTO w FROM dashboard_estado;\n"
    "    FOREACH t IN ARRAY ARRAY['resumo', 'valor', 't5', 'calor', 'temporal'] LOOP\n"
    "        EXECUTE format('CREATE TEMP TABLE IF NOT EXISTS verificar_%1$s'\n"
    "                       ' (LIKE dashboard_%1$s INCLUDING ALL) ON COMMIT DROP', t);\n"
    "        EXECUTE format('TRUNCATE pg_temp.verificar_%1$s', t);\n"
    "    END LOOP;\n"
    "    EXECUTE dashboard_sql('(SELECT * FROM transacoes WHERE batch_id IS NULL'\n"
    "                          ' OR batch_id <= $1)', 1, 'pg_temp.verificar_') USING w;\n"
    "    FOREACH t IN ARRAY ARRAY['resumo', 'valor', 't5', 'calor', 'temporal'] LOOP\n"
    "        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM dashboard_%1$s WHERE n <> 0'\n"
    "                       ' EXCEPT ALL SELECT * FROM pg_temp.verificar_%1$s)'\n"
    "                       ' UNION ALL (SELECT * FROM pg_temp.verificar_%1$s'\n"
    "                       ' EXCEPT ALL SELECT * FROM dashboard_%1$s WHERE n <> 0)) x', t)\n"
    "           INTO k;\n"
    "        total := total + k;\n"
    "    END LOOP;\n"
    "    RETURN total;\n"
    "END\n"
    "$fn$;\n"
    /* The first creation, or a database made before the watermark (an older
     * schema, the original's rows adopted): count the rows already there,
     * once. */
    "DO $do$ BEGIN\n"
    "    IF NOT EXISTS (SELECT 1 FROM dashboard_estado) THEN\n"
    "        PERFORM dashboard_reconstruir();\n"
    "    END IF;\n"
    "END $do$;\n";

const char schema_dashboard_drop_ddl[] =
    "DROP VIEW IF EXISTS dashboard_pares CASCADE;\n"
    "DROP TABLE IF EXISTS dashboard_resumo, dashboard_valor, dashboard_t5, dashboard_calor,\n"
    "    dashboard_temporal, dashboard_estado CASCADE;\n"
    "DROP FUNCTION IF EXISTS dashboard_agregar() CASCADE;\n"
    "DROP FUNCTION IF EXISTS dashboard_reconstruir(), dashboard_limpar_zeros(),\n"
    "    dashboard_verificar(), dashboard_sessao_processador(), dashboard_atualizar(bigint),\n"
    "    dashboard_sql(text, int, text), dashboard_sql(text, int);\n";
