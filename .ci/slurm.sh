#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (controller and compute node both here), from
# Debian's `slurmctld`, `slurmd`, `slurm-client` and `munge` packages: what aetui's Slurm
# tests submit to, and a small example of the set-up a lab cluster has for real.
#
# Idempotent and quick when done before: installs what is missing, writes
# /etc/slurm/slurm.conf (only when absent or written by this script), starts munged,
# slurmctld and slurmd when down, and waits until the node takes jobs. Run as root.
#
#   eval "$(bash .ci/slurm.sh)"     # exports AETUI_TEST_SLURM=1 (what the tests look for)
#   sinfo; squeue                   # the partition `debug` and its one node
#
# Jobs here run as the submitting user on this machine, so paths are shared trivially;
# on a real cluster the run folders and the Python environment must be on a filesystem
# that every node mounts (see docs/scale-out.md).
# Exit code 3: no Slurm and no way to install it (apt-get unavailable).
set -euo pipefail
log() { echo "slurm.sh: $*" >&2; }
CONF=/etc/slurm/slurm.conf
MARK="# written by aetui .ci/slurm.sh"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "Slurm is not installed and apt-get is unavailable"
        exit 3
    fi
    log "installing Debian's slurmctld, slurmd, slurm-client and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || { log "apt-get update failed"; exit 3; }
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
        || { log "apt-get install failed"; exit 3; }
fi

# munge: the shared key that authenticates Slurm's messages (one key for the whole cluster)
if [ ! -s /etc/munge/munge.key ]; then
    log "creating the munge key"
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 20); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
fi

# slurm.conf: this host is the controller and the one node, with what slurmd finds here
host=$(hostname -s)
if [ ! -f "$CONF" ] || grep -qF "$MARK" "$CONF"; then
    node=$(slurmd -C | head -n1)  # NodeName=... CPUs=... RealMemory=...
    mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
    cat >"$CONF.new" <<EOF
$MARK
ClusterName=aetui
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups in a container: track processes by parentage, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
# seconds between SIGTERM and SIGKILL for a cancelled or requeued job (default 30)
KillWait=10
MinJobAge=600
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if ! cmp -s "$CONF.new" "$CONF" 2>/dev/null; then
        mv "$CONF.new" "$CONF"
        log "wrote $CONF"
        changed=1
    else
        rm -f "$CONF.new"
    fi
fi

if [ "${changed:-0}" = 1 ]; then
    pkill -x slurmctld 2>/dev/null || true
    pkill -x slurmd 2>/dev/null || true
    sleep 1
fi
if ! pgrep -x slurmctld >/dev/null; then
    log "starting slurmctld"
    slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    log "starting slurmd"
    slurmd
fi

for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n1 || true)
    case "$state" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|drained*)
            scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
sinfo >&2
case "$state" in
    idle|mixed|allocated|completing) ;;
    *) log "node $host is '$state', not taking jobs (see /var/log/slurm/)"; exit 1 ;;
esac
echo "export AETUI_TEST_SLURM=1"
