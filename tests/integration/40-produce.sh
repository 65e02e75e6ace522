#!/usr/bin/env bash
# 40-produce.sh - `bankstream produce` against the shared broker and database:
# the wire format read back with kcat and checked with Python's json, keys and
# partitions (librdkafka's CRC32 partitioner, recomputed with zlib), users
# checked with psql, byte-for-byte determinism, pacing, SIGINT, and the
# failure modes (bad flags exit 2, unreachable broker or empty database exit 1).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

WORK=$(mktemp -d "$BS_TEST_TMP/produce.XXXXXX")
PG=$(new_database produce)
"$BANKSTREAM" init --pg "$PG" --users 1000 >/dev/null
START=1750000000000
N=5000

produce() { "$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --quiet "$@"; }
consume() { # topic -> partition<TAB>key<TAB>value lines, each partition in offset order
    kcat -C -b "$BS_TEST_BROKERS" -t "$1" -e -q -f '%p\t%k\t%s\n'
}

# --- one run into a fresh topic, read back and checked field by field -------
T1=$(new_topic produce_a)
produce --topic "$T1" --count $N --rate 0 --start-time $START --historic 0 --seed 7
consume "$T1" >"$WORK/t1"
assert_eq "$(wc -l <"$WORK/t1")" "$N" "messages in $T1"

psql_q "$PG" "SELECT id_usuario FROM usuarios" >"$WORK/users"
PARTS=$(kcat -L -b "$BS_TEST_BROKERS" -t "$T1" -J |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["topics"][0]["partitions"]))')

python3 - "$WORK/t1" "$WORK/users" "$PARTS" "$START" <<'EOF'
import json, re, sys, zlib
path, users_path, parts, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
users = set(open(users_path).read().split())
fields = ["id_transacao", "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
          "modalidade_pagamento", "data_horario", "valor_transacao"]
ufs = set("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split())
uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ids, times, last_time = set(), [], {}
for n, line in enumerate(open(path), 1):
    part, key, value = line.rstrip("\n").split("\t")
    msg = json.loads(value)
    where = f"message {n}: {value}"
    assert list(msg) == fields, f"{where}: fields {list(msg)}"
    assert " " not in value, f"{where}: spaces"
    assert key == msg["id_usuario_pagador"], f"{where}: key {key}"
    assert int(part) == zlib.crc32(key.encode()) % parts, f"{where}: partition {part}"
    for f in fields[:3]:
        assert uuid.match(msg[f]), f"{where}: {f}"
    assert msg["id_usuario_pagador"] in users and msg["id_usuario_recebedor"] in users, where
    assert msg["id_usuario_pagador"] != msg["id_usuario_recebedor"], where
    assert msg["id_regiao"] in ufs, where
    assert msg["modalidade_pagamento"] in ("PIX", "TED", "DOC", "Boleto"), where
    assert type(msg["data_horario"]) is int, where
    assert re.search(r'"valor_transacao":[0-9]+\.[0-9]{2}}$', value), f"{where}: 2 decimals"
    assert msg["valor_transacao"] >= 0.01, where
    ids.add(msg["id_transacao"])
    times.append(msg["data_horario"])
    # Within a partition, offsets follow generation order: ascending time.
    assert msg["data_horario"] > last_time.get(part, 0), f"{where}: time order"
    last_time[part] = msg["data_horario"]
assert len(ids) == n, "duplicate transaction ids"
# --rate 0 and no historic: the clock runs 1 ms per transaction from START.
assert sorted(times) == list(range(start, start + n)), "timestamps"
EOF

# --- determinism: a second topic with the same flags, and the --output file --
T2=$(new_topic produce_b)
produce --topic "$T2" --count $N --rate 0 --start-time $START --historic 0 --seed 7
consume "$T2" >"$WORK/t2"
for p in $(seq 0 $((PARTS - 1))); do
    cmp -s <(grep "^$p	" "$WORK/t1") <(grep "^$p	" "$WORK/t2") ||
        fail "partition $p of $T1 and $T2 differ (same seed and start time)"
done
produce --output "$WORK/file" --count $N --rate 0 --start-time $START --historic 0 --seed 7
assert_eq "$(wc -l <"$WORK/file")" "$N" "lines in the --output file"
cmp -s <(cut -f2- "$WORK/t1" | sort) <(sort "$WORK/file") ||
    fail "the --output file holds other messages than the topic"
# The file is in generation order; each partition of the topic is that order.
python3 - "$WORK/file" "$WORK/t1" "$PARTS" <<'EOF'
import sys, zlib
lines = [l.rstrip("\n") for l in open(sys.argv[1])]
parts = int(sys.argv[3])
topic = {}
for l in open(sys.argv[2]):
    p, rest = l.rstrip("\n").split("\t", 1)
    topic.setdefault(int(p), []).append(rest)
for p in range(parts):
    want = [l for l in lines if zlib.crc32(l.split("\t")[0].encode()) % parts == p]
    assert topic.get(p, []) == want, f"partition {p} is not the file order"
EOF
produce --output "$WORK/file8" --count 200 --rate 0 --start-time $START --historic 0 --seed 8
cmp -s <(head -200 "$WORK/file") "$WORK/file8" && fail "seeds 7 and 8 gave the same messages"

# --- historic default: transacoes is empty, so the first 1000 go into the past year
produce --output "$WORK/hist" --count 1200 --rate 0 --start-time $START --seed 7
python3 - "$WORK/hist" "$START" <<'EOF'
import json, sys
start = int(sys.argv[2]); year = 365 * 86400 * 1000
t = [json.loads(l.split("\t", 1)[1])["data_horario"] for l in open(sys.argv[1])]
hist, live = t[:1000], t[1000:]
assert all(start - year <= x < start for x in hist), "historic outside the year before start"
assert hist == sorted(hist), "historic timestamps not ascending"
assert live == list(range(start, start + 200)), "live timestamps"
EOF
# A minimal database of our own: no transacoes table counts as empty; one row
# in it turns the historic default off.
MINI=$(new_database produce_mini)
psql_q "$MINI" "CREATE TABLE usuarios (id_usuario uuid PRIMARY KEY, saldo numeric(15,2));
    INSERT INTO usuarios SELECT gen_random_uuid(), 100 FROM generate_series(1, 3)" >/dev/null
first_time() { head -1 "$1" | cut -f2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_horario"])'; }
"$BANKSTREAM" produce --pg "$MINI" --quiet --output "$WORK/mini" --count 1001 --start-time $START
assert_eq "$(tail -1 "$WORK/mini" | cut -f2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_horario"])')" \
    "$START" "message 1001 without a transacoes table (historic default 1000)"
[ "$(first_time "$WORK/mini")" -lt "$START" ] || fail "no historic without a transacoes table"
psql_q "$MINI" "CREATE TABLE transacoes (id_transacao uuid);
    INSERT INTO transacoes VALUES (gen_random_uuid())" >/dev/null
"$BANKSTREAM" produce --pg "$MINI" --quiet --output "$WORK/mini2" --count 10 --start-time $START
assert_eq "$(first_time "$WORK/mini2")" "$START" "first timestamp when transacoes has rows"

# --- pacing and SIGINT -------------------------------------------------------
T3=$(new_topic produce_c)
t0=$(date +%s%N)
produce --topic "$T3" --count 30 --rate 50 --historic 0
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -ge 550 ] || fail "--count 30 --rate 50 took ${elapsed_ms} ms, expected >= 0.58 s"

T4=$(new_topic produce_d)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$T4" --rate 200 \
    --historic 0 2>"$WORK/sigint.err" &
pid=$!
sleep 1.5
kill -INT $pid
rc=0
wait $pid || rc=$?
assert_eq "$rc" "0" "exit status after SIGINT"
summary=$(grep -o 'produced [0-9]* messages' "$WORK/sigint.err") || fail "no summary line after SIGINT"
sent=$(echo "$summary" | awk '{print $2}')
[ "$sent" -gt 0 ] || fail "nothing produced before SIGINT"
assert_eq "$(consume "$T4" | wc -l)" "$sent" "messages in $T4 after SIGINT"

# --- failures ------------------------------------------------------------------
expect_exit() { # code text cmd...
    local want=$1 text=$2 err rc=0
    shift 2
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" "$want" "exit status of: $*"
    assert_contains "$err" "$text" "error message of: $*"
    assert_eq "$(printf '%s\n' "$err" | wc -l)" "1" "one error line from: $*"
}
expect_exit 2 "--count" "$BANKSTREAM" produce --pg "$PG" --count -5
expect_exit 2 "--rate" "$BANKSTREAM" produce --pg "$PG" --rate abc
expect_exit 2 "--seed" "$BANKSTREAM" produce --pg "$PG" --seed 1x
expect_exit 2 "--start-time" "$BANKSTREAM" produce --pg "$PG" --start-time yesterday
expect_exit 2 "--bogus" "$BANKSTREAM" produce --pg "$PG" --bogus
expect_exit 2 "-X" "$BANKSTREAM" produce --pg "$PG" -X nonsense

port=$(free_port)
t0=$(date +%s)
expect_exit 1 "cannot reach Kafka at 127.0.0.1:$port" \
    "$BANKSTREAM" produce --pg "$PG" --brokers "127.0.0.1:$port" --count 10
[ $(($(date +%s) - t0)) -le 10 ] || fail "unreachable broker took more than 10 s to report"

EMPTY=$(new_database produce_empty)
expect_exit 1 "bankstream init" "$BANKSTREAM" produce --pg "$EMPTY" --output /dev/null --count 1
psql_q "$EMPTY" "CREATE TABLE usuarios (id_usuario uuid, saldo numeric(15,2))"
psql_q "$EMPTY" "INSERT INTO usuarios VALUES (gen_random_uuid(), 10)"
expect_exit 1 "bankstream init" "$BANKSTREAM" produce --pg "$EMPTY" --output /dev/null --count 1

echo "ok"
