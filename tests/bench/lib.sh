# tests/bench/lib.sh - what the benchmarks share. Sourced from the repository
# root by tests/bench/*.sh.
#   bench_services     a scratch directory (BS_TEST_TMP) and the test services
#                      of tests/lib.sh (PostgreSQL, the broker), both removed
#                      or stopped when the script exits
#   bench_build OUT SRC  build a benchmark driver with mpicc against
#                      bankstream's objects (build/*.o but main.o) and the
#                      libraries the Makefile links

bench_services() {
    export BS_TEST_TMP
    BS_TEST_TMP=$(mktemp -d /tmp/bankstream-bench.XXXXXX)
    chmod 755 "$BS_TEST_TMP"
    source tests/lib.sh
    trap 'bs_test_services_stop; rm -rf "$BS_TEST_TMP"' EXIT
    bs_test_services_start
}

bench_build() { # out src
    local pkgs cflags libs objs=() o
    pkgs=$(sed -n 's/^PKGS *:= *//p' Makefile)
    # shellcheck disable=SC2086  # $pkgs is a list of package names
    read -ra cflags <<<"$(pkg-config --cflags $pkgs)"
    # shellcheck disable=SC2086
    read -ra libs <<<"$(pkg-config --libs $pkgs)"
    for o in build/*.o; do [ "$(basename "$o")" = main.o ] || objs+=("$o"); done
    mpicc -std=c11 -O2 -g -D_GNU_SOURCE -Iinclude "${cflags[@]}" -o "$1" "$2" "${objs[@]}" \
        "${libs[@]}" -lm -lpthread
}
