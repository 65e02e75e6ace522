# tests/lib.sh - helpers for integration tests (sourced, bash).
#
# The runner (tests/run) calls bs_test_services_start once; every test then
# sees BS_TEST_PG (conninfo of a shared PostgreSQL server, database "postgres")
# and BS_TEST_BROKERS (bootstrap address of the shared broker). The broker is
# chosen by the environment of tests/run:
#   BS_TEST_BROKER=mock   (default) `bankstream broker`, librdkafka's mock cluster
#   BS_TEST_BROKER=kafka  Apache Kafka, started by scripts/kafka.sh in $BS_TEST_TMP
#   BS_TEST_BROKERS=host:port   an existing broker, used as is
# Tests see BS_TEST_BROKER_KIND (mock, kafka, or external unless BS_TEST_BROKER
# names it) and skip mock-only checks with `mock_only "what" || ...`.
# Tests isolate themselves by creating their own database (new_database,
# dropped by drop_databases) and topic (new_topic). A test is a bash script
# that exits non-zero on failure; `fail` and the assert_* helpers print what
# differed. What processing wrote is compared through one canonical dump
# (dump_decisions, diff_dumps); MPI programs run through mpirun_np.

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The server package's psql starts twice as fast as the Debian wrapper script.
[ -x /usr/lib/postgresql/15/bin/psql ] && export PATH=/usr/lib/postgresql/15/bin:$PATH
export OMPI_MCA_rmaps_base_oversubscribe=1
: "${BANKSTREAM:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bankstream}"
: "${BS_TEST_TMP:=/tmp}"
# The build the binary under test comes from (release or ASan): its MPI and
# benchmark drivers (make builds them) are $BS_BUILD/mpi/* and $BS_BUILD/bench/*.
case "$BANKSTREAM" in
    */build-asan/*) BS_BUILD="${BANKSTREAM%/build-asan/*}/build-asan" ;;
    *) BS_BUILD="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build" ;;
esac
export BS_BUILD
BS_TEST_ENV="$BS_TEST_TMP/services.env"
[ -f "$BS_TEST_ENV" ] && source "$BS_TEST_ENV"

fail() { echo "FAILED: $*" >&2; exit 1; }

assert_eq() { # actual expected message
    [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
}

assert_contains() { # haystack needle message
    [[ "$1" == *"$2"* ]] || fail "$3: '$2' not found in: $1"
}

# Run a command that must fail with a nonzero exit and a one-line error on stderr
# containing the given text. Usage: assert_fails "text" cmd args...
assert_fails() {
    local want=$1; shift
    local err rc=0
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure of: $*"
    assert_contains "$err" "$want" "error message of: $*"
}

# A TCP port no socket uses: below Linux's ephemeral range (32768 and up),
# where a client's outgoing connection may hold a port that no one listens
# on, and a server binding it then fails.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12768))
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

psql_q() { # conninfo sql -> unaligned tuples, fields separated by |
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

# A test's databases are named t_<name>_<the test's pid>, so that
# drop_databases finds every one, also those made in a $(...) subshell.
new_database() { # name [init flags...] -> prints a conninfo for a fresh database of that
    # name; with flags, initialized by `bankstream init --pg DB FLAGS` (e.g. --users 2000)
    local name="t_$1_$$" conn
    shift
    PGOPTIONS="-c client_min_messages=warning" psql_q "$BS_TEST_PG" \
        "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    psql_q "$BS_TEST_PG" "CREATE DATABASE $name" >/dev/null
    conn="${BS_TEST_PG/dbname=postgres/dbname=$name}"
    if [ $# -gt 0 ]; then
        "$BANKSTREAM" init --pg "$conn" "$@" >/dev/null || return 1
    fi
    echo "$conn"
}

db_name() { # conninfo -> the database name in it
    sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$1"
}

test_databases() { # the names of the databases this test made (new_database)
    psql_q "$BS_TEST_PG" "SELECT datname FROM pg_database WHERE datname LIKE 't\_%\_$$' ORDER BY 1"
}

drop_databases() { # drop every database this test made (for an EXIT trap; never fails)
    local d
    for d in $(test_databases 2>/dev/null); do
        psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    return 0
}

new_topic() { # name -> a topic name unique to this test run
    echo "t_$1_$$_$RANDOM"
}

# mpirun for tests: oversubscribed (more ranks than cores) and unbound (the
# cores are shared). An array, for callers that put a command before it.
BS_MPIRUN=(mpirun --oversubscribe --bind-to none)

mpirun_np() { # N [mpirun options] program args... : run under mpirun with N ranks
    local n=$1; shift
    "${BS_MPIRUN[@]}" -np "$n" "$@"
}

mpirun_bs() { # N args... : run bankstream under mpirun with N ranks
    local n=$1; shift
    mpirun_np "$n" -wdir "$BS_TEST_TMP" "$BANKSTREAM" "$@"
}

bs_test_services_start() {
    local pgport
    pgport=$(free_port)
    "$BANKSTREAM" db start --dir "$BS_TEST_TMP/pg" --port "$pgport" >"$BS_TEST_TMP/pg.conninfo" \
        || return 1
    local conninfo
    conninfo=$(tail -1 "$BS_TEST_TMP/pg.conninfo")
    local brokers kind
    bs_test_broker_start || return 1
    {
        echo "export BS_TEST_PG='${conninfo/dbname=bank/dbname=postgres}'"
        echo "export BS_TEST_BROKERS='$brokers'"
        echo "export BS_TEST_BROKER_KIND='$kind'"
    } >"$BS_TEST_ENV"
    source "$BS_TEST_ENV"
}

BS_TEST_KAFKA_SH=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/kafka.sh

bs_test_broker_start() { # sets brokers and kind (see the header)
    if [ -n "${BS_TEST_BROKERS:-}" ]; then
        brokers=$BS_TEST_BROKERS kind=${BS_TEST_BROKER:-external}
        kcat -L -b "$brokers" -m 10 -q >/dev/null 2>&1 ||
            { echo "BS_TEST_BROKERS=$brokers: no broker answers metadata there"; return 1; }
        return 0
    fi
    kind=${BS_TEST_BROKER:-mock}
    local port
    port=$(free_port)
    case "$kind" in
    mock)
        "$BANKSTREAM" broker --port "$port" >"$BS_TEST_TMP/broker.out" 2>"$BS_TEST_TMP/broker.err" &
        echo $! >"$BS_TEST_TMP/broker.pid"
        for _ in $(seq 50); do [ -s "$BS_TEST_TMP/broker.out" ] && break; sleep 0.1; done
        [ -s "$BS_TEST_TMP/broker.out" ] || { cat "$BS_TEST_TMP/broker.err"; return 1; }
        brokers=$(head -1 "$BS_TEST_TMP/broker.out")
        ;;
    kafka)
        "$BS_TEST_KAFKA_SH" start --dir "$BS_TEST_TMP/kafka" --port "$port" \
            >"$BS_TEST_TMP/broker.out" 2>"$BS_TEST_TMP/broker.err" ||
            { cat "$BS_TEST_TMP/broker.err"; return 1; }
        brokers=$(tail -1 "$BS_TEST_TMP/broker.out")
        ;;
    *) echo "BS_TEST_BROKER=$kind: expected mock or kafka"; return 1 ;;
    esac
}

# Wait until BANKSTREAM_TEST_SINK_PAUSE stopped the sink of the run whose
# process is pid: its line in the run's stderr file. 0; 1 when the run
# ended first, or after 60 s.
wait_sink_paused() { # stderr-file pid
    local i
    for ((i = 0; i < 1200; i++)); do
        grep -q "BANKSTREAM_TEST_SINK_PAUSE: batch" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# The batch the BANKSTREAM_TEST_SINK_PAUSE line of a run's stderr file names
# (empty when there is none).
sink_paused_batch() { # stderr-file
    sed -n 's/.*BANKSTREAM_TEST_SINK_PAUSE: batch \([0-9]*\) .*/\1/p' "$1" | head -1
}

mock_only() { # what -> true on the mock broker, else prints why the check is skipped
    [ "${BS_TEST_BROKER_KIND:-mock}" = mock ] && return 0
    echo "SKIP (broker is $BS_TEST_BROKER_KIND, not the mock): $*"
    return 1
}

bs_test_services_stop() {
    if [ -f "$BS_TEST_TMP/broker.pid" ]; then
        kill "$(cat "$BS_TEST_TMP/broker.pid")" 2>/dev/null
        wait "$(cat "$BS_TEST_TMP/broker.pid")" 2>/dev/null
    fi
    [ -f "$BS_TEST_TMP/kafka/kafka.pid" ] && "$BS_TEST_KAFKA_SH" stop --dir "$BS_TEST_TMP/kafka" >/dev/null
    [ -d "$BS_TEST_TMP/pg" ] && "$BANKSTREAM" db stop --dir "$BS_TEST_TMP/pg" >/dev/null 2>&1
    return 0
}

# One file per table of what the processor decided, in a canonical order and
# without wall-clock columns, for comparing runs with cmp (diff_dumps). With
# --reference, the files and formats that tests/reference/serial_ref.py
# writes (NAME.txt, sorted bytewise; data_horario in µs, floats as %.12g,
# balances in centavos), to compare with it.
dump_decisions() { # db dir [--reference]
    mkdir -p "$2"
    if [ "${3:-}" = --reference ]; then
        dump_reference "$1" "$2"
        return
    fi
    local -A sql=(
        [transacoes]="SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
            modalidade_pagamento, data_horario, valor_transacao, transacao_aprovada,
            tempo_entrada_kafka, status, motivo, batch_id, kafka_particao, kafka_offset
            FROM transacoes ORDER BY id_transacao"
        [transacoes_scores]="SELECT * FROM transacoes_scores ORDER BY id_transacao, t5_score, t6_score, t7_score"
        [transacoes_duplicadas]="SELECT id_transacao, batch_id, kafka_particao, kafka_offset,
            tempo_entrada_kafka, md5(payload) FROM transacoes_duplicadas ORDER BY kafka_particao, kafka_offset"
        [dead_letters]="SELECT batch_id, kafka_particao, kafka_offset, tempo_entrada_kafka,
            md5(payload), erro FROM dead_letters ORDER BY kafka_particao, kafka_offset"
        [batch_log]="SELECT batch_id, topic, start_offsets, end_offsets, n_mensagens, n_aprovadas,
            n_rejeitadas, n_nao_processadas, n_dead_letters FROM batch_log ORDER BY batch_id"
        [balances]="SELECT u.id_usuario, u.saldo - coalesce(d.v, 0) + coalesce(c.v, 0)
            FROM usuarios u
            LEFT JOIN (SELECT id_usuario_pagador AS id, sum(valor_transacao) AS v FROM transacoes
                        WHERE transacao_aprovada GROUP BY 1) d ON d.id = u.id_usuario
            LEFT JOIN (SELECT id_usuario_recebedor AS id, sum(valor_transacao) AS v FROM transacoes
                        WHERE transacao_aprovada GROUP BY 1) c ON c.id = u.id_usuario
            ORDER BY 1"
    )
    local t
    for t in "${!sql[@]}"; do
        psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "COPY (${sql[$t]}) TO STDOUT" >"$2/$t"
    done
}

dump_reference() { # db dir: dump_decisions --reference
    local conn=$1 dir=$2
    ref_copy() { # sql file; floats as "%.12g" (extra_float_digits <= 0 means printf's %.*g)
        psql "$conn" -XAtq -v ON_ERROR_STOP=1 -c "SET extra_float_digits = -3" \
            -c "COPY ($1) TO STDOUT" | LC_ALL=C sort >"$dir/$2.txt"
    }
    ref_copy "SELECT id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao,
                 modalidade_pagamento, (extract(epoch FROM data_horario) * 1000000)::bigint,
                 valor_transacao, transacao_aprovada, status, motivo, batch_id, kafka_particao,
                 kafka_offset FROM transacoes" transacoes
    ref_copy "SELECT id_transacao, t5_score, t6_score, t7_score FROM transacoes_scores" scores
    ref_copy "SELECT id_transacao, batch_id, kafka_particao, kafka_offset, md5(payload)
                FROM transacoes_duplicadas" duplicadas
    ref_copy "SELECT batch_id, kafka_particao, kafka_offset, md5(payload), erro <> ''
                FROM dead_letters" dead_letters
    ref_copy "SELECT batch_id, topic, start_offsets, end_offsets, n_mensagens, n_aprovadas,
                 n_rejeitadas, n_nao_processadas, n_dead_letters FROM batch_log" batch_log
    ref_copy "SELECT u.id_usuario, ((u.saldo - coalesce(d.s, 0) + coalesce(c.s, 0)) * 100)::bigint
                FROM usuarios u
                LEFT JOIN (SELECT id_usuario_pagador AS id, sum(valor_transacao) AS s
                             FROM transacoes WHERE status = 'aprovada' GROUP BY 1) d
                       ON d.id = u.id_usuario
                LEFT JOIN (SELECT id_usuario_recebedor AS id, sum(valor_transacao) AS s
                             FROM transacoes WHERE status = 'aprovada' GROUP BY 1) c
                       ON c.id = u.id_usuario" saldos
}

diff_dumps() { # what expected-dir actual-dir: every file of actual-dir (a dump) must equal
    # the file of that name in expected-dir; prints each difference to stderr, returns 1 if any
    local f t bad=0
    [ -n "$(ls -A "$3" 2>/dev/null)" ] || { echo "$1: $3 holds no dump" >&2; return 1; }
    for f in "$3"/*; do
        t=$(basename "$f")
        cmp -s "$2/$t" "$f" && continue
        bad=1
        echo "$1: $t differs ($(wc -l <"$f") rows, $(cat "$2/$t" 2>/dev/null | wc -l) expected);" \
            "diff expected actual:" >&2
        diff "$2/$t" "$f" 2>&1 | head -10 | sed 's/^/    /' >&2 || true
    done
    return "$bad"
}

