#!/usr/bin/env bash
# tests/hosts/rsh-agent.sh - "ssh" into a test host (tests/hosts/hosts.sh), for
# mpirun's --mca plm_rsh_agent and for the tests themselves.
#
#   rsh-agent.sh [--no-check] HOST WORD...
#
# Runs the words joined by spaces with `sh -c` on HOST, as ssh does: inside
# HOST's network namespace (nsenter), in a UTS namespace whose hostname is
# HOST, with the private directories of hosts_private mounted over by an
# empty tmpfs, and with a clean environment as after an ssh login (PATH,
# HOME, USER, LANG; mpirun forwards what the ranks need with -x). Reads the
# hosts from $BS_HOSTS_MAP ("NAME NAMESPACE ADDRESS VETH [PRIVATE_DIR...]").
#
# Like `ssh -o ConnectTimeout=T`, it never hangs on a host that cannot be
# reached: when the command line holds mpirun's contact address (orted's
# orte_hnp_uri, "...;tcp://A:P..."), it first opens a TCP connection to A:P
# from inside HOST, bounded by BS_HOSTS_CONNECT_TIMEOUT seconds (default 5);
# a host that cannot make it fails with one line naming the host, the
# address and the reason, exit 255 (ssh's status for a connection failure).
# Unknown hosts fail the same way at once.
set -uo pipefail

check=1
if [ "${1:-}" = --no-check ]; then
    check=0
    shift
fi
host=${1:-}
shift || true
die() { # message
    echo "rsh-agent: $host: $*" >&2
    exit 255
}
[ -n "$host" ] || { echo "usage: rsh-agent.sh [--no-check] HOST COMMAND..." >&2; exit 255; }
map=${BS_HOSTS_MAP:-}
[ -r "$map" ] || die "no host map (BS_HOSTS_MAP='$map'): start the hosts with tests/hosts/hosts.sh"
line=$(awk -v h="$host" '$1 == h || $3 == h { print; exit }' "$map")
[ -n "$line" ] || die "unknown host (not in $map); ssh would say: Could not resolve hostname"
read -r name ns addr _veth private <<<"$line"
[ -e "/run/netns/$ns" ] || die "host is gone (no network namespace $ns)"

cmd="$*"
if [ "$check" -eq 1 ]; then
    # mpirun's address, as orted will use it: tcp://A,B:P or tcp://A:P.
    hnp=$(grep -o 'tcp://[0-9.,]*:[0-9]*' <<<"$cmd" | head -1)
    if [ -n "$hnp" ]; then
        port=${hnp##*:}
        ips=${hnp#tcp://}
        ips=${ips%:*}
        t=${BS_HOSTS_CONNECT_TIMEOUT:-5}
        ok=0 why=""
        for ip in ${ips//,/ }; do
            why=$(timeout "$t" nsenter --net="/run/netns/$ns" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>&1) && {
                ok=1
                break
            }
            [ -n "$why" ] || why="no answer within $t s"
        done
        [ "$ok" -eq 1 ] || die "cannot reach mpirun at ${ips}:$port from $addr: ${why##*: } (is the host's network up?)"
    fi
fi

# Mounts over the private directories, then the command, with ssh's environment.
mounts=""
for d in $private; do
    mounts+="mkdir -p '$d' && mount -t tmpfs -o size=16m bs-private '$d' && "
done
exec nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private \
    env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="${HOME:-/root}" \
    USER="${USER:-root}" LANG="${LANG:-C.UTF-8}" BS_HOSTS_MAP="$map" \
    sh -c "hostname '$name' && mount --bind '/etc/netns/$ns/hosts' /etc/hosts 2>/dev/null; ${mounts}exec sh -c \"\$0\"" "$cmd"
