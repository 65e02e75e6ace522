#!/usr/bin/env bash
# tests/fuzz/run.sh [seconds] [json|avro]... - fuzz the message decoders with
# libFuzzer, N seconds each (default 30), every target unless some are named:
#   json  json_decode_txn (tests/fuzz/fuzz_decode.c)
#   avro  the Avro schema parser, resolution rules, plans and decoder
#         (tests/fuzz/fuzz_avro.c)
# FUZZ_RUNS=N stops each target after N executions instead (seconds ignored).
#
# Builds build/fuzz/fuzz_<target> with clang -fsanitize=fuzzer,address,undefined
# from its tests/fuzz/*.c and the src files the decoder needs, seeds a corpus
# (build/fuzz/corpus*, kept between runs; the Avro one starts from the small
# corpus checked in under tests/fuzz/corpus/avro), and runs one fuzzing
# process per target. Exit status 0 = no finding; a crash leaves
# build/fuzz/crash-* and prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-30}
case $secs in '' | *[!0-9]* | 0*)
    echo "tests/fuzz/run.sh: seconds must be a positive integer, got '$secs'" >&2; exit 2 ;;
esac
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json avro)
for t in "${targets[@]}"; do
    case $t in json | avro) ;; *)
        echo "tests/fuzz/run.sh: unknown target '$t' (expected json or avro)" >&2; exit 2 ;;
    esac
done
limit=(-max_total_time="$secs")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
    echo "tests/fuzz/run.sh: clang not found: install it with 'apt-get install clang'" >&2
    exit 2
fi

out=build/fuzz
mkdir -p "$out"
base_srcs="src/base/timeparse.c src/base/ids.c src/base/money.c src/base/regions.c src/base/txn.c"

fuzz_json() {
mkdir -p "$out/corpus"
srcs="src/base/json_decode.c $base_srcs"
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

echo "fuzzing json_decode_txn (${limit[*]}; $out/fuzz_decode, corpus $out/corpus)"
if ! "$out/fuzz_decode" "${limit[@]}" -max_len=8192 -timeout=10 \
    -dict="$out/decode.dict" -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus"; then
    echo "FINDING: replay with: $out/fuzz_decode $out/crash-*  (or leak-*/timeout-*)" >&2
    exit 1
fi
}

fuzz_avro() {
mkdir -p "$out/corpus-avro"
cp -n tests/fuzz/corpus/avro/* "$out/corpus-avro/" 2>/dev/null || true
local srcs="src/base/avro_schema.c src/base/avro_compat.c src/base/avro_decode.c"
srcs="$srcs src/base/avro_encode.c $base_srcs"
# shellcheck disable=SC2086,SC2046  # word splitting of flag lists is intended
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -Iinclude $(pkg-config --cflags libcjson uuid) \
    tests/fuzz/fuzz_avro.c $srcs $(pkg-config --libs libcjson uuid) -lm -o "$out/fuzz_avro"
cat >"$out/avro.dict" <<'DICT'
"\"type\""
"\"record\""
"\"enum\""
"\"array\""
"\"map\""
"\"fixed\""
"\"union\""
"\"name\""
"\"namespace\""
"\"fields\""
"\"items\""
"\"values\""
"\"symbols\""
"\"size\""
"\"default\""
"\"aliases\""
"\"logicalType\""
"\"timestamp-micros\""
"\"null\""
"\"boolean\""
"\"int\""
"\"long\""
"\"float\""
"\"double\""
"\"bytes\""
"\"string\""
"\"BankTransaction\""
"\"valor_transacao\""
"\"data_horario\""
"\"id_regiao\""
"\"modalidade_pagamento\""
"\x48123e4567-e89b-12d3-a456-426614174000"
"\x04SP"
"\x06PIX"
"\x0cBoleto"
"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"
"\xff\xff\xff\xff\x0f"
DICT
echo "fuzzing the Avro decoder (${limit[*]}; $out/fuzz_avro, corpus $out/corpus-avro)"
if ! "$out/fuzz_avro" "${limit[@]}" -max_len=4096 -timeout=60 -rss_limit_mb=1024 \
    -dict="$out/avro.dict" -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus-avro"; then
    echo "FINDING: replay with: $out/fuzz_avro $out/crash-*  (or leak-*/timeout-*)" >&2
    exit 1
fi
}

for t in "${targets[@]}"; do "fuzz_$t"; done
