# tests/bench/lib.sh - what the benchmarks share. Sourced from the repository
# root by tests/bench/*.sh.
#   bench_services     a scratch directory (BS_TEST_TMP) and the test services
#                      of tests/lib.sh (PostgreSQL, the broker), both removed
#                      or stopped when the script exits
#   bench_build OUT SRC  the benchmark or MPI driver SRC as make builds it
#                      (linked with bankstream's release objects), copied to OUT
#   bench_topic TOPIC  creates TOPIC on the test broker (a metadata request,
#                      which the brokers answer by creating it)
#   bench_wait_line FILE REGEX SECONDS  waits until a line of FILE matches
#   bench_wait_consuming ERR TOPIC  creates TOPIC and waits until the run
#                      whose stderr is ERR says it consumes it

bench_services() {
    export BS_TEST_TMP
    BS_TEST_TMP=$(mktemp -d /tmp/bankstream-bench.XXXXXX)
    chmod 755 "$BS_TEST_TMP"
    source tests/lib.sh
    trap 'bs_test_services_stop; rm -rf "$BS_TEST_TMP"' EXIT
    bs_test_services_start
}

bench_build() { # out src: the driver make builds from src (tests/bench/X.c ->
    # build/bench/X, tests/mpi/X.c -> build/mpi/X), against the release objects
    local kind name
    kind=$(basename "$(dirname "$2")")
    name=$(basename "$2" .c)
    make -s "build/$kind/$name" && cp "build/$kind/$name" "$1"
}

bench_topic() { # topic
    kcat -L -b "$BS_TEST_BROKERS" -t "$1" -m 10 -q >/dev/null 2>&1 || true
}

bench_wait_line() { # file regex seconds -> 0 once a line of file matches, else 1
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

bench_wait_consuming() { # err topic: a latency measure starts its producer only
    # once the run reads the topic. A fixed sleep is not enough: the run's
    # restore takes longer as history grows (seconds after a few million
    # rows), and its wait for a missing topic polls; the first messages
    # would wait for both, and at 20,000 tx/s half a second of them is
    # already the p99.
    bench_topic "$2"
    bench_wait_line "$1" "consuming $2 " 120 && return 0
    echo "the run did not start consuming $2 within 120 s:" >&2
    tail -5 "$1" >&2
    return 1
}
