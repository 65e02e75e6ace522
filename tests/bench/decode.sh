#!/usr/bin/env bash
# decode.sh - decode rate per core, JSON vs Avro (issue 17's decoder decision).
#
# build/bench/decode_bench: json_decode_txn and bankstream's own Avro decoder
# (avro_txn_decode through the plan of the original's writer schema against
# bankstream's reader schema) on the same 1,000,000 transactions; then Debian's
# Apache Avro C 1.11 on the same Avro records, when `pkg-config avro-c` finds
# it (tests/bench/libavro/decode_libavro.c, built here: the project does not
# link libavro). CPU seconds of the process, so a busy machine slows the wall
# clock but not the figures much; `uptime` is printed for context.
#   tests/bench/decode.sh [count]
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
count=${1:-1000000}
mkdir -p build/bench
bench_build build/bench/decode_bench.run tests/bench/decode_bench.c
echo "uptime: $(uptime)"
build/bench/decode_bench.run "$count"
build/bench/decode_bench.run "$count" iso | head -1
if pkg-config --exists avro-c 2>/dev/null; then
    # shellcheck disable=SC2046  # word splitting of flag lists is intended
    gcc -O2 -g -D_GNU_SOURCE -Iinclude tests/bench/libavro/decode_libavro.c build/libbankstream.a \
        $(pkg-config --cflags --libs avro-c libcjson uuid) -lm -o build/bench/decode_libavro
    build/bench/decode_libavro "$count"
else
    echo "libavro: not installed (apt-get install libavro-dev), comparison skipped"
fi
