#!/usr/bin/env bash
# 40-produce.sh - `bankstream produce` against the shared broker and database:
# the wire format read back with kcat and checked with Python's json, keys and
# partitions (librdkafka's CRC32 partitioner, recomputed with zlib), --key
# none (no key, each payer over several partitions, deterministic), users
# checked with psql, byte-for-byte determinism, the historic default, pacing,
# SIGINT, and the failure modes (bad flags exit 2; unreachable broker, missing
# users exit 1).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

WORK=$(mktemp -d "$BS_TEST_TMP/produce.XXXXXX")
PG=$(new_database produce --users 1000)
START=1750000000000
N=5000

produce() { "$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --quiet "$@"; }
consume() { # topic -> partition<TAB>key<TAB>value lines, each partition in offset order
    kcat -C -b "$BS_TEST_BROKERS" -t "$1" -e -q -f '%p\t%k\t%s\n'
}

# --- the same flags into two topics and a file ---------------------------------
T1=$(new_topic produce_a)
T2=$(new_topic produce_b)
produce --topic "$T1" --count $N --rate 0 --start-time $START --historic 0 --seed 7
produce --topic "$T2" --count $N --rate 0 --start-time $START --historic 0 --seed 7
produce --output "$WORK/file" --count $N --rate 0 --start-time $START --historic 0 --seed 7
produce --output "$WORK/file8" --count 200 --rate 0 --start-time $START --historic 0 --seed 8
consume "$T1" >"$WORK/t1"
consume "$T2" >"$WORK/t2"
assert_eq "$(wc -l <"$WORK/t1")" "$N" "messages in $T1"
kcat -L -b "$BS_TEST_BROKERS" -t "$T1" -J >"$WORK/meta.json"
psql_q "$PG" "SELECT id_usuario FROM usuarios" >"$WORK/users"

# --- historic default: transacoes is empty, so the first 1000 go into the past year
produce --output "$WORK/hist" --count 1200 --rate 0 --start-time $START --seed 7
# A database of our own: no transacoes table counts as empty (historic 1000);
# one row in it turns the historic default off.
MINI=$(new_database produce_mini)
psql_q "$MINI" "CREATE TABLE usuarios (id_usuario uuid PRIMARY KEY, saldo numeric(15,2));
    INSERT INTO usuarios SELECT gen_random_uuid(), 100 FROM generate_series(1, 3)" >/dev/null
"$BANKSTREAM" produce --pg "$MINI" --quiet --output "$WORK/mini" --count 1001 --start-time $START
psql_q "$MINI" "CREATE TABLE transacoes (id_transacao uuid);
    INSERT INTO transacoes VALUES (gen_random_uuid())" >/dev/null
"$BANKSTREAM" produce --pg "$MINI" --quiet --output "$WORK/mini2" --count 10 --start-time $START

python3 - "$WORK" "$START" <<'EOF'
import json, re, sys, zlib
work, start = sys.argv[1], int(sys.argv[2])
year = 365 * 86400 * 1000
def lines(name):
    return [l.rstrip("\n") for l in open(f"{work}/{name}")]
def when(line):
    return json.loads(line.split("\t")[-1])["data_horario"]

users = set(open(f"{work}/users").read().split())
parts = len(json.load(open(f"{work}/meta.json"))["topics"][0]["partitions"])
fields = ["id_transacao", "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
          "modalidade_pagamento", "data_horario", "valor_transacao"]
ufs = set("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split())
uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Every message of the topic, field by field.
t1 = lines("t1")
ids, times = set(), []
for n, line in enumerate(t1, 1):
    part, key, value = line.split("\t")
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
assert len(ids) == len(t1), "duplicate transaction ids"
# --rate 0 and no historic: the clock runs 1 ms per transaction from the start.
assert sorted(times) == list(range(start, start + len(t1))), "timestamps"

# Determinism: the second topic is byte-identical partition by partition, and
# each partition is the --output file's order restricted to that partition.
def by_part(rows):
    out = {}
    for l in rows:
        p, rest = l.split("\t", 1)
        out.setdefault(int(p), []).append(rest)
    return out
topic1, topic2 = by_part(t1), by_part(lines("t2"))
assert topic1 == topic2, "two runs with the same flags produced different topics"
file = lines("file")
for p in range(parts):
    want = [l for l in file if zlib.crc32(l.split("\t")[0].encode()) % parts == p]
    assert topic1.get(p, []) == want, f"partition {p} is not the --output file's order"
assert lines("file8") != file[:200], "seeds 7 and 8 gave the same messages"

# Historic default with an empty transacoes: 1000 ascending in the past year.
t = [when(l) for l in lines("hist")]
hist, live = t[:1000], t[1000:]
assert all(start - year <= x < start for x in hist), "historic outside the year before start"
assert hist == sorted(hist), "historic timestamps not ascending"
assert live == list(range(start, start + 200)), "live timestamps after the historic ones"
mini = [when(l) for l in lines("mini")]
assert mini[0] < start and mini[1000] == start, "no transacoes table should mean historic 1000"
assert when(lines("mini2")[0]) == start, "a non-empty transacoes should mean no historic"
EOF

# --- --key none: no key, each payer over every partition, still deterministic ---
T5=$(new_topic produce_nokey_a)
T6=$(new_topic produce_nokey_b)
produce --topic "$T5" --key none --count $N --rate 0 --start-time $START --historic 0 --seed 7
produce --topic "$T6" --key none --count $N --rate 0 --start-time $START --historic 0 --seed 7
produce --output "$WORK/nokey" --key none --count $N --rate 0 --start-time $START --historic 0 --seed 7
for t in "$T5" "$T6"; do # partition<TAB>key length (-1: no key)<TAB>key<TAB>value
    kcat -C -b "$BS_TEST_BROKERS" -t "$t" -e -q -f '%p\t%K\t%k\t%s\n' >"$WORK/$t"
done
kcat -L -b "$BS_TEST_BROKERS" -t "$T5" -J >"$WORK/meta5.json"
python3 - "$WORK" "$T5" "$T6" <<'EOF'
import collections, json, sys
work, t5, t6 = sys.argv[1:]
def lines(name):
    return [l.rstrip("\n") for l in open(f"{work}/{name}")]
parts = len(json.load(open(f"{work}/meta5.json"))["topics"][0]["partitions"])
assert parts > 1, f"the test topic has {parts} partition"
keyed = [l.split("\t")[1] for l in lines("file")]

# The file: an empty key field, the same values as with --key payer.
nokey = lines("nokey")
assert all(l.split("\t")[0] == "" for l in nokey), "--output with --key none wrote a key"
assert [l.split("\t")[1] for l in nokey] == keyed, "--key none changed the messages"

def topic(name):
    out = collections.defaultdict(list)
    for n, l in enumerate(lines(name), 1):
        p, klen, key, value = l.split("\t")
        assert klen == "-1" and key == "", f"{name} message {n} has a key: {klen} '{key}'"
        out[int(p)].append(value)
    return dict(out)
a, b = topic(t5), topic(t6)
assert a == b, "two runs of --key none with the same flags gave different partitions"
# Every partition is used, each keeps the send order, nothing is lost.
assert sorted(a) == list(range(parts)), f"partitions used: {sorted(a)} of {parts}"
order = {v: i for i, v in enumerate(keyed)}
for p, values in a.items():
    at = [order[v] for v in values]
    assert at == sorted(at), f"partition {p} is not in send order"
assert sorted(v for vs in a.values() for v in vs) == sorted(keyed), "messages lost or added"
# Payers spread over partitions: 5000 messages from 1000 users, so most
# payers have several transactions, in more than one partition.
where = collections.defaultdict(set)
for p, values in a.items():
    for v in values:
        where[json.loads(v)["id_usuario_pagador"]].add(p)
several = [u for u, ps in where.items() if len(ps) > 1]
assert len(several) > len(where) // 2, f"only {len(several)} of {len(where)} payers in 2+ partitions"
EOF

# --- pacing and SIGINT -------------------------------------------------------
T3=$(new_topic produce_c)
t0=$(date +%s%N)
produce --topic "$T3" --count 30 --rate 50 --historic 0
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -ge 550 ] || fail "--count 30 --rate 50 took ${elapsed_ms} ms, expected >= 0.58 s"

# A high rate is kept without a nap per message: at 20,000 msgs/s the main
# thread sleeps at most about once a millisecond (its voluntary context
# switches, read from /proc while it runs). Before, it napped for each
# message, 20,000 times a second, and that took 20-30% of a core.
T3b=$(new_topic produce_c2)
t0=$(date +%s%N)
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --quiet --topic "$T3b" \
    --count 60000 --rate 20000 --historic 0 &
pid=$!
sleep 2
switches=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$pid/task/$pid/status")
ran_ms=$((($(date +%s%N) - t0) / 1000000))
wait $pid
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
echo "--rate 20000: main thread slept $switches times in its first $ran_ms ms; 60000 in $elapsed_ms ms"
[ "$switches" -le $((ran_ms * 3 / 2)) ] ||
    fail "--rate 20000: the main thread slept $switches times in $ran_ms ms (a nap per message?)"
[ "$elapsed_ms" -ge 2850 ] || fail "--count 60000 --rate 20000 took ${elapsed_ms} ms, expected >= 3 s"
assert_eq "$(consume "$T3b" | wc -l)" 60000 "messages in $T3b"

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

# --- a broker that dies mid-run: delivery failures make the exit status 1 ----
"$BANKSTREAM" broker --port 0 >"$WORK/broker.out" 2>"$WORK/broker.err" &
bpid=$!
for _ in $(seq 50); do [ -s "$WORK/broker.out" ] && break; sleep 0.1; done
DYING=$(head -1 "$WORK/broker.out")
[ -n "$DYING" ] || fail "private broker did not start: $(cat "$WORK/broker.err")"
"$BANKSTREAM" produce --pg "$PG" --brokers "$DYING" --topic dying --count 1000 --rate 100 \
    --historic 0 --quiet -X message.timeout.ms=2000 2>"$WORK/dying.err" &
ppid=$!
sleep 1
kill $bpid
wait $bpid || true
rc=0
wait $ppid || rc=$?
assert_eq "$rc" "1" "exit status when the broker dies"
assert_contains "$(cat "$WORK/dying.err")" "failed delivery" "error when the broker dies"

# --- failures ------------------------------------------------------------------
expect_exit() { # code text cmd...
    local want=$1 text=$2 err rc=0
    shift 2
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" "$want" "exit status of: $*"
    assert_contains "$err" "$text" "error message of: $*"
    [[ "$err" != *$'\n'* ]] || fail "more than one error line from: $*: $err"
}
expect_exit 2 "--count" "$BANKSTREAM" produce --pg "$PG" --count -5
expect_exit 2 "--rate" "$BANKSTREAM" produce --pg "$PG" --rate abc
expect_exit 2 "--seed" "$BANKSTREAM" produce --pg "$PG" --seed 1x
expect_exit 2 "--start-time" "$BANKSTREAM" produce --pg "$PG" --start-time yesterday
expect_exit 2 "--bogus" "$BANKSTREAM" produce --pg "$PG" --bogus
expect_exit 2 "-X" "$BANKSTREAM" produce --pg "$PG" -X nonsense
expect_exit 2 "--key expects payer or none, got 'user'" "$BANKSTREAM" produce --pg "$PG" --key user

port=$(free_port)
t0=$(date +%s)
expect_exit 1 "cannot reach Kafka at 127.0.0.1:$port" \
    "$BANKSTREAM" produce --pg "$PG" --brokers "127.0.0.1:$port" --count 10
[ $(($(date +%s) - t0)) -le 10 ] || fail "unreachable broker took more than 10 s to report"

EMPTY=$(new_database produce_empty)
expect_exit 1 "bankstream init" "$BANKSTREAM" produce --pg "$EMPTY" --output /dev/null --count 1
psql_q "$EMPTY" "CREATE TABLE usuarios (id_usuario uuid, saldo numeric(15,2));
    INSERT INTO usuarios VALUES (gen_random_uuid(), 10)" >/dev/null
expect_exit 1 "bankstream init" "$BANKSTREAM" produce --pg "$EMPTY" --output /dev/null --count 1
echo "ok"
