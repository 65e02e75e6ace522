#!/usr/bin/env bash
# 90-slurm.sh - the Slurm batch scripts on a real one-node Slurm (munged,
# slurmctld and slurmd started here by tests/slurm/cluster.sh, torn down at
# exit). The stream job is submitted three times on one topic and one
# database: stopped mid-stream by `scancel --batch --signal=USR1` (what Slurm's
# --signal sends), then by Slurm itself before its one-minute time limit
# (--signal=B:USR1@20, other rank count, srun --mpi=pmix when offered), then
# run to the end with BANKSTREAM_UNTIL_IDLE=1 under `sbatch --wait`. Each
# job must end COMPLETED with exit code 0, each stop must leave a snapshot,
# each resubmission must go on from there, batch_log must show the ranks of
# one MPI job per submission, and the final tables must equal those of an
# uninterrupted `mpirun -np 2 bankstream run` of the same topic. Misuse that
# would start single-rank copies (srun without PMIx, the script run by srun)
# must fail with a clear message before touching anything. The replay scripts
# are tested the same way once `bankstream replay` exists (until then: SKIP).
# A Slurm that cannot be started is a failure, with the daemons' logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
ROOT=$PWD

K=1000     # batch size
N=40000    # messages in the topic
USERS=3000

work=$(mktemp -d "$BS_TEST_TMP/slurm.XXXXXX")
chmod 755 "$work"
cluster="$work/cluster"
cleanup() {
    set +e
    tests/slurm/cluster.sh stop "$cluster"
    drop_databases
}
trap cleanup EXIT
trap "exit 1" INT TERM

step="setup"
last_out=""
say() { echo "[$step] $*"; }
die() { # message: what failed, the job's output, the daemons' logs
    echo "FAILED [$step]: $*" >&2
    if [ -n "$last_out" ] && [ -f "$last_out" ]; then
        echo "--- job output $last_out (messages)" >&2
        grep -E 'bankstream|rror|ERROR|Sanitizer|SUMMARY' "$last_out" | tail -25 >&2
    fi
    echo "--- slurmctld and slurmd logs (tail)" >&2
    tail -q -n 8 "$cluster/slurmctld.log" "$cluster/slurmd.log" >&2 2>/dev/null
    exit 1
}
# The assert_* helpers of tests/lib.sh end in fail: show the job's side too.
fail() { die "$*"; }
q() { psql_q "$1" "$2"; }

# ------------------------------------------------------------ the cluster
t0=$SECONDS
env_line=$(tests/slurm/cluster.sh start "$cluster") ||
    fail "could not start the one-node Slurm (tests/slurm/cluster.sh start; its logs are above)"
eval "$env_line"
[ -f "$SLURM_CONF" ] || fail "cluster.sh printed no SLURM_CONF ($env_line)"
say "slurm up in $((SECONDS - t0)) s: $(sinfo -h -N -o '%N %t %c CPUs')"
# Start again: idempotent, same configuration.
assert_eq "$(tests/slurm/cluster.sh start "$cluster")" "$env_line" "cluster.sh start when already up"
launcher2=mpirun
srun --mpi=list 2>&1 | grep -qw pmix && launcher2=srun

# Wait until a job has left the queue; sets job_state and job_exit
# (ExitCode=code:signal, as scontrol shows them).
job_wait() { # jobid timeout_seconds
    local i line
    for ((i = 0; i < $2 * 4; i++)); do
        line=$(scontrol show job -o "$1" 2>&1 || true)
        [[ "$line" == *"Invalid job id"* ]] &&
            die "job $1 is no longer known to slurmctld (finished more than MinJobAge ago?)"
        job_state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
        job_exit=$(sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p' <<<"$line")
        case "$job_state" in
        PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | "") sleep 0.25 ;;
        *) return 0 ;;
        esac
    done
    die "job $1 still ${job_state:-unknown} after $2 s"
}
# Wait until the database has at least n committed batches (the job runs).
wait_batches() { # db n jobid
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(q "$1" "SELECT count(*) FROM batch_log")" -ge "$2" ] && return 0
        case "$(scontrol show job -o "$3" 2>/dev/null)" in
        *JobState=COMPLETED* | *JobState=FAILED* | *JobState=CANCELLED* | *JobState=TIMEOUT*)
            die "job $3 ended before $2 batches were committed" ;;
        esac
        sleep 0.1
    done
    die "fewer than $2 batches committed after 60 s"
}
out_of() { echo "$work/bankstream-stream-$1.out"; } # the stream job's default output

# ------------------------------------------------- topic and reference run
step="reference"
t0=$SECONDS
topic=$(new_topic slurm)
ref=$(new_database slurm_ref --users "$USERS")
db=$(new_database slurm_stream --users "$USERS")
"$BANKSTREAM" produce --pg "$ref" --brokers "$BS_TEST_BROKERS" --topic "$topic" --count "$N" \
    --rate 0 --seed 11 --start-time 1750000000000 --historic 0 --quiet
mpirun_bs 2 run --pg "$ref" --brokers "$BS_TEST_BROKERS" --topic "$topic" --batch-size "$K" \
    --batch-ms 0 --snapshot-dir none --until-idle >"$work/ref.out" 2>&1 ||
    { grep -v "^ *$" "$work/ref.out" | head -20; fail "the reference run failed"; }
dump_decisions "$ref" "$work/ref"
nbatches=$(wc -l <"$work/ref/batch_log")
[ "$(q "$ref" "SELECT count(*) FROM transacoes")" -eq "$N" ] || fail "reference: not $N transactions"
say "$N messages in $nbatches batches ($((SECONDS - t0)) s)"

# The stream job's settings, as a user passes them: in the environment.
export BANKSTREAM_BIN="$BANKSTREAM" BANKSTREAM_PG="$db" BANKSTREAM_BROKERS="$BS_TEST_BROKERS" \
    BANKSTREAM_TOPIC="$topic" BANKSTREAM_BATCH_SIZE="$K" BANKSTREAM_BATCH_MS=0 \
    BANKSTREAM_SNAPSHOT_DIR="$work/snapshots"
submit() { # sbatch options... script: prints the job id
    sbatch --parsable -D "$work" "$@" | cut -d';' -f1
}

# -------------------------------------- misuse: single-rank copies refused
step="misuse"
t0=$SECONDS
# srun without PMIx (the last --mpi wins) would start separate singletons;
# the batch script started by srun as 2 tasks would start 2 bankstreams.
jid1=$(submit -n 2 --export=ALL,BANKSTREAM_LAUNCHER=srun,BANKSTREAM_SRUN_ARGS=--mpi=none \
    "$ROOT/slurm/stream.sbatch")
jid2=$(submit -n 2 -o "$work/misuse-%j.out" --wrap "srun -n 2 $ROOT/slurm/stream.sbatch")
last_out=$(out_of "$jid1")
job_wait "$jid1" 60
assert_eq "$job_state/$job_exit" "FAILED/1:0" "job state/exit of srun without PMIx"
grep -q "error: .*does not make one MPI job of 2 ranks.*separate single-rank copies" "$last_out" ||
    die "no clear message about single-rank copies"
last_out="$work/misuse-$jid2.out"
job_wait "$jid2" 60
[ "$job_state" = FAILED ] || die "the script run as 2 tasks: job state $job_state"
grep -q "error: this script is running as task 1 of 2" "$last_out" ||
    die "no clear message about the script running as several tasks"
assert_eq "$(q "$db" "SELECT count(*) FROM batch_log")" 0 "batches committed by refused jobs"
say "both refused with a clear message ($((SECONDS - t0)) s)"

# ------------------------- 1: stopped mid-stream by scancel --signal=USR1
step="stream-1/scancel"
t0=$SECONDS
# The signal is sent once batches are committed, so bankstream's handler is
# in place: no need for the launcher's grace period.
jid=$(submit -n 2 --export=ALL,BANKSTREAM_SIGNAL_GRACE=0 "$ROOT/slurm/stream.sbatch")
last_out=$(out_of "$jid")
wait_batches "$db" 5 "$jid"
scancel --batch --signal=USR1 "$jid"
job_wait "$jid" 60
assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit after scancel --signal=USR1"
grep -q "stopped cleanly on SIGUSR1" "$last_out" || die "no clean stop reported"
done1=$(q "$db" "SELECT count(*) FROM batch_log")
if [ "$done1" -eq 0 ] || [ "$done1" -ge "$nbatches" ]; then
    die "the stop was not mid-stream: $done1 of $nbatches batches committed"
fi
assert_eq "$(q "$db" "SELECT count(DISTINCT ranks) || '/' || min(ranks) FROM batch_log")" "1/2" \
    "batch_log.ranks of the -n 2 job (one MPI job of 2 ranks)"
snap1=$(printf '%s/snap-%012d.h5' "$BANKSTREAM_SNAPSHOT_DIR" "$done1")
[ -f "$snap1" ] || die "no snapshot of batch $done1 at the clean stop: $(ls "$BANKSTREAM_SNAPSHOT_DIR" 2>&1)"
assert_eq "$(h5dump -a /batch_id "$snap1" | sed -n 's/^ *(0): //p')" "$done1" "batch_id in $snap1 (h5dump)"
say "stopped after $done1 of $nbatches batches, snapshot written ($((SECONDS - t0)) s)"

# ------------------------ 2: stopped by Slurm before the time limit
step="stream-2/time-limit"
t0=$SECONDS
# Slurm sends B:USR1 at its first periodic check (every 30 s) at most 20 s
# before the end: 10 to 40 s after the start of a one-minute job.
jid=$(submit -n 3 --time=1 --signal=B:USR1@20 --export=ALL,BANKSTREAM_LAUNCHER=$launcher2 \
    "$ROOT/slurm/stream.sbatch")
last_out=$(out_of "$jid")
job_wait "$jid" 90
assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "job state/exit when Slurm signals before the time limit"
grep -q "SIGUSR1 received" "$last_out" || die "the job did not get Slurm's SIGUSR1"
grep -q "stopped cleanly on SIGUSR1" "$last_out" || die "no clean stop reported"
grep -q "restored state as of batch $done1 .*snapshot + ledger" "$last_out" ||
    die "the resubmitted job did not continue from the snapshot of batch $done1"
done2=$(q "$db" "SELECT count(*) FROM batch_log")
[ "$done2" -gt "$done1" ] || die "the second job committed nothing"
[ -f "$(printf '%s/snap-%012d.h5' "$BANKSTREAM_SNAPSHOT_DIR" "$done2")" ] ||
    die "no snapshot of batch $done2 at the clean stop: $(ls "$BANKSTREAM_SNAPSHOT_DIR" 2>&1)"
assert_eq "$(q "$db" "SELECT count(DISTINCT ranks) || '/' || min(ranks) FROM batch_log WHERE batch_id > $done1")" \
    "1/3" "batch_log.ranks of the -n 3 job ($launcher2)"
after=$(sed -n 's/.*SIGUSR1 received after \([0-9]*\) s.*/\1/p' "$last_out" | head -1)
say "Slurm signalled the job ${after} s after its start; $done2 batches committed, via $launcher2 ($((SECONDS - t0)) s)"

# ------------------------------- 3: resubmitted until idle, sbatch --wait
step="stream-3/until-idle"
t0=$SECONDS
rc=0
BANKSTREAM_UNTIL_IDLE=1 sbatch --wait -D "$work" -n 2 -o "$work/stream-final.out" \
    "$ROOT/slurm/stream.sbatch" >/dev/null || rc=$?
last_out="$work/stream-final.out"
assert_eq "$rc" 0 "exit status of sbatch --wait (the job's)"
grep -q "restored state as of batch $done2 " "$last_out" || die "the job did not continue from batch $done2"
dump_decisions "$db" "$work/final"
diff_dumps "stream stopped twice and resubmitted" "$work/ref" "$work/final" ||
    die "stream stopped twice and resubmitted: tables differ from the reference"
say "final tables equal the uninterrupted run's ($nbatches batches; $((SECONDS - t0)) s)"

# ------------------------------------------------------------ the replays
# The stream archived each snapshot interval next to its snapshots:
# archive-<first batch>-<last batch>.h5. Replaying them (with their own batch
# boundaries) must give back the stream's decisions.
step="replay"
if ! "$BANKSTREAM" replay --help >/dev/null 2>&1; then
    echo "SKIP: bankstream replay not available (slurm/replay.sbatch and slurm/replay-array.sbatch untested)"
    say "ok"
    exit 0
fi
t0=$SECONDS
snaps=$BANKSTREAM_SNAPSHOT_DIR
unset BANKSTREAM_SNAPSHOT_DIR BANKSTREAM_TOPIC BANKSTREAM_BROKERS BANKSTREAM_BATCH_MS BANKSTREAM_BATCH_SIZE
arch1=$(printf '%s/archive-%012d-%012d.h5' "$snaps" 1 "$done1")
arch2=$(printf '%s/archive-%012d-%012d.h5' "$snaps" $((done1 + 1)) "$done2")
if [ ! -f "$arch1" ] || [ ! -f "$arch2" ]; then
    die "the stream's archives are missing: $(ls "$snaps")"
fi
# Rows of replay run $1 that differ from the stream's decisions, and its row count.
replay_diff() { # replay_id
    q "$db" "SELECT count(*) FROM replay_resultados r JOIN transacoes t USING (id_transacao)
        LEFT JOIN transacoes_scores s USING (id_transacao)
        WHERE r.replay_id = $1 AND (r.status IS DISTINCT FROM t.status
           OR r.motivo IS DISTINCT FROM t.motivo OR r.batch_id <> t.batch_id
           OR r.t5_score IS DISTINCT FROM s.t5_score OR r.t7_score IS DISTINCT FROM s.t7_score)"
}
replay_rows() { q "$db" "SELECT count(*) FROM replay_resultados WHERE replay_id = $1"; }

# 1. Both archives in one replay job from the users table, under sbatch --wait.
rc=0
BANKSTREAM_PG="$db" sbatch --wait -D "$work" -n 3 -o "$work/replay-all.out" \
    "$ROOT/slurm/replay.sbatch" "$arch1" "$arch2" >/dev/null || rc=$?
last_out="$work/replay-all.out"
assert_eq "$rc" 0 "exit status of the replay job"
id=$(sed -n 's/.*replay_id = \([0-9]*\).*/\1/p' "$last_out")
[ -n "$id" ] || die "the replay job printed no replay_id"
assert_eq "$(replay_rows "$id")" "$N" "rows replayed by the replay job"
assert_eq "$(replay_diff "$id")" 0 "replayed decisions that differ from the stream's"

# 2. The second interval alone from the snapshot the first job left (BANKSTREAM_FROM_SNAPSHOT).
jid=$(BANKSTREAM_PG="$db" BANKSTREAM_FROM_SNAPSHOT="$snap1" submit -n 2 "$ROOT/slurm/replay.sbatch" "$arch2")
last_out="$work/bankstream-replay-$jid.out"
job_wait "$jid" 120
assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "replay job from a snapshot"
id=$(sed -n 's/.*replay_id = \([0-9]*\).*/\1/p' "$last_out")
assert_eq "$(replay_rows "$id")" "$(q "$db" "SELECT count(*) FROM transacoes WHERE batch_id > $done1")" \
    "rows replayed from the snapshot of batch $done1"
assert_eq "$(replay_diff "$id")" 0 "decisions replayed from the snapshot that differ from the stream's"
say "replay jobs reproduce the stream, from the users and from a snapshot ($((SECONDS - t0)) s)"

# 3. An array, one produced archive per task, results in HDF5 named by %a;
# each must equal a replay of the same archive by hand.
t0=$SECONDS
for i in 0 1; do
    "$BANKSTREAM" produce --pg "$ref" --hdf5 "$work/hist$i.h5" --count 3000 --seed $((21 + i)) \
        --start-time 1740000000000 --historic 0 --quiet
done
jid=$(BANKSTREAM_PG="$ref" BANKSTREAM_OUT="$work/array-%f-%a.h5" BANKSTREAM_BATCH_SIZE=500 \
    submit --array=0-1 -n 2 "$ROOT/slurm/replay-array.sbatch" "$work/hist0.h5" "$work/hist1.h5")
for i in 0 1; do
    last_out="$work/bankstream-replay-${jid}_$i.out"
    job_wait "${jid}_$i" 120
    [ -f "$last_out" ] || die "no output file bankstream-replay-${jid}_$i.out (%A_%a)"
    assert_eq "$job_state/$job_exit" "COMPLETED/0:0" "array task $i"
done
for i in 0 1; do
    mpirun_bs 2 replay "$work/hist$i.h5" --out "$work/byhand-$i.h5" --batch-size 500 --pg "$ref" \
        >"$work/byhand-$i.out" 2>&1 || {
        grep -v '^replay: ' "$work/byhand-$i.out" | head -20
        die "replay of hist$i.h5 by hand failed"
    }
    res="$work/array-hist$i-$i.h5"
    [ -f "$res" ] || die "array task $i wrote no $res"
    for g in /transactions /results; do
        cmp -s <(h5dump -g "$g" "$work/byhand-$i.h5" | tail -n +2) <(h5dump -g "$g" "$res" | tail -n +2) ||
            die "array task $i: $g of $res differs from the replay by hand (h5dump)"
    done
done
say "array tasks equal replays by hand ($((SECONDS - t0)) s)"
say "ok"
