#!/usr/bin/env bash
# tests/slurm/cluster.sh - a private Slurm on this machine, for tests: one
# node, or one node per test host (tests/hosts/hosts.sh).
#
#   tests/slurm/cluster.sh start [DIR]    start munged, slurmctld and slurmd
#   tests/slurm/cluster.sh stop [DIR]     kill them and remove their files
#   tests/slurm/cluster.sh status [DIR]   print the node's state; exit 0 if it
#                                         is up (idle, mixed or allocated)
#   tests/slurm/cluster.sh logs [DIR]     print the daemons' logs
#
# DIR defaults to $BS_SLURM_DIR, else /tmp/bankstream-slurm. Everything lives
# there: the slurm.conf made from slurm.conf.in, a munge key and munged socket
# of its own, state, spool, pid and log files. Ports are free ones, never
# Slurm's defaults, so a real Slurm or munge on the machine is not disturbed.
# Needs root (slurmd runs jobs as their submitter).
#
# Several nodes: with BS_SLURM_NODES="NAME:NETNS:ADDR ..." (one entry per
# node) and BS_SLURM_CTLD_ADDR (an address of this machine the nodes reach),
# `start` runs one slurmd per node inside its network namespace (nsenter: ip
# netns exec would remount /sys, where slurmd then finds no cgroup file
# system), with its own hostname (NAME) and its own tmpfs on the cluster's
# TmpFS (nodes sharing one directory collide on PMIx's files), as
# `slurmd -N NAME`; slurmctld (here) knows each by NodeAddr=ADDR.
#
# `start` is idempotent: with the cluster already up it only prints the
# environment again. On success it prints one line on stdout,
#   export SLURM_CONF=DIR/slurm.conf
# which a caller evals before using sbatch, srun, squeue, scontrol or sinfo.
# It returns once `sinfo` shows the node idle; on failure it prints the
# daemons' logs on stderr, stops whatever it started and exits 1.
# `stop` cancels the cluster's jobs, then kills the daemons whose pid files
# are in DIR and any job step (slurmstepd and its processes) left over from
# this cluster; it touches no other process.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CMD=${1:-}
DIR=${2:-${BS_SLURM_DIR:-/tmp/bankstream-slurm}}
[[ "$DIR" == /* ]] || DIR="$PWD/$DIR"
CPUS=${BS_SLURM_CPUS:-8}
NODES=${BS_SLURM_NODES:-}      # "NAME:NETNS:ADDR ..." for several nodes
CTLD_ADDR=${BS_SLURM_CTLD_ADDR:-}
START_TIMEOUT=${BS_SLURM_START_TIMEOUT:-60} # seconds until the node must be idle

say() { echo "cluster.sh: $*" >&2; }
die() { say "$*"; exit 1; }

export SLURM_CONF="$DIR/slurm.conf"

# A TCP port no socket uses, not one of $*: below Linux's ephemeral range
# (32768 and up), where a client's outgoing connection may hold a port that
# no one listens on, and a daemon binding it then fails (slurmctld did).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12768))
        case " $* " in *" $p "*) continue ;; esac
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# The pid in a pid file if that process is alive, else nothing.
live_pid() { # pidfile
    local p
    [ -s "$1" ] || return 1
    p=$(tr -dc 0-9 <"$1")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

node_state() { # -> sinfo's state of our nodes (idle, down*, ...): the first one
    # not idle, else idle; nothing when sinfo does not answer
    timeout 10 sinfo -h -N -o %t 2>/dev/null | sort -u | awk '{ s[NR] = $1 } END {
        for (i = 1; i <= NR; i++) if (s[i] !~ /^idle/) { print s[i]; exit } if (NR) print s[1] }'
}

print_logs() {
    local f
    for f in "$DIR/munge/munged.log" "$DIR/slurmctld.log" "$DIR"/slurmd*.log \
        "$DIR/slurmctld.out" "$DIR"/slurmd*.out; do
        [ -s "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -40 "$f" >&2
    done
}

# Kill one daemon by its pid file: TERM, then KILL after 5 s.
stop_daemon() { # name pidfile...: SIGTERM to each (together), SIGKILL to any left after 5 s
    local name=$1 f p i
    shift
    local pids=()
    for f in "$@"; do
        p=$(live_pid "$f") && kill "$p" 2>/dev/null && pids+=("$p")
    done
    local alive=${#pids[@]}
    for ((i = 0; i < 50 && alive > 0; i++)); do
        sleep 0.1
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    done
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            say "$name (pid $p) ignored SIGTERM; killing it"
            kill -9 "$p" 2>/dev/null
        fi
    done
    rm -f "$@"
}

# A process and all its descendants, deepest first.
tree() { # pid
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done
    echo "$1"
}

# Job steps still there after the daemons stopped: the slurmstepd processes
# of this cluster (their environment holds our SLURM_CONF; their command
# line names no path), with every process they started.
stop_stepds() {
    local p t
    for p in $(pgrep -x slurmstepd 2>/dev/null); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" || continue
        for t in $(tree "$p"); do kill -9 "$t" 2>/dev/null; done
    done
}

cluster_stop() {
    [ -d "$DIR" ] || return 0
    if [ -f "$SLURM_CONF" ] && [ -n "$(live_pid "$DIR/slurmctld.pid")" ]; then
        # Cancel what still runs and give it KillWait to end, so that no
        # task outlives the cluster.
        local i
        timeout 10 scancel --quiet --partition=debug 2>/dev/null
        for ((i = 0; i < 60; i++)); do
            [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING,PENDING -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    local slurmds=("$DIR"/slurmd*.pid)
    [ -e "${slurmds[0]}" ] && stop_daemon slurmd "${slurmds[@]}"
    stop_daemon slurmctld "$DIR/slurmctld.pid"
    stop_stepds
    stop_daemon munged "$DIR/munge/munged.pid"
    # Remove only what start made, then DIR itself if nothing else is left.
    rm -rf "$DIR/munge" "$DIR/ctld" "$DIR/spool" "$DIR/nodetmp"
    rm -f "$SLURM_CONF" "$DIR/plugstack.conf" "$DIR"/slurm*.log "$DIR"/slurm*.out "$DIR"/slurm*.pid
    rmdir "$DIR" 2>/dev/null
    return 0
}

fail_start() {
    say "$*"
    print_logs
    cluster_stop
    exit 1
}

cluster_start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users)"
    local b
    for b in munged mungekey slurmctld slurmd sinfo scontrol; do
        command -v "$b" >/dev/null || die "'$b' not found; install the Debian packages slurm-wlm and munge (scripts/install-deps.sh)"
    done
    # Already up: nothing to do.
    local any_slurmd=("$DIR"/slurmd*.pid)
    if [ -n "$(live_pid "$DIR/slurmctld.pid")" ] && [ -n "$(live_pid "${any_slurmd[0]}")" ] &&
        [ -n "$(live_pid "$DIR/munge/munged.pid")" ] && [[ "$(node_state)" == idle* || "$(node_state)" == alloc* || "$(node_state)" == mix* ]]; then
        echo "export SLURM_CONF=$SLURM_CONF"
        return 0
    fi
    # Half up or stale: start over.
    cluster_stop
    mkdir -p "$DIR/munge" "$DIR/ctld" "$DIR/spool" || die "cannot create $DIR"
    chmod 700 "$DIR/munge"
    chmod 755 "$DIR"

    # munge: a key and a daemon of our own, on our own socket.
    mungekey --create --keyfile="$DIR/munge/munge.key" 2>"$DIR/munge/mungekey.err" ||
        fail_start "mungekey failed: $(cat "$DIR/munge/mungekey.err")"
    chmod 400 "$DIR/munge/munge.key"
    local sock="$DIR/munge/munge.socket"
    munged --force --socket="$sock" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed" 2>"$DIR/munge/munged.err" ||
        fail_start "munged did not start: $(cat "$DIR/munge/munged.err")"
    local i
    for ((i = 0; i < 50; i++)); do
        [ -S "$sock" ] && break
        sleep 0.1
    done
    munge --socket="$sock" -n 2>/dev/null | unmunge --socket="$sock" >/dev/null 2>&1 ||
        fail_start "munged does not answer on $sock"

    # slurm.conf from the template, then the nodes.
    local ctld_port slurmd_port host names="" entry name ns addr
    ctld_port=$(free_port)
    slurmd_port=$(free_port "$ctld_port")
    host=$(hostname -s)
    mkdir -p "$DIR/nodetmp" || fail_start "cannot create $DIR/nodetmp"
    if [ -z "$NODES" ]; then
        sed -e "s|@DIR@|$DIR|g" -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
            -e "s|@MUNGE_SOCKET@|$sock|g" -e "s|@CTLD_HOST@|localhost|g" \
            -e "s|@SLURMD_PID@|$DIR/slurmd.pid|g" -e "s|@SLURMD_LOG@|$DIR/slurmd.log|g" \
            -e "s|@SLURMD_SPOOL@|$DIR/spool|g" -e "s|@TMPFS@|$DIR/nodetmp|g" \
            -e "s|@CPUS@|$CPUS|g" "$HERE/slurm.conf.in" >"$SLURM_CONF" || fail_start "cannot write $SLURM_CONF"
        {
            echo "NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$CPUS RealMemory=1000 State=UNKNOWN"
            echo "PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE OverSubscribe=YES State=UP"
        } >>"$SLURM_CONF"
    else
        [ -n "$CTLD_ADDR" ] || fail_start "BS_SLURM_NODES needs BS_SLURM_CTLD_ADDR (an address the nodes reach)"
        sed -e "s|@DIR@|$DIR|g" -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
            -e "s|@MUNGE_SOCKET@|$sock|g" -e "s|@CTLD_HOST@|$host($CTLD_ADDR)|g" \
            -e "s|@SLURMD_PID@|$DIR/slurmd-%n.pid|g" -e "s|@SLURMD_LOG@|$DIR/slurmd-%n.log|g" \
            -e "s|@SLURMD_SPOOL@|$DIR/spool/%n|g" -e "s|@TMPFS@|$DIR/nodetmp|g" \
            -e "s|@CPUS@|$CPUS|g" "$HERE/slurm.conf.in" >"$SLURM_CONF" || fail_start "cannot write $SLURM_CONF"
        for entry in $NODES; do
            IFS=: read -r name ns addr <<<"$entry"
            if [ -z "$addr" ] || [ ! -e "/run/netns/$ns" ]; then
                fail_start "bad node '$entry' (NAME:NETNS:ADDR, netns must exist)"
            fi
            echo "NodeName=$name NodeAddr=$addr NodeHostname=$name CPUs=$CPUS RealMemory=1000 State=UNKNOWN" >>"$SLURM_CONF"
            names+="${names:+,}$name"
        done
        echo "PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE OverSubscribe=YES State=UP" >>"$SLURM_CONF"
    fi
    : >"$DIR/plugstack.conf"

    # The daemons; -i: ignore state from an earlier cluster.
    slurmctld -i -f "$SLURM_CONF" >"$DIR/slurmctld.out" 2>&1 || fail_start "slurmctld did not start"
    if [ -z "$NODES" ]; then
        slurmd -f "$SLURM_CONF" >"$DIR/slurmd.out" 2>&1 || fail_start "slurmd did not start"
    else
        for entry in $NODES; do
            IFS=: read -r name ns addr <<<"$entry"
            mkdir -p "$DIR/spool/$name"
            # slurmd daemonizes inside the node's namespaces: its jobs inherit
            # the node's network, hostname and private TmpFS.
            nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private \
                sh -c "hostname '$name' && mount -t tmpfs -o size=64m,mode=1777 bs-nodetmp '$DIR/nodetmp' &&
                       exec slurmd -N '$name' -f '$SLURM_CONF'" >"$DIR/slurmd-$name.out" 2>&1 ||
                fail_start "slurmd of node $name did not start"
        done
    fi

    local st="" t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$START_TIMEOUT" ]; do
        st=$(node_state)
        [[ "$st" == idle* ]] && break
        if [ $((SECONDS - t0)) -gt 5 ]; then
            [ -n "$(live_pid "$DIR/slurmctld.pid")" ] || fail_start "slurmctld died"
            local pf
            for pf in "$DIR"/slurmd*.pid; do
                [ -n "$(live_pid "$pf")" ] || fail_start "slurmd died ($pf)"
            done
        fi
        sleep 0.2
    done
    [[ "$st" == idle* ]] || fail_start "the nodes are not idle after $START_TIMEOUT s (sinfo says '${st:-nothing}')"
    echo "export SLURM_CONF=$SLURM_CONF"
}

case "$CMD" in
start) cluster_start ;;
stop) cluster_stop ;;
status)
    st=$(node_state)
    echo "${st:-down}"
    [[ "$st" == idle* || "$st" == alloc* || "$st" == mix* ]]
    ;;
logs) print_logs 2>&1 ;;
*)
    echo "usage: tests/slurm/cluster.sh start|stop|status|logs [DIR]" >&2
    exit 2
    ;;
esac
