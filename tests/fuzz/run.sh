#!/usr/bin/env bash
# tests/fuzz/run.sh [seconds] - fuzz json_decode_txn with libFuzzer for N seconds (default 30).
#
# Builds build/fuzz/fuzz_decode with clang -fsanitize=fuzzer,address,undefined
# from tests/fuzz/fuzz_decode.c and the src files the decoder needs, seeds a
# corpus (build/fuzz/corpus, kept between runs) with valid and invalid
# messages, and runs one fuzzing process. Exit status 0 = no finding; a crash
# leaves build/fuzz/crash-* and prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-30}
case $secs in '' | *[!0-9]* | 0*)
    echo "tests/fuzz/run.sh: seconds must be a positive integer, got '$secs'" >&2; exit 2 ;;
esac
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
    echo "tests/fuzz/run.sh: clang not found: install it with 'apt-get install clang'" >&2
    exit 2
fi

out=build/fuzz
mkdir -p "$out/corpus"
srcs="src/base/json_decode.c src/base/timeparse.c src/base/ids.c src/base/money.c src/base/regions.c src/base/txn.c"
srcs="$srcs src/base/json_encode.c"
# shellcheck disable=SC2086,SC2046  # word splitting of flag lists is intended
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -Iinclude $(pkg-config --cflags libcjson uuid) \
    tests/fuzz/fuzz_decode.c $srcs $(pkg-config --libs libcjson uuid) -lm -o "$out/fuzz_decode"

u1=123e4567-e89b-12d3-a456-426614174000
u2=6ba7b810-9dad-11d1-80b4-00c04fd430c8
seed() { printf '%s' "$2" >"$out/corpus/seed-$1"; }
base="\"id_transacao\":\"$u1\",\"id_usuario_pagador\":\"$u2\",\"id_usuario_recebedor\":\"$u1\",\"id_regiao\":\"SP\",\"modalidade_pagamento\":\"PIX\""
seed ms "{$base,\"data_horario\":1750428191123,\"valor_transacao\":123.40}"
seed iso "{$base,\"data_horario\":\"2025-06-20T14:03:11.123456\",\"valor_transacao\":99.9}"
seed offset "{$base,\"data_horario\":\"2025-06-20 14:03:11-03:00\",\"valor_transacao\":1e3}"
seed extra " {$base,\"x\":[1,{\"y\":null}],\"data_horario\":0,\"valor_transacao\":0.01}"
seed escaped "{$base,\"n\":\"\\u00e3\\ud83d\\ude00\\/\",\"data_horario\":\"2100-01-01T00:00:00Z\",\"valor_transacao\":1000000000}"
seed bad-num "{\"a\":-01.5e+3}"
seed dup "{\"a\":1,\"a\":2}"

cat >"$out/decode.dict" <<'DICT'
"id_transacao"
"id_usuario_pagador"
"id_usuario_recebedor"
"id_regiao"
"modalidade_pagamento"
"data_horario"
"valor_transacao"
"PIX"
"TED"
"DOC"
"Boleto"
"\"SP\""
"123e4567-e89b-12d3-a456-426614174000"
"2025-06-20T14:03:11.123456"
"+03:00"
"\\u0000"
"\\ud800"
"1e400"
"-0"
"true"
"null"
DICT

echo "fuzzing json_decode_txn for ${secs}s ($out/fuzz_decode, corpus $out/corpus)"
if ! "$out/fuzz_decode" -max_total_time="$secs" -max_len=8192 -timeout=10 \
    -dict="$out/decode.dict" -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus"; then
    echo "FINDING: replay with: $out/fuzz_decode $out/crash-*  (or leak-*/timeout-*)" >&2
    exit 1
fi
