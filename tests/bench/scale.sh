#!/usr/bin/env bash
# tests/bench/scale.sh - 10,000,000 users spread over the shards: load time
# and resident memory per rank (issue: MPI processor, "Scale").
# Environment: SCALE_USERS (10000000), SCALE_RANKS (3), SCALE_COUNT (200000).
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS=${SCALE_USERS:-10000000}
RANKS=${SCALE_RANKS:-3}
COUNT=${SCALE_COUNT:-200000}
source tests/bench/lib.sh
bench_services

PG=$(new_database scale)
TOPIC=$(new_topic scale)
echo "== init --users $USERS"
/usr/bin/time -f "   %e s, %M KiB max resident" "$BANKSTREAM" init --pg "$PG" --users "$USERS"
"$BANKSTREAM" produce --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --count "$COUNT" \
    --rate 0 --historic 0 --quiet
echo "== run -np $RANKS: $COUNT transactions over $USERS users"
mpirun_bs "$RANKS" run --pg "$PG" --brokers "$BS_TEST_BROKERS" --topic "$TOPIC" --until-idle 2>&1 |
    grep -E "restored|^batches|^rank|^users"
