# tests/hosts/hosts.sh - several test hosts on this machine, as network
# namespaces (sourced by bash; needs root).
# shellcheck shell=bash
#
#   hosts_up N [DIR]   N hosts h1..hN, each a network namespace with its own
#                      veth into a bridge of the root namespace, on a private
#                      /24 that no interface of the machine uses yet. The
#                      names (namespaces, bridge, veths) and the subnet are
#                      unique to this run. Returns 0; 2 (after printing why)
#                      when namespaces cannot be made here: the caller skips.
#   hosts_down         tear everything down (idempotent; for an EXIT trap).
#   hosts_exec H CMD.. run CMD on host H: in its network namespace, with its
#                      own hostname (H) and its private mounts (hosts_private).
#   hosts_private H D  from now on, host H sees an empty directory D of its own
#                      (a tmpfs mounted over D in a mount namespace of its
#                      launches): a host that does not share D.
#   hosts_isolate H    cut host H off the bridge (its veth down), as a host
#                      whose network failed; hosts_reconnect H undoes it.
#   hosts_block H A    host H's packets to address A vanish (a neighbour entry
#                      to a MAC nobody has: no error, no answer, as behind a
#                      firewall that drops); hosts_unblock H A undoes it.
#   hosts_bytes [H]    bytes sent + received by host H's interface (default:
#                      all hosts, summed), from the kernel's counters.
#
# After hosts_up:
#   HOSTS_DIR        a directory of this run's files (the map, hosts files)
#   HOSTS_NET        the subnet's first three octets ("10.213.7")
#   HOSTS_CIDR       "10.213.7.0/24"
#   HOSTS_GW         the bridge's address in the root namespace (.1), where
#                    mpirun (in the root namespace) is reached
#   HOSTS_DB_ADDR    more addresses of the bridge, .2 and .3, for the database
#   HOSTS_KAFKA_ADDR and the broker: hosts_block can then cut one host off one
#                    service while MPI and the other service still reach it
#   HOSTS_NAMES      "h1 h2 h3"
#   HOSTS_AGENT      the launcher for mpirun (--mca plm_rsh_agent), which runs
#                    `AGENT HOST CMD...` on HOST like ssh would (see rsh-agent.sh)
#   HOSTS_MPIRUN     an array: mpirun with the agent and TCP between hosts
#                    (btl tcp,vader,self restricted to HOSTS_CIDR; oob too),
#                    ranks yielding their core while they wait
#   hosts_ip H       prints host H's address; hosts_ns H its namespace
#
# Each host hN is HOSTS_NET.(10+N); HOSTS_DIR/map has one line per host,
# "NAME NAMESPACE ADDRESS VETH [PRIVATE_DIR...]", read by the agent. The files
# /etc/netns/NAMESPACE/hosts give each host a hosts file naming every host and
# the gateway ("gw"); ip netns exec mounts them over /etc/hosts.

HOSTS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOSTS_ID=""
HOSTS_DIR=""
HOSTS_NAMES=""
HOSTS_OWN_DIR=0

_hosts_say() { echo "hosts: $*" >&2; }

hosts_ns() { echo "${HOSTS_ID}${1}"; }
hosts_ip() { echo "$HOSTS_NET.$((10 + ${1#h}))"; }
hosts_veth() { echo "${HOSTS_ID}v${1#h}"; }

# A /24 under 10.0.0.0/8 that neither an address nor a route of the machine
# touches. Prints its first three octets.
_hosts_free_net() {
    local used net
    used=$(ip -4 -o addr show 2>/dev/null; ip -4 route show table all 2>/dev/null)
    for _ in $(seq 50); do
        net="10.$((100 + RANDOM % 150)).$((RANDOM % 256))"
        grep -qF " $net." <<<" $used" || { echo "$net"; return 0; }
    done
    return 1
}

hosts_up() { # N [DIR]
    local n=$1 i h ns veth
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: several hosts need network namespaces, which need root"
        return 2
    fi
    for i in ip nsenter unshare; do
        command -v "$i" >/dev/null || { echo "SKIP: '$i' not found (iproute2, util-linux)"; return 2; }
    done
    # Names of at most 15 characters: "bs" + 5 digits + suffix.
    HOSTS_ID="bs$(printf '%05d' $(($$ % 100000)))"
    while ip netns list 2>/dev/null | grep -q "^${HOSTS_ID}"; do
        HOSTS_ID="bs$(printf '%05d' $((RANDOM % 100000)))"
    done
    if ! ip netns add "${HOSTS_ID}probe" 2>/dev/null; then
        echo "SKIP: cannot create a network namespace here (ip netns add failed: no CAP_SYS_ADMIN, or a container that forbids it)"
        HOSTS_ID=""
        return 2
    fi
    ip netns del "${HOSTS_ID}probe"
    if [ -n "${2:-}" ]; then
        HOSTS_DIR=$2
        mkdir -p "$HOSTS_DIR"
    else
        HOSTS_DIR=$(mktemp -d "${BS_TEST_TMP:-/tmp}/hosts.XXXXXX")
        HOSTS_OWN_DIR=1
    fi
    chmod 755 "$HOSTS_DIR"
    HOSTS_NET=$(_hosts_free_net) || { _hosts_say "no free 10.x.y.0/24 subnet"; return 1; }
    HOSTS_CIDR="$HOSTS_NET.0/24"
    HOSTS_GW="$HOSTS_NET.1"
    HOSTS_DB_ADDR="$HOSTS_NET.2"
    HOSTS_KAFKA_ADDR="$HOSTS_NET.3"
    HOSTS_BRIDGE="${HOSTS_ID}br"
    ip link add "$HOSTS_BRIDGE" type bridge || { _hosts_say "cannot create bridge $HOSTS_BRIDGE"; return 1; }
    # No STP delay: ports forward at once.
    ip link set "$HOSTS_BRIDGE" type bridge forward_delay 0 stp_state 0 2>/dev/null
    if ! { ip addr add "$HOSTS_GW/24" dev "$HOSTS_BRIDGE" && ip addr add "$HOSTS_DB_ADDR/24" dev "$HOSTS_BRIDGE" &&
        ip addr add "$HOSTS_KAFKA_ADDR/24" dev "$HOSTS_BRIDGE" && ip link set "$HOSTS_BRIDGE" up; }; then
        _hosts_say "cannot configure bridge $HOSTS_BRIDGE"
        return 1
    fi
    : >"$HOSTS_DIR/map"
    HOSTS_NAMES=""
    for ((i = 1; i <= n; i++)); do
        h="h$i"
        ns=$(hosts_ns "$h")
        veth=$(hosts_veth "$h")
        HOSTS_NAMES+="${HOSTS_NAMES:+ }$h"
        ip netns add "$ns" || { _hosts_say "cannot create namespace $ns"; return 1; }
        if ! { ip link add "$veth" type veth peer name eth0 netns "$ns" &&
            ip link set "$veth" master "$HOSTS_BRIDGE" up &&
            ip -n "$ns" addr add "$(hosts_ip "$h")/24" dev eth0 &&
            ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up; }; then
            _hosts_say "cannot wire host $h ($ns)"
            return 1
        fi
        echo "$h $ns $(hosts_ip "$h") $veth" >>"$HOSTS_DIR/map"
    done
    # A hosts file per namespace (ip netns exec mounts it over /etc/hosts).
    local hostsfile="$HOSTS_DIR/etc-hosts"
    {
        echo "127.0.0.1 localhost"
        echo "$HOSTS_GW gw"
        echo "$HOSTS_DB_ADDR db"
        echo "$HOSTS_KAFKA_ADDR kafka"
        for h in $HOSTS_NAMES; do echo "$(hosts_ip "$h") $h"; done
    } >"$hostsfile"
    for h in $HOSTS_NAMES; do
        mkdir -p "/etc/netns/$(hosts_ns "$h")"
        cp "$hostsfile" "/etc/netns/$(hosts_ns "$h")/hosts"
    done
    HOSTS_AGENT="$HOSTS_HERE/rsh-agent.sh"
    export BS_HOSTS_MAP="$HOSTS_DIR/map"
    # mpirun over the hosts: daemons through the agent (one per host, all
    # launched by mpirun itself), TCP between hosts on the test subnet only,
    # shared memory inside a host. The hosts share this machine's cores, so
    # a rank waiting for a message must yield its core (mpirun believes each
    # host has cores of its own and lets ranks spin; then every round trip
    # between hosts waits for a time slice: tests/bench/hosts.sh).
    # shellcheck disable=SC2034,SC2054 # used by the tests; "tcp,vader,self" is one word
    HOSTS_MPIRUN=(mpirun --mca plm_rsh_agent "$HOSTS_AGENT" --mca plm_rsh_no_tree_spawn 1
        --mca btl tcp,vader,self --mca btl_tcp_if_include "$HOSTS_CIDR"
        --mca oob_tcp_if_include "$HOSTS_CIDR" --mca mpi_yield_when_idle 1
        --oversubscribe --bind-to none)
    # The links must carry traffic before anyone uses them.
    for ((i = 0; i < 50; i++)); do
        ip -n "$(hosts_ns h1)" -br link show eth0 2>/dev/null | grep -q "UP" && break
        sleep 0.1
    done
    return 0
}

hosts_down() {
    [ -n "$HOSTS_ID" ] || return 0
    local ns pid
    # Processes still inside a namespace (daemons of a failed test) go first.
    for ns in $(ip netns list 2>/dev/null | awk -v id="$HOSTS_ID" 'index($1, id) == 1 { print $1 }'); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    ip link del "${HOSTS_ID}br" 2>/dev/null
    local l
    for l in $(ip -o link show 2>/dev/null | awk -F': ' -v id="$HOSTS_ID" 'index($2, id) == 1 { sub(/@.*/, "", $2); print $2 }'); do
        ip link del "$l" 2>/dev/null
    done
    [ "$HOSTS_OWN_DIR" -eq 1 ] && rm -rf "$HOSTS_DIR"
    HOSTS_ID=""
    return 0
}

hosts_exec() { # host cmd... (each word quoted for the remote shell, as ssh needs)
    local h=$1
    shift
    BS_HOSTS_MAP="$HOSTS_DIR/map" "$HOSTS_HERE/rsh-agent.sh" --no-check "$h" "$(printf '%q ' "$@")"
}

hosts_private() { # host dir
    awk -v h="$1" -v d="$2" '$1 == h { $0 = $0 " " d } { print }' "$HOSTS_DIR/map" >"$HOSTS_DIR/map.tmp" &&
        mv "$HOSTS_DIR/map.tmp" "$HOSTS_DIR/map"
}

hosts_shared() { # host: undo hosts_private
    awk -v h="$1" '$1 == h { $0 = $1 " " $2 " " $3 " " $4 } { print }' "$HOSTS_DIR/map" >"$HOSTS_DIR/map.tmp" &&
        mv "$HOSTS_DIR/map.tmp" "$HOSTS_DIR/map"
}

hosts_isolate() { ip link set "$(hosts_veth "$1")" down; }
hosts_block() { ip -n "$(hosts_ns "$1")" neigh replace "$2" lladdr 02:00:00:00:00:99 dev eth0 nud permanent; }
hosts_unblock() { ip -n "$(hosts_ns "$1")" neigh del "$2" dev eth0; }
hosts_reconnect() { ip link set "$(hosts_veth "$1")" up; }

hosts_bytes() { # [host]: rx + tx bytes of the host's veth (root side), summed over hosts
    local h total=0 v
    for h in ${1:-$HOSTS_NAMES}; do
        v=$(hosts_veth "$h")
        total=$((total + $(cat "/sys/class/net/$v/statistics/rx_bytes") + $(cat "/sys/class/net/$v/statistics/tx_bytes")))
    done
    echo "$total"
}
