#!/usr/bin/env bash
# 92-avro-crosscheck.sh - bankstream's own Avro decoder against fastavro, an
# independent implementation (tests/reference/avro_crosscheck.py): records of
# the original's schema and of the evolved writer schemas of issue 17 (fields
# added with nested types to skip, a field removed, float/int/long amounts,
# ISO-text and timestamp-millis/micros times, unions with null), valid and
# not, written by fastavro and read by both; every record must decode to the
# same transaction or be refused by both. Needs no broker or database.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PY=${BS_AVRO_PYTHON:-$HOME/.cache/bankstream/pyclients/bin/python}
if ! "$PY" -c "import fastavro" 2>/dev/null; then
    echo "SKIP: no Python with fastavro at $PY (make deps installs it)"
    exit 0
fi
check="$BS_BUILD/avro/avro_check"
[ -x "$check" ] || fail "$check is missing: run make"
work="$BS_TEST_TMP/crosscheck.$$"
mkdir -p "$work"
"$PY" "$(dirname "$0")/../reference/avro_crosscheck.py" "$check" --count 2000 --seed 17 \
    --workdir "$work"
