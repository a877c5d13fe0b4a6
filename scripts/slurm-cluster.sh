#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for `make test-slurm` (never part of `make test`).
#
#   scripts/slurm-cluster.sh          install slurm-wlm + munge if missing, start the cluster
#   scripts/slurm-cluster.sh stop     stop the daemons this script started (by their pid files)
#
# Idempotent: when `sinfo` already shows the node up it says so and exits. Debian/Ubuntu only
# (apt-get), as root or with password-less sudo. Everything it writes except the munge key lives
# in $BCX_SLURM_DIR (default /tmp/bcx-slurm): slurm.conf, state, spool, logs and pid files.
# Clients find the cluster through SLURM_CONF=$BCX_SLURM_DIR/slurm.conf (the tests set it).
set -euo pipefail

DIR=${BCX_SLURM_DIR:-/tmp/bcx-slurm}
CONF=$DIR/slurm.conf
PARTITION=${BCX_SLURM_PARTITION:-bcx}
export SLURM_CONF=$CONF

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: error: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  die "starting slurmctld/slurmd needs root: run as root or with password-less sudo"
fi

node_up() {  # our slurmctld runs and the node answers idle, mixed or allocated
  [ -f "$CONF" ] && [ -f "$DIR/slurmctld.pid" ] && ps -p "$(cat "$DIR/slurmctld.pid")" >/dev/null \
    && timeout 10 sinfo -h -N -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'
}

stop_pidfile() {  # stop the daemon whose pid file is $1, if it runs
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if as_root kill "$pid" 2>/dev/null; then
    say "stopped $(basename "$1" .pid) (pid $pid)"
  fi
  as_root rm -f "$1"
}

if [ "${1:-start}" = stop ]; then
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munged.pid"
  exit 0
fi
[ "${1:-start}" = start ] || die "usage: $0 [start|stop]"

if node_up; then
  say "already up: node $(hostname -s) in partition $PARTITION ($CONF); nothing to do"
  echo "export SLURM_CONF=$CONF"
  exit 0
fi

started=$SECONDS
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "slurm-wlm and munge are missing and there is no apt-get"
  say "installing slurm-wlm and munge with apt-get (under a minute)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  say "installed $(slurmctld -V) in $((SECONDS - started)) s"
else
  say "found $(slurmctld -V) and munge"
fi

as_root mkdir -p "$DIR"/{state,spool,log}
as_root chmod 755 "$DIR"

# munge: the package's key if it made one, else a new one; munged runs as the munge user.
if ! as_root test -s /etc/munge/munge.key; then
  as_root mkdir -p /etc/munge
  as_root mungekey --create --keyfile /etc/munge/munge.key
  say "created /etc/munge/munge.key"
fi
as_root chown munge:munge /etc/munge /etc/munge/munge.key
as_root chmod 700 /etc/munge
as_root chmod 400 /etc/munge/munge.key
as_root mkdir -p /run/munge /var/lib/munge /var/log/munge
as_root chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  as_root runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  as_root ln -sf /run/munge/munged.pid "$DIR/munged.pid"
  say "started munged"
fi

# The node as slurmd itself sees it (CPUs, sockets, cores, RealMemory), so it never drains for
# claiming more than it has. Memory is not a consumable resource (CR_Core): a job that asks for
# no memory does not take the whole node, and two one-CPU jobs run side by side on two cores.
# A requeued job waits cred_expire seconds (default 120) and then the next scheduling pass
# (sched_interval, default 60) before it restarts: both shortened so a requeue test takes seconds.
# KillWait: the grace between SIGTERM and SIGKILL (default 30 s). MinJobAge: how long an ended
# job stays in `scontrol show job` (state, exit code, restarts): there is no accounting database.
node=$(slurmd -C | head -n 1)
conf=$(mktemp)
cat > "$conf" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node cluster for bcx's SLURM tests.
ClusterName=bcx
SlurmctldHost=$(hostname -s)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
AuthInfo=cred_expire=10
ReturnToService=2
KillWait=10
MinJobAge=600
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$node State=UNKNOWN
PartitionName=$PARTITION Nodes=$(hostname -s) Default=YES MaxTime=INFINITE State=UP
EOF
as_root install -m 644 "$conf" "$CONF"
rm -f "$conf"
say "wrote $CONF: $node"

stop_pidfile "$DIR/slurmd.pid"  # a half-started cluster: start both daemons afresh
stop_pidfile "$DIR/slurmctld.pid"
as_root slurmctld -f "$CONF"
as_root slurmd -f "$CONF"
say "started slurmctld and slurmd (logs: $DIR/log/)"

for _ in $(seq 60); do
  node_up && break
  sleep 1
done
node_up || die "the node did not come up in 60 s; see $DIR/log/slurmctld.log and slurmd.log"
say "up in $((SECONDS - started)) s: $(sinfo -h -N -o '%N %T %c CPUs %m MB')"
echo "export SLURM_CONF=$CONF"
