# tests/bench/lib.sh - what the benchmarks share. Sourced from the repository
# root by tests/bench/*.sh.
#   bench_services     a scratch directory (BS_TEST_TMP) and the test services
#                      of tests/lib.sh (PostgreSQL, the broker), both removed
#                      or stopped when the script exits
#   bench_build OUT SRC  the benchmark or MPI driver SRC as make builds it
#                      (linked with bankstream's release objects), copied to OUT

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
