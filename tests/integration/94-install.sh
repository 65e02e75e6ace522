#!/usr/bin/env bash
# 94-install.sh - bankstream installed like cluster software, and --version.
#
#  1. `bankstream --version` and `bankstream version`: the Makefile's VERSION,
#     then one line per library (librdkafka, libpq, Open MPI, HDF5, cJSON,
#     libmicrohttpd), without MPI_Init, without a database or a broker.
#  2. `make install PREFIX=/opt/bankstream-test DESTDIR=STAGE` puts exactly the
#     documented tree under STAGE (binary, job files, Slurm scripts, kafka.sh,
#     docs) and nothing outside it; the installed binary runs --version.
#  3. The installed Slurm scripts find the installed binary with no
#     BANKSTREAM_BIN and no bankstream on PATH: slurm/launch.sh's
#     bs_launch_setup, and stream.sbatch end to end with a stand-in mpirun
#     that prints the command it would run. The installed kafka.sh runs.
#  4. `make uninstall` with the same settings removes it all.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# 1. --version
VERSION=$(sed -n 's/^VERSION *:= *//p' "$ROOT/Makefile")
[ -n "$VERSION" ] || fail "no VERSION in the Makefile"
v1=$("$BANKSTREAM" --version)
v2=$("$BANKSTREAM" version)
echo "$v1"
assert_eq "$v1" "$v2" "--version and version"
[[ "$(head -1 <<<"$v1")" == "bankstream $VERSION"* ]] || fail "first line '$(head -1 <<<"$v1")' is not 'bankstream $VERSION...'"
for lib in librdkafka libpq "Open MPI" HDF5 cJSON libmicrohttpd; do
    line=$(grep "^$lib [0-9]" <<<"$v1") || fail "no '$lib <version>' line in --version"
    [[ "$line" =~ ^$lib\ [0-9]+\.[0-9]+ ]] || fail "'$line' has no version number"
done
assert_eq "$(wc -l <<<"$v1")" 7 "lines of --version"
assert_contains "$(grep '^libpq ' <<<"$v1")" "$(pkg-config --modversion libpq | cut -d. -f1)." "libpq major version"
assert_fails "takes no arguments" "$BANKSTREAM" version extra

# 2. make install into a staging directory
stage=$(mktemp -d "$BS_TEST_TMP/install.XXXXXX")
prefix=/opt/bankstream-test
[ ! -e "$prefix" ] || fail "$prefix exists on this machine; the test needs a prefix nobody uses"
make -s -C "$ROOT" install PREFIX="$prefix" DESTDIR="$stage" >"$stage.log" 2>&1 ||
    fail "make install: $(tail -5 "$stage.log")"
[ ! -e "$prefix" ] || fail "make install wrote outside DESTDIR ($prefix)"
got=$(cd "$stage" && find . -type f -printf '%m %p\n' | sort)
expect=$(
    {
        echo "755 .$prefix/bin/bankstream"
        for f in "$ROOT"/jobs/*.ini; do echo "644 .$prefix/share/bankstream/jobs/$(basename "$f")"; done
        echo "644 .$prefix/share/bankstream/slurm/launch.sh"
        for f in "$ROOT"/slurm/*.sbatch; do echo "755 .$prefix/share/bankstream/slurm/$(basename "$f")"; done
        echo "755 .$prefix/share/bankstream/scripts/kafka.sh"
        echo "644 .$prefix/share/doc/bankstream/README.md"
        echo "644 .$prefix/share/doc/bankstream/docker/README.md"
    } | sort
)
assert_eq "$got" "$expect" "installed tree (mode path)"
cmp -s "$ROOT/bankstream" "$stage$prefix/bin/bankstream" || fail "installed binary differs from ./bankstream"
inst=$("$stage$prefix/bin/bankstream" --version)
[[ "$(head -1 <<<"$inst")" == "bankstream $VERSION"* ]] || fail "installed binary --version: $inst"

# 3. the installed Slurm scripts find the installed binary
fakebin="$stage/fakebin"
mkdir -p "$fakebin"
cat >"$fakebin/mpirun" <<'EOF'
#!/bin/sh
# stand-in for mpirun: "-np N CMD...": runs launch.sh's probe as rank 0 of 1,
# prints any other command instead of running it
if [ "$1" = -np ] && [ "$3" = /bin/sh ]; then
    shift 2
    OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=1 exec "$@"
fi
echo "STAND-IN-MPIRUN $*"
EOF
chmod +x "$fakebin/mpirun"
cleanpath="$fakebin:/usr/bin:/bin"
PATH=$cleanpath command -v bankstream >/dev/null && fail "a bankstream is on $cleanpath; cannot test the lookup"
slurm="$stage$prefix/share/bankstream/slurm"
# shellcheck disable=SC2016 # expanded by the inner bash
found=$(env -i PATH="$cleanpath" HOME="$HOME" SLURM_JOB_ID=1 SLURM_NTASKS=1 BANKSTREAM_LAUNCHER=mpirun \
    bash -c 'source "$1/launch.sh"; bs_launch_setup; echo "$BS_BIN"' _ "$slurm" 2>&1) ||
    fail "installed launch.sh: $found"
assert_eq "$(tail -1 <<<"$found")" "$stage$prefix/bin/bankstream" "binary found by the installed launch.sh"
out=$(cd "$stage" && env -i PATH="$cleanpath" HOME="$HOME" SLURM_JOB_ID=1 SLURM_NTASKS=1 \
    SLURM_JOB_NODELIST=localhost BANKSTREAM_LAUNCHER=mpirun BANKSTREAM_BROKERS=kafka1:9092 \
    bash "$slurm/stream.sbatch" 2>&1) || fail "installed stream.sbatch: $out"
assert_contains "$out" "STAND-IN-MPIRUN -np 1 $stage$prefix/bin/bankstream run --brokers kafka1:9092" \
    "installed stream.sbatch launches the installed binary"
rc=0
st=$("$stage$prefix/share/bankstream/scripts/kafka.sh" status --dir "$stage/no-kafka" 2>&1) || rc=$?
assert_eq "$rc/$st" "3/stopped" "installed kafka.sh status"

# 4. make uninstall
make -s -C "$ROOT" uninstall PREFIX="$prefix" DESTDIR="$stage" >"$stage.log" 2>&1 ||
    fail "make uninstall: $(tail -5 "$stage.log")"
left=$(cd "$stage" && find ".$prefix" -type f 2>/dev/null | sort)
assert_eq "$left" "" "files left after make uninstall"
echo "ok"
