#!/usr/bin/env bash
# 22-pgcopy.sh - pgcopy's binary COPY encoding and its COPY-in helper against
# a real server: the edge values of every encoder (those of
# tests/unit/test_pgcopy.c) go through COPY ... FROM STDIN (FORMAT binary)
# into tables of a fresh database, and PostgreSQL's own text output of what
# it stored must be the text written below. Then 20,000 random amounts and
# times streamed in 4 KiB flushes, a 3 MiB field (several chunks), a COPY the
# server refuses (one-line error, connection still usable) and an aborted one.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

check="$BS_BUILD/pg/pgcopy_check"
[ -x "$check" ] || fail "$check is missing (make builds it)"
db=$(new_database pgcopy)
cleanup() { psql_q "$BS_TEST_PG" "DROP DATABASE IF EXISTS $(sed 's/.*dbname=\([^ ]*\).*/\1/' <<<"$db")" >/dev/null; }
trap cleanup EXIT

types="int4 int8 bool float8 text bytea uuid timestamp numeric(15,2)"
for t in $types; do psql_q "$db" "CREATE TABLE t_${t%%(*} (k int, v $t)"; done
psql_q "$db" "CREATE TABLE t_random (cents int8, amount numeric(15,2), us int8, ts timestamp);
              CREATE TABLE t_big (k int, v text)"

# What the server stored, as COPY's text format (tabs, \N, escapes), with
# fixed output settings.
stored() { # table
    PGOPTIONS="-c datestyle=ISO,MDY -c extra_float_digits=1 -c bytea_output=hex" \
        psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT k, v FROM $1 ORDER BY k) TO STDOUT"
}
expect() { # table, then the expected text on stdin
    local want got
    want=$(cat)
    got=$(stored "$1")
    [ "$got" == "$want" ] || fail "$1 stored differently:
$(diff <(echo "$want") <(echo "$got") || true)"
}

"$check" "$db" edge || fail "pgcopy_check edge"

expect t_int4 <<'EOF'
0	0
1	1
2	-1
3	2147483647
4	-2147483648
99	\N
EOF
expect t_int8 <<'EOF'
0	0
1	-1
2	9223372036854775807
3	-9223372036854775808
4	1234567890123
99	\N
EOF
expect t_bool <<'EOF'
0	t
1	f
99	\N
EOF
expect t_float8 <<'EOF'
0	0
1	-0
2	1.5
3	0.1
4	-2.5
5	NaN
6	Infinity
7	-Infinity
8	5e-324
9	1.7976931348623157e+308
99	\N
EOF
expect t_text <<'EOF'
0	SP
1	
2	ção
3	a\tb\n\\
99	\N
EOF
expect t_bytea <<'EOF'
0	\\x00ff0a5c
1	\\x
99	\N
EOF
expect t_uuid <<'EOF'
0	00112233-4455-6677-8899-aabbccddeeff
1	00000000-0000-0000-0000-000000000000
99	\N
EOF
expect t_timestamp <<'EOF'
0	1970-01-01 00:00:00
1	1969-12-31 23:59:59.999999
2	2000-01-01 00:00:00
3	1999-12-31 23:59:59.999999
4	1900-01-01 00:00:00
5	0001-01-01 00:00:00
6	2025-06-20 14:03:11.123456
7	9999-12-31 23:59:59.999999
8	200000-01-01 00:00:00
99	\N
EOF
expect t_numeric <<'EOF'
0	0.00
1	0.01
2	-0.01
3	0.10
4	0.50
5	0.99
6	1.00
7	-1.00
8	100.00
9	9999.99
10	10000.00
11	10000.01
12	1234567.89
13	99999999.99
14	100000000.00
15	100000000.01
16	999999999999.99
17	1000000000000.00
18	9999999999999.99
19	-9999999999999.99
99	\N
EOF

# Streaming: each value also sent as a plain integer, compared in SQL.
"$check" "$db" random 20000 || fail "pgcopy_check random"
assert_eq "$(psql_q "$db" "SELECT count(*), count(*) FILTER (WHERE amount <> cents::numeric / 100),
    count(*) FILTER (WHERE (extract(epoch FROM ts) * 1000000)::int8 <> us),
    count(DISTINCT length(abs(cents)::text)) FROM t_random")" "20000|0|0|15" \
    "rows, wrong amounts, wrong times, digit counts of the random rows"

# A field of 3 MiB + 2 bytes goes to libpq in 1 MiB chunks.
"$check" "$db" big || fail "pgcopy_check big"
assert_eq "$(psql_q "$db" "SELECT length(v), v = repeat('0123456789', 314573) FROM t_big")" \
    "3145730|t" "length and content of the big field"

# A COPY the server refuses: one line naming the table, the connection stays usable.
rc=0; out=$("$check" "$db" bad 2>"$BS_TEST_TMP/pgcopy.err") || rc=$?
err=$(cat "$BS_TEST_TMP/pgcopy.err")
assert_eq "$rc" 1 "exit status of a refused COPY"
assert_contains "$err" "COPY t_int4 failed: incorrect binary data format" "refused COPY message"
assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "refused COPY error is one line"
assert_eq "$out" "connection answers after the failure" "connection after a refused COPY"

# An aborted COPY stores nothing.
assert_eq "$("$check" "$db" abort)" "connection answers after the failure" "connection after an abort"
assert_eq "$(psql_q "$db" "SELECT count(*) FROM t_int4 WHERE k >= 1000")" 0 "rows of the aborted COPY"
echo "ok"
