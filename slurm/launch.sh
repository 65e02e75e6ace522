# slurm/launch.sh - launcher logic shared by slurm/*.sbatch (sourced by bash).
# shellcheck shell=bash
#
# A batch script sources this file, calls bs_launch_setup once, then
# bs_launch_run with bankstream's arguments. What it guarantees:
#
#   1. The rank count comes from the allocation (SLURM_NTASKS, i.e. sbatch -n).
#   2. bankstream is started as ONE MPI job of that many ranks: by Open MPI's
#      mpirun, which reads the Slurm allocation, or by `srun --mpi=pmix` when
#      `srun --mpi=list` offers PMIx. Never by plain srun, which would start N
#      unrelated single-rank processes, each believing it is rank 0 of 1 (N
#      coordinators on one topic and one database). Before the real start a
#      probe step checks that the launcher hands out ranks 0..N-1 of one world;
#      a batch script run as several tasks (`srun stream.sbatch`) is refused.
#   3. Stopping: SIGUSR1 (what `#SBATCH --signal=B:USR1@T` and
#      `scancel --batch --signal=USR1` send to the batch shell), SIGTERM and
#      SIGINT are all turned into SIGUSR1 for the launcher, which forwards it
#      to every rank: rank 0 finishes and commits the batch in flight and every
#      rank exits 0, so the job ends COMPLETED and a resubmission continues
#      from the last committed batch. A signal that arrives before the launch
#      ends the job at once without starting bankstream (exit 0 for the
#      stream; 1 for a replay, whose output would be missing).
#
# Environment read here (all optional):
#   BANKSTREAM_BIN          the binary (default: the bankstream next to this
#                           slurm/ directory (a source tree), else PREFIX/bin/
#                           bankstream when this is PREFIX/share/bankstream/slurm
#                           (make install), else bankstream on PATH)
#   BANKSTREAM_LAUNCHER     auto (default), mpirun or srun
#   BANKSTREAM_MPIRUN_ARGS  extra mpirun options, e.g. "--bind-to none"
#   BANKSTREAM_SRUN_ARGS    extra srun options
#   BANKSTREAM_LAUNCH_TIMEOUT  seconds the launcher may take to start every
#                           rank (the probe step), default 60
#   BANKSTREAM_MPI_START_TIMEOUT  seconds bankstream's ranks may take to reach
#                           each other (read by bankstream), default 60
#
# Errors print one line starting with "bankstream-slurm: error:" and exit
# with status 2 (bad settings) or 1 (the environment cannot run the job).

BS_SLURM_TAG="bankstream-slurm"
bs_log() { echo "$BS_SLURM_TAG: $*" >&2; }
bs_die() { # status message
    local rc=$1
    shift
    echo "$BS_SLURM_TAG: error: $*" >&2
    exit "$rc"
}

# State shared by the functions below.
BS_NTASKS=1
BS_BIN=""
BS_LAUNCH=()
BS_LAUNCHER_NAME=""
BS_STOP_OK=1    # 1: a signalled stop that exits 0 is a success (the stream);
                # 0: it is an interrupted job and bs_launch_run returns 1 (replay)
# Name of the stop signal received, if any; the batch scripts set _bs_early
# from their first line on, as Slurm may signal before this file is sourced.
_bs_stop=${_bs_early:-}
_bs_pid=""      # the launcher's pid while it runs
_bs_fwd=""      # set once the stop was forwarded to the launcher
_bs_launched=0  # $SECONDS when the launcher started
_bs_nsig=0      # how many stop signals the handler saw
_bs_t0=$SECONDS

# Trap the stop signals from the very start: Slurm may signal before the
# launch. The handler only records the signal; bs_launch_run forwards it.
_bs_on_signal() { # signal name
    _bs_nsig=$((_bs_nsig + 1))
    if [ -z "$_bs_stop" ]; then
        _bs_stop=$1
        bs_log "SIG$1 received after $((SECONDS - _bs_t0)) s"
    elif [ -n "$_bs_fwd" ] && [ -n "$_bs_pid" ]; then
        kill -USR1 "$_bs_pid" 2>/dev/null # again, for an impatient sender
    fi
    return 0
}
trap '_bs_on_signal USR1' USR1
trap '_bs_on_signal TERM' TERM
trap '_bs_on_signal INT' INT
if [ -n "$_bs_stop" ]; then bs_log "SIG$_bs_stop received as the job started"; fi

# An integer >= 1, or die naming the variable.
bs_need_count() { # name value
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || bs_die 2 "$1='$2' is not a positive integer"
}

# Set BS_NTASKS, BS_BIN and BS_LAUNCH (the launcher command, ranks included),
# after the checks of point 2 above. Dies on any problem.
bs_launch_setup() {
    [ -n "${SLURM_JOB_ID:-}" ] ||
        bs_die 2 "not inside a Slurm job; submit this script with sbatch (see slurm/README.md)"
    # Run as a task of a multi-task step (srun script.sbatch), this script
    # would start one bankstream per task: refuse.
    if [ -n "${SLURM_STEP_ID:-}" ] && [ "${SLURM_STEP_NUM_TASKS:-1}" -gt 1 ] 2>/dev/null; then
        bs_die 2 "this script is running as task ${SLURM_PROCID:-?} of ${SLURM_STEP_NUM_TASKS} (started by srun?); submit it with sbatch, it starts the ranks itself"
    fi
    BS_NTASKS=${SLURM_NTASKS:-${SLURM_NPROCS:-1}}
    bs_need_count SLURM_NTASKS "$BS_NTASKS"

    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [ -n "${BANKSTREAM_BIN:-}" ]; then
        BS_BIN=$BANKSTREAM_BIN
    elif [ -x "$here/../bankstream" ]; then
        BS_BIN=$(cd "$here/.." && pwd)/bankstream
    elif [ -x "$here/../../../bin/bankstream" ]; then
        # installed by `make install`: PREFIX/share/bankstream/slurm -> PREFIX/bin
        BS_BIN=$(cd "$here/../../../bin" && pwd)/bankstream
    else
        BS_BIN=$(command -v bankstream 2>/dev/null || echo bankstream)
    fi
    [ -x "$BS_BIN" ] ||
        bs_die 1 "bankstream binary '$BS_BIN' not found or not executable; set BANKSTREAM_BIN (sbatch --export=ALL,BANKSTREAM_BIN=/path/to/bankstream)"

    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi

    local want=${BANKSTREAM_LAUNCHER:-auto}
    case "$want" in
    auto)
        if command -v mpirun >/dev/null 2>&1; then
            want=mpirun
        elif bs_srun_has_pmix; then
            want=srun
        else
            bs_die 1 "no way to start MPI ranks here: no mpirun on PATH and 'srun --mpi=list' offers no pmix; load your MPI module or install openmpi-bin"
        fi
        ;;
    mpirun)
        command -v mpirun >/dev/null 2>&1 ||
            bs_die 1 "BANKSTREAM_LAUNCHER=mpirun but no mpirun on PATH; load your MPI module or use BANKSTREAM_LAUNCHER=srun"
        ;;
    srun)
        bs_srun_has_pmix ||
            bs_die 1 "BANKSTREAM_LAUNCHER=srun but 'srun --mpi=list' offers no pmix, and srun without PMIx would start $BS_NTASKS separate single-rank processes; use BANKSTREAM_LAUNCHER=mpirun"
        ;;
    *) bs_die 2 "BANKSTREAM_LAUNCHER='$want' is not one of auto, mpirun, srun" ;;
    esac
    BS_LAUNCHER_NAME=$want
    local -a extra=()
    if [ "$want" = mpirun ]; then
        read -r -a extra <<<"${BANKSTREAM_MPIRUN_ARGS:-}"
        # mpirun reads the node list and slots from the Slurm allocation.
        BS_LAUNCH=(mpirun -np "$BS_NTASKS" "${extra[@]}")
    else
        read -r -a extra <<<"${BANKSTREAM_SRUN_ARGS:-}"
        BS_LAUNCH=(srun --mpi=pmix --ntasks="$BS_NTASKS" --kill-on-bad-exit=1 "${extra[@]}")
    fi
    bs_launch_probe
}

bs_srun_has_pmix() {
    command -v srun >/dev/null 2>&1 && srun --mpi=list 2>&1 | grep -qw 'pmix'
}

# Start the launcher once with a shell that prints the MPI rank, world size
# and node the launcher gave it (Open MPI's OMPI_COMM_WORLD_*, PMIx's
# PMIX_RANK, PMI's PMI_RANK; Slurm's SLURMD_NODENAME). Dies unless every rank
# 0..N-1 shows up exactly once; ranks that all say "none" or "0" are the
# singleton case. Start-up across nodes can hang (a node whose daemon cannot
# reach the launcher, a network between nodes that drops packets): after
# 5 s, and every 10 s, it says how many ranks started and on which nodes
# none did yet, and after BANKSTREAM_LAUNCH_TIMEOUT seconds (default 60) it
# stops the launcher and dies naming those nodes.
bs_launch_probe() {
    local out rc=0 ranks expect timeout=${BANKSTREAM_LAUNCH_TIMEOUT:-60} tmp pid t0 next
    bs_need_count BANKSTREAM_LAUNCH_TIMEOUT "$timeout"
    tmp=$(mktemp "${TMPDIR:-/tmp}/bankstream-probe.XXXXXX") ||
        bs_die 1 "cannot create a temporary file in ${TMPDIR:-/tmp}"
    # shellcheck disable=SC2016 # expanded by the probe shell, per task
    "${BS_LAUNCH[@]}" /bin/sh -c \
        'echo "bs-probe ${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-none}}} ${OMPI_COMM_WORLD_SIZE:-${SLURM_STEP_NUM_TASKS:-?}} ${SLURMD_NODENAME:-$(hostname)}"' \
        >"$tmp" 2>&1 </dev/null &
    pid=$!
    t0=$SECONDS
    next=$((t0 + 5))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $((SECONDS - t0)) -ge "$timeout" ]; then
            kill -TERM "$pid" 2>/dev/null
            local i
            for ((i = 0; i < 20; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.5
            done
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            out=$(grep -v '^bs-probe' "$tmp" | grep -v '^ *$' | grep -v -- '-----' | head -3 | tr '\n' ' ')
            local progress
            progress=$(_bs_probe_progress "$tmp")
            rm -f "$tmp"
            bs_die 1 "the launcher did not start $BS_NTASKS ranks within $timeout s (BANKSTREAM_LAUNCH_TIMEOUT; ${BS_LAUNCH[*]}): $progress; check that those nodes and this one ($(hostname)) reach each other (routes, firewalls; Open MPI's oob_tcp_if_include)${out:+; the launcher said: $out}"
        fi
        if [ "$SECONDS" -ge "$next" ]; then
            bs_log "starting $BS_NTASKS rank(s) via $BS_LAUNCHER_NAME: $(_bs_probe_progress "$tmp") after $((SECONDS - t0)) s (giving up after $timeout s)"
            next=$((SECONDS + 10))
        fi
        sleep 0.5
    done
    wait "$pid" || rc=$?
    out=$(cat "$tmp")
    rm -f "$tmp"
    [ "$rc" -eq 0 ] ||
        bs_die 1 "the launcher failed to start $BS_NTASKS ranks (${BS_LAUNCH[*]}, exit $rc): $(grep -v '^bs-probe' <<<"$out" | grep . | grep -v -- '-----' | head -3 | tr '\n' ' ')"
    ranks=$(awk '$1 == "bs-probe" { print $2 }' <<<"$out" | sort -n | paste -sd ' ')
    expect=$(seq 0 $((BS_NTASKS - 1)) | paste -sd ' ')
    if [ "$ranks" != "$expect" ]; then
        bs_die 1 "'${BS_LAUNCH[*]}' does not make one MPI job of $BS_NTASKS ranks (ranks seen: ${ranks:-none}): bankstream would run as separate single-rank copies; use mpirun from the MPI bankstream was built with, or srun --mpi=pmix"
    fi
}

# "K of N started; none yet on NODES" from the probe's output so far.
_bs_probe_progress() { # probe-output-file
    local started nodes missing="" n
    started=$(grep -c '^bs-probe' "$1" 2>/dev/null)
    nodes=$(scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null)
    for n in $nodes; do
        awk -v n="$n" '$1 == "bs-probe" && $4 == n { f = 1 } END { exit !f }' "$1" 2>/dev/null ||
            missing+="${missing:+, }$n"
    done
    echo "${started:-0} of $BS_NTASKS started${missing:+; none yet on $missing}"
}

# Where the stream's HDF5 snapshots go: sets BS_JOBFILE (the job file to
# pass, possibly empty) and BS_SNAP_ARGS (flags to add). Without
# BANKSTREAM_SNAPSHOT_DIR both are what the caller gave (the job file's own
# [snapshot] settings apply). With it: `--snapshot-dir DIR` when
# `bankstream run --help` offers that flag, otherwise a copy of the job file
# with `[snapshot] dir = DIR` appended (the last value of a key wins), written
# inside DIR, which every node sees, and removed by bs_cleanup.
BS_JOBFILE=""
# shellcheck disable=SC2034 # read by the batch scripts
BS_SNAP_ARGS=()
_bs_tmpjob=""
bs_snapshot_setup() { # jobfile-or-empty
    BS_JOBFILE=$1
    BS_SNAP_ARGS=()
    local dir=${BANKSTREAM_SNAPSHOT_DIR:-}
    [ -n "$dir" ] || return 0
    if ! mkdir -p "$dir" 2>/dev/null || ! dir=$(cd "$dir" && pwd); then
        bs_die 1 "cannot create the snapshot directory '$dir' (BANKSTREAM_SNAPSHOT_DIR)"
    fi
    if "$BS_BIN" run --help 2>&1 | grep -q -- '--snapshot-dir'; then
        # shellcheck disable=SC2034 # read by the batch scripts
        BS_SNAP_ARGS=(--snapshot-dir "$dir")
        return 0
    fi
    if [ -n "$BS_JOBFILE" ] && [ ! -r "$BS_JOBFILE" ]; then
        bs_die 2 "job file '$BS_JOBFILE' not readable (BANKSTREAM_JOB)"
    fi
    _bs_tmpjob="$dir/.job-${SLURM_JOB_ID:-$$}.ini"
    {
        [ -n "$BS_JOBFILE" ] && cat -- "$BS_JOBFILE" && echo
        echo "; added by slurm/launch.sh for BANKSTREAM_SNAPSHOT_DIR"
        echo "[snapshot]"
        echo "dir = $dir"
    } >"$_bs_tmpjob" || bs_die 1 "cannot write $_bs_tmpjob"
    BS_JOBFILE=$_bs_tmpjob
}

# Remove what bs_snapshot_setup wrote.
bs_cleanup() {
    [ -n "$_bs_tmpjob" ] && rm -f -- "$_bs_tmpjob"
    _bs_tmpjob=""
    return 0
}

# Print PATTERN with Slurm's filename placeholders replaced: %j job id,
# %A array master job id, %a array task id, %f the given name's base name
# without its extension, %% a percent sign.
bs_expand() { # pattern [name]
    local p=$1 f=${2:-}
    f=$(basename -- "$f")
    f=${f%.*}
    p=${p//%%/$'\001'}
    p=${p//%j/${SLURM_JOB_ID:-0}}
    p=${p//%A/${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-0}}}
    p=${p//%a/${SLURM_ARRAY_TASK_ID:-0}}
    p=${p//%f/$f}
    p=${p//$'\001'/%}
    printf '%s\n' "$p"
}

# Send the launcher SIGUSR1 (whatever stop signal came in: mpirun forwards
# USR1 to every rank and reports success when they exit 0, whereas it treats
# SIGTERM/SIGINT as an abort). Not before BANKSTREAM_SIGNAL_GRACE seconds
# (default 10) after the launch: a rank that has not yet installed its
# handler (it does so after MPI_Init) would die of the signal.
_bs_forward_stop() {
    local grace=${BANKSTREAM_SIGNAL_GRACE:-10} left
    [[ "$grace" =~ ^[0-9]+$ ]] || grace=10
    left=$((_bs_launched + grace - SECONDS))
    if [ "$left" -gt 0 ]; then
        bs_log "bankstream started less than $grace s ago; forwarding the stop in $left s"
        sleep "$left" &
        wait $! 2>/dev/null
    fi
    _bs_fwd=1
    bs_log "asking bankstream to commit the batch in flight and exit"
    kill -USR1 "$_bs_pid" 2>/dev/null
    return 0
}

# Run bankstream's arguments under the launcher; returns the launcher's exit
# status (0 after a signalled clean stop). With a stop signal already
# received, returns 0 without starting anything.
bs_launch_run() {
    if [ -n "$_bs_stop" ]; then
        bs_log "stopped by SIG$_bs_stop before bankstream started; nothing was done by this job"
        [ "$BS_STOP_OK" -eq 1 ] && return 0
        return 1
    fi
    bs_log "job $SLURM_JOB_ID on ${SLURM_JOB_NODELIST:-?}: $BS_NTASKS rank(s) via $BS_LAUNCHER_NAME"
    bs_log "${BS_LAUNCH[*]} $BS_BIN $*"
    "${BS_LAUNCH[@]}" "$BS_BIN" "$@" &
    _bs_pid=$!
    _bs_launched=$SECONDS
    # A trapped signal makes `wait` return >128 at once, the launcher still
    # running; wait again. If the launcher ended at that very moment, its
    # status may already have been collected: the next wait then says 127.
    local rc=0 r n interrupted=0
    while :; do
        [ -n "$_bs_stop" ] && [ -z "$_bs_fwd" ] && _bs_forward_stop
        n=$_bs_nsig
        r=0
        wait "$_bs_pid" 2>/dev/null || r=$?
        [ "$interrupted" -eq 1 ] && [ "$r" -eq 127 ] && ! kill -0 "$_bs_pid" 2>/dev/null && break
        rc=$r
        interrupted=0
        if [ "$_bs_nsig" -ne "$n" ] && [ "$r" -gt 128 ]; then
            interrupted=1
            continue
        fi
        break
    done
    _bs_pid=""
    if [ -n "$_bs_stop" ]; then
        if [ "$rc" -ne 0 ]; then
            bs_log "bankstream exited $rc after SIG$_bs_stop"
        elif [ "$BS_STOP_OK" -eq 1 ]; then
            bs_log "bankstream stopped cleanly on SIG$_bs_stop after $((SECONDS - _bs_t0)) s; resubmit the same job to continue from the last committed batch"
        else
            bs_log "interrupted by SIG$_bs_stop after $((SECONDS - _bs_t0)) s: the output is incomplete"
            rc=1
        fi
    elif [ "$rc" -ne 0 ]; then
        bs_log "bankstream exited $rc"
    fi
    return "$rc"
}
