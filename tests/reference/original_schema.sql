-- original_schema.sql - the database of the original system (Kafka + Spark +
-- PostgreSQL + Streamlit) the way its seed script builds it, written for the
-- tests from the facts in ../shared/SYSTEM.md (PostgreSQL section): its four
-- tables, the four indexes on transacoes, the two views and the retention
-- function, with the original's names, columns and column types, in the
-- style of a hand-written seed script (upper case, IF NOT EXISTS, CREATE OR
-- REPLACE). Like the original's, it can run again on its own database;
-- 32-adopt.sh runs it once to build a database to adopt and again, after
-- `bankstream init` adopted it, as the original's seed script would:
-- every statement must still succeed.
--
-- The index names are this file's own (not bankstream's): init must see
-- that a plain index on the column exists and not add a second one.

CREATE TABLE IF NOT EXISTS regioes (
    id_regiao VARCHAR(2) PRIMARY KEY,
    latitude FLOAT,
    longitude FLOAT,
    media_transacional_mensal NUMERIC(15,2),
    num_fraudes_ult_30d INT
);

CREATE TABLE IF NOT EXISTS usuarios (
    id_usuario UUID PRIMARY KEY,
    id_regiao VARCHAR(2),
    saldo NUMERIC(15,2),
    limite_pix NUMERIC(15,2),
    limite_ted NUMERIC(15,2),
    limite_doc NUMERIC(15,2),
    limite_boleto NUMERIC(15,2),
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS transacoes (
    id_transacao UUID PRIMARY KEY,
    id_usuario_pagador UUID,
    id_usuario_recebedor UUID,
    id_regiao VARCHAR(2),
    modalidade_pagamento VARCHAR(6),
    data_horario TIMESTAMP,
    valor_transacao NUMERIC(15,2),
    transacao_aprovada BOOLEAN,
    tempo_saida_resultado TIMESTAMP,
    tempo_entrada_kafka TIMESTAMP,
    tempo_inicio_processamento TIMESTAMP,
    latencia_total_ms BIGINT,
    tempo_processamento_ms BIGINT,
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS transacoes_scores (
    id_transacao UUID,
    t5_score FLOAT,
    t6_score FLOAT,
    t7_score FLOAT
);

CREATE INDEX IF NOT EXISTS idx_data_horario ON transacoes(data_horario);
CREATE INDEX IF NOT EXISTS idx_latencia ON transacoes(latencia_total_ms);
CREATE INDEX IF NOT EXISTS idx_aprovada ON transacoes(transacao_aprovada);
CREATE INDEX IF NOT EXISTS idx_modalidade ON transacoes(modalidade_pagamento);

-- Latency per payment type (count bigint, avg numeric, min/max bigint,
-- percentile_cont double precision).
CREATE OR REPLACE VIEW vw_performance_stats AS
SELECT
    modalidade_pagamento,
    COUNT(*) AS total_transacoes,
    AVG(latencia_total_ms) AS latencia_media_ms,
    MIN(latencia_total_ms) AS latencia_minima_ms,
    MAX(latencia_total_ms) AS latencia_maxima_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latencia_total_ms) AS latencia_p95_ms,
    AVG(tempo_processamento_ms) AS tempo_processamento_medio_ms
FROM transacoes
WHERE latencia_total_ms IS NOT NULL
GROUP BY modalidade_pagamento;

-- Throughput and latency per hour of result, newest hour first.
CREATE OR REPLACE VIEW vw_performance_temporal AS
SELECT
    DATE_TRUNC('hour', tempo_saida_resultado) AS hora,
    COUNT(*) AS transacoes_por_hora,
    AVG(latencia_total_ms) AS latencia_media_ms
FROM transacoes
WHERE latencia_total_ms IS NOT NULL
GROUP BY DATE_TRUNC('hour', tempo_saida_resultado)
ORDER BY hora DESC;

-- Retention: delete the transactions inserted more than dias_retencao days
-- ago (created_at, not data_horario) and return how many.
CREATE OR REPLACE FUNCTION limpar_transacoes_antigas(dias_retencao INTEGER DEFAULT 30)
RETURNS INTEGER AS $$
DECLARE
    linhas_removidas INTEGER;
BEGIN
    DELETE FROM transacoes
    WHERE created_at < NOW() - (dias_retencao || ' days')::INTERVAL;
    GET DIAGNOSTICS linhas_removidas = ROW_COUNT;
    RETURN linhas_removidas;
END;
$$ LANGUAGE plpgsql;
