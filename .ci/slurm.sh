#!/usr/bin/env bash
# A two-node Slurm cluster on this machine, for tests/slurm.rs.
#
#   .ci/slurm.sh install     as root: apt-get the Debian packages if missing
#   .ci/slurm.sh up DIR      start munged, slurmctld and slurmd n1, n2 (all on
#                            127.0.0.1 ports) with their state under DIR (made
#                            here, must not exist); wait until both nodes are
#                            idle and a step runs; write DIR/env (`export
#                            SLURM_CONF=...`). Exits non-zero, saying why and
#                            with the daemons' logs, when the cluster does not
#                            come up (after stopping what it started).
#   .ci/slurm.sh down DIR    cancel every job, stop the daemons started by
#                            `up` (by the pids it recorded) and remove DIR.
#
# Needs root (slurmd runs steps as their user) and the packages slurmctld,
# slurmd, slurm-client and munge (Debian: 22.05). Nothing outside DIR is
# written, and no daemon of the machine's own is touched: munged listens on
# DIR/munge.sock with a key made for this cluster.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"
UP_WITHIN=${LOX_SLURM_UP_WITHIN:-60}

die() { echo "slurm.sh: $*" >&2; exit 1; }

need() {
    local m=()
    for t in munged mungekey slurmctld slurmd slurmstepd; do
        command -v "$t" >/dev/null 2>&1 || { m+=("$t"); }
    done
    for t in srun sinfo squeue scancel; do
        command -v "$t" >/dev/null 2>&1 || { m+=("$t"); }
    done
    echo "${m[*]}"
}

cmd_install() {
    [ "$(id -u)" -eq 0 ] || die "not root: cannot install the Slurm packages"
    [ -z "$(need)" ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing $(need) and no apt-get"
    local pkgs="slurmctld slurmd slurm-client munge" log=/tmp/lox-ci-slurm-apt.log
    echo "installing $pkgs"
    # shellcheck disable=SC2086 # a list of package names
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >"$log" 2>&1; then
        # shellcheck disable=SC2086
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs; } >"$log" 2>&1 ||
            { tail -n 20 "$log"; die "could not install $pkgs"; }
    fi
    [ -z "$(need)" ] || die "still missing after install: $(need)"
}

# Three free TCP ports on 127.0.0.1, from a start picked by the pid.
free_ports() {
    local used start p n=0 out=()
    used=" $(ss -Hltn 2>/dev/null | awk '{n=split($4,a,":"); printf "%s ", a[n]}') "
    start=$((20000 + ($$ * 7) % 30000))
    for ((p = start; p < start + 2000 && n < 3; p++)); do
        case "$used" in *" $p "*) continue ;; esac
        out+=("$p")
        n=$((n + 1))
    done
    [ "$n" -eq 3 ] || die "no free ports near $start"
    echo "${out[*]}"
}

write_conf() {
    local dir=$1 ctld=$2 p1=$3 p2=$4 host
    host=$(hostname -s 2>/dev/null || hostname)
    cat >"$dir/slurm.conf" <<EOF
# Made by .ci/slurm.sh for tests/slurm.rs: two nodes on this machine.
ClusterName=lox
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool-%n
SlurmctldPidFile=$dir/slurmctld.pidfile
SlurmdPidFile=$dir/slurmd-%n.pidfile
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd-%n.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
LaunchType=launch/slurm
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
PropagateResourceLimits=NONE
ReturnToService=2
# An srun that stops answering (killed with its process group) loses its
# job after this many seconds; the book's InactiveLimit paragraph.
InactiveLimit=30
KillWait=2
MinJobAge=2
MessageTimeout=10
SlurmdTimeout=60
# Multiple slurmd on one host: same NodeHostname, own ports.
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p1 CPUs=2 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p2 CPUs=2 State=UNKNOWN
# LLN: each job goes to the least loaded node, so two one-task jobs land on
# both nodes.
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP LLN=YES
EOF
}

# Start a daemon in the background, its output in a log, its pid in DIR/pids.
start() {
    local dir=$1 name=$2
    shift 2
    "$@" >"$dir/$name.out" 2>&1 </dev/null &
    echo "$! $name" >>"$dir/pids"
}

logs() {
    local dir=$1 f
    for f in "$dir"/*.log "$dir"/*.out; do
        [ -s "$f" ] || continue
        echo "--- $f"
        tail -n 15 "$f"
    done
}

cmd_up() {
    local dir=${1:?usage: slurm.sh up DIR}
    [ "$(id -u)" -eq 0 ] || die "not root: slurmd must run as root"
    [ -z "$(need)" ] || die "missing $(need) (Debian: slurmctld slurmd slurm-client munge)"
    [ ! -e "$dir" ] || die "$dir exists"
    mkdir -m 0700 -p "$dir" "$dir/ctld"
    dir=$(cd "$dir" && pwd)
    : >"$dir/pids"
    local ports
    read -r -a ports <<<"$(free_ports)"
    write_conf "$dir" "${ports[@]}"
    export SLURM_CONF=$dir/slurm.conf
    echo "export SLURM_CONF=$SLURM_CONF" >"$dir/env"

    mungekey -c -k "$dir/munge.key" >/dev/null 2>&1 || die "mungekey failed"
    start "$dir" munged munged -F --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pidfile" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
    wait_for "$dir" 10 "munged's socket" test -S "$dir/munge.sock"
    start "$dir" slurmctld slurmctld -D -i -f "$SLURM_CONF"
    start "$dir" slurmd-n1 slurmd -D -N n1 -f "$SLURM_CONF"
    start "$dir" slurmd-n2 slurmd -D -N n2 -f "$SLURM_CONF"
    wait_for "$dir" "$UP_WITHIN" "both nodes idle" both_idle
    wait_for "$dir" "$UP_WITHIN" "a step on each node" steps_run
    echo "slurm: nodes n1 n2 idle on 127.0.0.1:${ports[1]},${ports[2]} (controller :${ports[0]}); $dir/env sets SLURM_CONF"
}

both_idle() {
    [ "$(sinfo -h -N -o '%N %t' 2>/dev/null | sort -u | tr '\n' ' ')" = "n1 idle n2 idle " ]
}

steps_run() {
    local n
    for n in n1 n2; do
        [ "$(timeout 20 srun -Q -w "$n" -N1 -n1 printenv SLURMD_NODENAME 2>/dev/null)" = "$n" ] || return 1
    done
}

# wait_for DIR SECONDS WHAT COMMAND...: poll COMMAND; on time-out stop the
# daemons, show their logs and fail.
wait_for() {
    local dir=$1 secs=$2 what=$3 t0=$SECONDS
    shift 3
    until "$@"; do
        if ((SECONDS - t0 > secs)); then
            logs "$dir" >&2
            sinfo -N 2>&1 | head -5 >&2 || true
            cmd_down "$dir"
            die "no $what within ${secs}s"
        fi
        sleep 0.2
    done
}

cmd_down() {
    local dir=${1:?usage: slurm.sh down DIR}
    [ -d "$dir" ] || return 0
    if [ -f "$dir/slurm.conf" ] && [ -f "$dir/pids" ] && [ -s "$dir/pids" ]; then
        # Steps first, while slurmd can still end them.
        SLURM_CONF=$dir/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
        local t0=$SECONDS
        while [ -n "$(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h 2>/dev/null)" ] && ((SECONDS - t0 < 10)); do
            sleep 0.2
        done
    fi
    if [ -f "$dir/pids" ]; then
        local pid name alive
        # Reverse order: slurmd, slurmctld, then munged.
        while read -r pid name; do
            kill -TERM "$pid" 2>/dev/null || true
        done < <(tac "$dir/pids")
        for _ in $(seq 50); do
            alive=0
            while read -r pid name; do
                kill -0 "$pid" 2>/dev/null && alive=1
            done <"$dir/pids"
            [ "$alive" -eq 0 ] && break
            sleep 0.1
        done
        while read -r pid name; do
            kill -KILL "$pid" 2>/dev/null && echo "slurm.sh: $name ($pid) killed" >&2
        done <"$dir/pids"
    fi
    rm -rf "$dir"
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_up "${2:-}" ;;
down) cmd_down "${2:-}" ;;
*) die "usage: slurm.sh install | up DIR | down DIR" ;;
esac
