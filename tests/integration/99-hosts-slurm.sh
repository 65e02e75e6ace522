#!/usr/bin/env bash
# 99-hosts-slurm.sh - the Slurm batch scripts on a three-node Slurm whose
# nodes are the namespace hosts h1..h3 (tests/hosts/hosts.sh; one slurmd per
# host, started by tests/slurm/cluster.sh with BS_SLURM_NODES; SKIP where
# namespaces cannot be made), with the database and the broker on bridge
# addresses (tests/hosts/services.sh). Sections:
#   stream     slurm/stream.sbatch on 3 nodes through mpirun, stopped by
#              Slurm before its time limit (--signal=B:USR1), then
#              resubmitted on 2 nodes and 4 ranks through srun --mpi=pmix
#              until idle: COMPLETED both times, the second restored from
#              the first's snapshot, batch_log says 3 then 4 ranks, and the
#              tables equal one uninterrupted run on this host
#   replay     slurm/replay.sbatch over the stream's archives on 3 nodes
#              (mpirun) and on 2 nodes (srun --mpi=pmix), results on the
#              shared directory: both equal a replay on this host
#   launch     a launcher that never starts the ranks (mpirun's daemons
#              launched by an agent that hangs, as ssh to a host that does
#              not answer): the job says so after 5 s and fails after
#              BANKSTREAM_LAUNCH_TIMEOUT, naming the nodes
# Quick by default (make check, about 40 s): the first job runs until idle
# instead of being drained by Slurm and the replay runs on 2 nodes only;
# BS_TEST_HOSTS_FULL=1 (make test-hosts, about 70 s) runs everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
source tests/hosts/hosts.sh
source tests/hosts/services.sh
ROOT=$PWD

K=1000
NA=16000
NB=8000
USERS=3000
full=${BS_TEST_HOSTS_FULL:-0}

work=$(mktemp -d "$BS_TEST_TMP/hosts99.XXXXXX")
chmod 755 "$work"
cluster="$work/cluster"
cleanup() {
    set +e
    [ -n "${SLURM_CONF:-}" ] && tests/slurm/cluster.sh stop "$cluster"
    services_down
    hosts_down
    return 0
}
trap cleanup EXIT
trap "exit 1" INT TERM

step=setup
T0=$SECONDS
last_out=""
say() { echo "[$step] $* ($((SECONDS - t0)) s)"; }
fail() {
    echo "FAILED [$step]: $*" >&2
    if [ -n "$last_out" ] && [ -f "$last_out" ]; then
        echo "--- job output $last_out" >&2
        grep -v '^ *$' "$last_out" | tail -15 >&2
    fi
    echo "--- slurmctld and slurmd logs (tail)" >&2
    tail -q -n 5 "$cluster/slurmctld.log" "$cluster"/slurmd-*.log >&2 2>/dev/null
    exit 1
}
q() { psql_q "$1" "$2"; }

t0=$SECONDS
rc=0
hosts_up 3 "$work/hosts" || rc=$?
[ "$rc" -eq 2 ] && exit 0 # hosts_up printed why (SKIP)
[ "$rc" -eq 0 ] || fail "could not make the three hosts"
nodes=""
for h in $HOSTS_NAMES; do nodes+="$h:$(hosts_ns "$h"):$(hosts_ip "$h") "; done
env_line=$(BS_SLURM_NODES="$nodes" BS_SLURM_CTLD_ADDR="$HOSTS_GW" tests/slurm/cluster.sh start "$cluster") ||
    fail "could not start the three-node Slurm (tests/slurm/cluster.sh start; its logs are above)"
eval "$env_line"
assert_eq "$(sinfo -h -N -o '%N %t' | sort | tr '\n' ' ')" "h1 idle h2 idle h3 idle " "the nodes"
services_up "$work/svc" || fail "could not start the database and the broker"
say "Slurm on h1..h3 ($HOSTS_CIDR), database $SVC_CONN, broker ($SVC_KIND) $SVC_BROKERS"

# Wait until a job has left the queue; sets job_state and job_exit.
job_wait() { # jobid timeout_seconds
    local i line
    for ((i = 0; i < $2 * 4; i++)); do
        line=$(scontrol show job -o "$1" 2>&1 || true)
        [[ "$line" == *"Invalid job id"* ]] && fail "job $1 is no longer known to slurmctld"
        job_state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
        job_exit=$(sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p' <<<"$line")
        case "$job_state" in
        PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | "") sleep 0.25 ;;
        *) return 0 ;;
        esac
    done
    fail "job $1 still ${job_state:-unknown} after $2 s"
}
submit() { sbatch --parsable -D "$work" "$@" | cut -d';' -f1; }
# Submit and wait for the end; sets job_id, job_state and job_exit. (Not
# sbatch --wait, which polls after 2 s, then 10, then 42: seconds lost per job.)
run_job() { # sbatch-args...
    job_id=$(submit "$@") || fail "sbatch $*"
    job_wait "$job_id" 180
}

# ----------------------------------------------------------------- stream
step=stream
t0=$SECONDS
topic=$(new_topic slurmhosts)
ref=$(services_db slurm_ref --users "$USERS") || fail "init of the reference database"
db=$(services_db slurm_hosts --users "$USERS") || fail "init of the database of the jobs"
produce() { # count seed start-time
    "$BANKSTREAM" produce --pg "$ref" --brokers "$SVC_BROKERS" --topic "$topic" --count "$1" --rate 0 \
        --seed "$2" --start-time "$3" --historic 0 --quiet || fail "produce"
}
produce "$NA" 41 1750000000000
# The nodes share this machine's cores: waiting ranks yield them (hosts.sh).
export OMPI_MCA_mpi_yield_when_idle=1
export BANKSTREAM_BIN="$BANKSTREAM" BANKSTREAM_BROKERS="$SVC_BROKERS" BANKSTREAM_TOPIC="$topic" \
    BANKSTREAM_BATCH_SIZE="$K" BANKSTREAM_BATCH_MS=0 BANKSTREAM_SNAPSHOT_DIR="$work/snap" \
    BANKSTREAM_MPIRUN_ARGS="--bind-to none"
# The reference: this host, the two parts one after the other.
mpirun_bs 2 run --pg "$ref" --brokers "$SVC_BROKERS" --topic "$topic" --batch-size "$K" --batch-ms 0 \
    --snapshot-dir none --until-idle >"$work/ref-a.out" 2>&1 || { tail "$work/ref-a.out"; fail "reference, part 1"; }

# 1. Three nodes, mpirun. Full: Slurm signals the job 45 s before its
# one-minute limit (at its first check, every 30 s: 0 to 30 s after the
# start). Quick: until idle.
if [ "$full" = 1 ]; then
    jid=$(BANKSTREAM_PG="$db" BANKSTREAM_LAUNCHER=mpirun submit -N 3 -n 3 --time=1 --signal=B:USR1@45 \
        "$ROOT/slurm/stream.sbatch")
    last_out="$work/bankstream-stream-$jid.out"
    job_wait "$jid" 120
    assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit when Slurm signals before the time limit"
    grep -q "SIGUSR1 received" "$last_out" || fail "the job did not get Slurm's SIGUSR1"
    grep -q "stopped cleanly on SIGUSR1" "$last_out" || fail "no clean stop reported"
    after=$(sed -n 's/.*SIGUSR1 received after \([0-9]*\) s.*/\1/p' "$last_out" | head -1)
    how="Slurm's signal after $after s, stopped cleanly"
else
    BANKSTREAM_PG="$db" BANKSTREAM_LAUNCHER=mpirun BANKSTREAM_UNTIL_IDLE=1 \
        run_job -N 3 -n 3 -o "$work/stream-1.out" "$ROOT/slurm/stream.sbatch"
    jid=$job_id last_out="$work/stream-1.out"
    assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit of the 3-node job"
    how="until idle (Slurm's drain: BS_TEST_HOSTS_FULL=1)"
fi
grep -q "job $jid on h\[1-3\]: 3 rank(s) via mpirun" "$last_out" || fail "the job did not run on h[1-3] via mpirun"
grep -q "^bankstream run (h1, rank 0): consuming" "$last_out" || fail "rank 0's lines do not say where it runs"
done1=$(q "$db" "SELECT max(batch_id) FROM batch_log")
assert_eq "$done1" "$(q "$ref" "SELECT max(batch_id) FROM batch_log")" "batches of the first job"
assert_eq "$(q "$db" "SELECT DISTINCT ranks FROM batch_log")" 3 "batch_log.ranks of the 3-node job"
[ -f "$(printf '%s/snap-%012d.h5' "$BANKSTREAM_SNAPSHOT_DIR" "$done1")" ] || fail "no snapshot of batch $done1"
say "3 nodes via mpirun: $done1 batches, $how"

# 2. More messages; two nodes, four ranks, srun --mpi=pmix, until idle.
t0=$SECONDS
produce "$NB" 42 1750000600000
mpirun_bs 2 run --pg "$ref" --brokers "$SVC_BROKERS" --topic "$topic" --batch-size "$K" --batch-ms 0 \
    --snapshot-dir none --until-idle >"$work/ref-b.out" 2>&1 || { tail "$work/ref-b.out"; fail "reference, part 2"; }
launcher2=srun
srun --mpi=list 2>&1 | grep -qw pmix || launcher2=mpirun
BANKSTREAM_PG="$db" BANKSTREAM_LAUNCHER=$launcher2 BANKSTREAM_UNTIL_IDLE=1 \
    run_job -N 2 -n 4 -o "$work/stream-2.out" "$ROOT/slurm/stream.sbatch"
last_out="$work/stream-2.out"
assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit of the resubmitted job"
grep -q "on h\[1-2\]: 4 rank(s) via $launcher2" "$last_out" || fail "the job did not run on h[1-2] via $launcher2"
grep -q "restored state as of batch $done1 .*snapshot + ledger" "$last_out" ||
    fail "the resubmitted job did not continue from the snapshot of batch $done1"
assert_eq "$(q "$db" "SELECT DISTINCT ranks FROM batch_log WHERE batch_id > $done1")" 4 \
    "batch_log.ranks of the 2-node job"
dump_decisions "$ref" "$work/dump-ref"
dump_decisions "$db" "$work/dump-jobs"
diff_dumps "two jobs on the hosts" "$work/dump-ref" "$work/dump-jobs" || fail "tables differ from the reference"
say "resubmitted on 2 nodes, 4 ranks via $launcher2: continued from batch $done1, tables equal the reference"

# ----------------------------------------------------------------- replay
step=replay
t0=$SECONDS
archives=("$BANKSTREAM_SNAPSHOT_DIR"/archive-*.h5)
unset BANKSTREAM_SNAPSHOT_DIR BANKSTREAM_TOPIC BANKSTREAM_BROKERS BANKSTREAM_BATCH_MS BANKSTREAM_BATCH_SIZE
mpirun_bs 2 replay "${archives[@]}" --pg "$db" --out "$work/replay-here.h5" >"$work/replay-here.out" 2>&1 ||
    { tail "$work/replay-here.out"; fail "the replay on this host"; }
runs=("2 $launcher2")
[ "$full" = 1 ] && runs=("3 mpirun" "2 $launcher2")
where=""
for run in "${runs[@]}"; do
    read -r n l <<<"$run"
    where+=" $n nodes ($l) and"
    BANKSTREAM_PG="$db" BANKSTREAM_LAUNCHER=$l BANKSTREAM_OUT="$work/replay-$l-%j.h5" \
        run_job -N "$n" -n 3 -o "$work/replay-$l.out" "$ROOT/slurm/replay.sbatch" "${archives[@]}"
    last_out="$work/replay-$l.out"
    assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit of the replay job on $n nodes via $l"
    res=("$work"/replay-"$l"-*.h5)
    [ -f "${res[0]}" ] || fail "the replay job via $l wrote no results file"
    for g in /transactions /results; do
        cmp -s <(h5dump -g "$g" "$work/replay-here.h5" | tail -n +2) <(h5dump -g "$g" "${res[0]}" | tail -n +2) ||
            fail "$g of the replay job on $n nodes via $l differs from the replay on this host"
    done
done
say "replay.sbatch of ${#archives[@]} archives on${where% and} equals a replay here"

# ----------------------------------------------------------------- launch
step=launch
t0=$SECONDS
# An ssh that never answers: mpirun waits for the daemons of h2 and h3.
printf '#!/bin/sh\nexec sleep 600\n' >"$work/hang-agent.sh"
chmod +x "$work/hang-agent.sh"
jid=$(BANKSTREAM_PG="$db" BANKSTREAM_LAUNCHER=mpirun BANKSTREAM_LAUNCH_TIMEOUT=12 \
    BANKSTREAM_MPIRUN_ARGS="--mca plm rsh --mca plm_rsh_agent $work/hang-agent.sh" \
    submit -N 3 -n 3 -o "$work/hang-%j.out" "$ROOT/slurm/stream.sbatch")
last_out="$work/hang-$jid.out"
job_wait "$jid" 90
assert_eq "$job_state" FAILED "state of a job whose ranks never start"
# (mpirun starts no rank before every daemon has called back: h1's neither)
grep -q "bankstream-slurm: starting 3 rank(s) via mpirun: 0 of 3 started; none yet on h1, h2, h3 after 5 s" "$last_out" ||
    fail "no progress line naming the nodes after 5 s"
grep -q "bankstream-slurm: error: the launcher did not start 3 ranks within 12 s (BANKSTREAM_LAUNCH_TIMEOUT" "$last_out" ||
    fail "no error after BANKSTREAM_LAUNCH_TIMEOUT"
grep -q "none yet on h1, h2, h3; check that those nodes" "$last_out" || fail "the error does not name the nodes"
say "a launch that hangs: reported after 5 s, failed after 12 s naming the nodes"

step=all
t0=$T0
say "ok"
