#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (for tests/test_slurm.py, or to try
# the SLURM profile by hand):
#
#   scripts/slurm_cluster.sh start|stop|status
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when missing (root
# with apt-get only), writes slurm.conf for this host (its CPUs and memory from
# `slurmd -C`; no accounting; no cgroups, which containers often lack) and
# starts munged (unless one already answers on its standard socket), slurmctld
# and slurmd, with their files under $SLURM_CLUSTER_DIR (default
# /tmp/genomic-ulmfit-slurm). Nothing under /etc is changed: slurmd runs
# "configless", fetching slurm.conf from slurmctld and caching it in
# /run/slurm/conf, where client commands look for it (inside jobs too, where
# the executor plugin drops SLURM_* variables such as SLURM_CONF). `stop`
# cancels the cluster's jobs, kills exactly the daemons `start` began and
# removes that cache link.
#
# Exit codes: 0 ok, 1 failed (the message names the log to read), 3 SLURM cannot
# run here: not root, not installed and no apt-get, or this machine already has
# a SLURM configuration of its own (/etc/slurm/slurm.conf).
set -euo pipefail

DIR=${SLURM_CLUSTER_DIR:-${TMPDIR:-/tmp}/genomic-ulmfit-slurm}
CONF=$DIR/slurm.conf
PIDS=$DIR/pids
DAEMONS=(munged slurmctld slurmd)
RUN_CONF=/run/slurm/conf  # where slurmd caches a configless node's config
export PATH=$PATH:/usr/sbin:/sbin
export SLURM_CONF=$CONF

die() { echo "slurm_cluster: $*" >&2; exit 1; }

install_slurm() {
  local missing=()
  for cmd in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "slurm_cluster: ${missing[*]} not installed, and no apt-get to install Debian's" \
         "slurmctld slurmd slurm-client munge" >&2
    exit 3
  fi
  echo "slurm_cluster: installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

# A free TCP port on this host, for one daemon.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
  local node host
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  node=$(slurmd -C | head -1)
  host=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node")
  [ -n "$host" ] || die "cannot read this node from 'slurmd -C': $node"
  cat >"$CONF" <<EOF
# One-node test cluster written by scripts/slurm_cluster.sh; everything under $DIR.
ClusterName=gulmfit
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# slurmd fetches this file from slurmctld and caches it where srun in a job looks.
SlurmctldParameters=enable_configless
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# Containers rarely give cgroups: track job processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# No slurmdbd: sacct cannot answer, so Snakemake asks squeue, which must still
# list a finished job when it looks (MinJobAge seconds).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

alive() {  # alive NAME: the recorded pid still runs NAME
  local pid
  pid=$(cat "$PIDS/$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

launch() {  # launch NAME ARGS...: start NAME in the foreground mode, in the background
  local name=$1; shift
  setsid "$@" >"$DIR/$name.out" 2>&1 </dev/null &
  echo $! >"$PIDS/$name"
  sleep 0.5
  alive "$name" || die "$name did not start: see $DIR/$name.out and $DIR/$name.log"
}

wait_idle() {
  local state="" name
  for _ in $(seq 60); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -1) || true
    [ "$state" = idle ] && return 0
    for name in slurmctld slurmd; do
      alive "$name" || die "$name exited: see $DIR/$name.out and $DIR/$name.log"
    done
    sleep 1
  done
  die "the node is not idle after 60 s (sinfo says '${state:-nothing}'): see $DIR/slurmctld.log and $DIR/slurmd.log"
}

conf_value() { sed -n "s/^$1=//p" "$CONF"; }

# Inside a job, srun reads /etc/slurm/slurm.conf before slurmd's cache: a machine
# with its own must not host this cluster.
check_no_system_conf() {
  if [ -e /etc/slurm/slurm.conf ]; then
    echo "slurm_cluster: /etc/slurm/slurm.conf exists: this machine belongs to another SLURM" \
         "cluster, whose config jobs would read instead of this one's" >&2
    exit 3
  fi
}

# slurmd asks for its config before it has read one, so munged must listen on
# the standard socket; a munged already answering there (the system's) is used.
start_munged() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "slurm_cluster: using the munged already running"
    return 0
  fi
  mkdir -p /run/munge
  chmod 755 /run/munge
  mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
  launch munged munged --foreground --force --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munged.seed"
}

start() {
  if [ "$(id -u)" != 0 ]; then
    echo "slurm_cluster: starting slurmd needs root (it runs each job as its user)" >&2
    exit 3
  fi
  install_slurm
  check_no_system_conf
  if alive slurmctld && alive slurmd; then
    echo "slurm_cluster: already running; export SLURM_CONF=$CONF"
    return 0
  fi
  stop_daemons
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/munge"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge" "$PIDS"
  chmod 700 "$DIR/munge"
  write_conf
  start_munged
  launch slurmctld slurmctld -D -i -f "$CONF"
  launch slurmd slurmd -D --conf-server "127.0.0.1:$(conf_value SlurmctldPort)"
  wait_idle
  echo "slurm_cluster: running ($(sinfo -h -N -o '%N %c CPUs %m MB')); export SLURM_CONF=$CONF"
}

stop_daemons() {
  local name pid
  if alive slurmctld; then
    scancel --quiet --user "$(id -un)" 2>/dev/null && sleep 1 || true
  fi
  for name in slurmd slurmctld munged; do
    alive "$name" || { rm -f "$PIDS/$name"; continue; }
    pid=$(cat "$PIDS/$name")
    kill "$pid"
    for _ in $(seq 20); do alive "$name" || break; sleep 0.5; done
    alive "$name" && kill -9 "$pid"
    rm -f "$PIDS/$name"
  done
  # slurmd's cache link, when it points into this cluster's spool
  if [ -L "$RUN_CONF" ] && [[ "$(readlink "$RUN_CONF")" == "$DIR"/* ]]; then rm -f "$RUN_CONF"; fi
}

status() {
  local name down=0
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then
      echo "$name: running (pid $(cat "$PIDS/$name"))"
    elif [ "$name" = munged ] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
      echo "munged: not started here; the one running answers"
    else
      echo "$name: stopped"; down=1
    fi
  done
  [ $down = 0 ] && sinfo -N && echo "export SLURM_CONF=$CONF"
  return $down
}

case ${1:-} in
  start) start ;;
  stop) stop_daemons; echo "slurm_cluster: stopped" ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
