#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the end-to-end test of `probe sweep --emit slurm`.
#
#   scripts/slurm-local.sh [start] [DIR]   start (or reuse) the cluster kept in DIR; prints
#                                          SLURM_CONF=DIR/slurm.conf on stdout
#   scripts/slurm-local.sh stop [DIR]      cancel its jobs, stop the daemons DIR's pid files name
#   scripts/slurm-local.sh status [DIR]    exit 0 if it is up
#
# DIR defaults to /tmp/probe-slurm. The cluster is self-contained: its own munged (own key and
# socket), slurmctld and slurmd on free ports, every state, log and pid file in DIR. So it neither
# touches nor collides with a system Slurm or another copy of this cluster, and `stop` ends only
# what this script started there. Installs Debian's slurmctld, slurmd, slurm-client and munge
# when missing. Needs root: slurmd runs jobs as their submitting user.
#
# Exit codes: 0 up (or stopped); 3 this machine cannot host it, with the reason on one line of
# stderr (the test then skips); 1 it should have started and did not (see DIR/log).
set -u
action=start
case "${1:-}" in start|stop|status) action=$1; shift ;; esac
DIR=${1:-/tmp/probe-slurm}
NODE=probe-node
cannot() { echo "slurm-local.sh: $*" >&2; exit 3; }
fail() { echo "slurm-local.sh: $* (logs in $DIR/log)" >&2; exit 1; }

# A pid file names a live daemon only if that pid still runs that program (pids get reused).
alive() { # alive PIDFILE NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
pids_of() { local f=$1 n=$2; alive "$f" "$n" && cat "$f"; }

up() {
  [ -f "$DIR/slurm.conf" ] || return 1
  alive "$DIR/munge/munged.pid" munged && alive "$DIR/slurmctld.pid" slurmctld && alive "$DIR/slurmd.pid" slurmd &&
    SLURM_CONF="$DIR/slurm.conf" scontrol ping >/dev/null 2>&1
}

stop() {
  export SLURM_CONF="$DIR/slurm.conf"
  if alive "$DIR/slurmctld.pid" slurmctld; then
    # jobs first: a slurmstepd outlives slurmd and would keep a job running
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null
      for _ in $(seq 1 60); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  local pids=""
  pids+=" $(pids_of "$DIR/slurmd.pid" slurmd)"
  pids+=" $(pids_of "$DIR/slurmctld.pid" slurmctld)"
  pids+=" $(pids_of "$DIR/munge/munged.pid" munged)"
  # shellcheck disable=SC2086
  set -- $pids
  [ $# -eq 0 ] && return 0
  kill "$@" 2>/dev/null
  for _ in $(seq 1 40); do
    local left=0
    for p in "$@"; do [ -d "/proc/$p" ] && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.25
  done
  kill -KILL "$@" 2>/dev/null
  return 0
}

case $action in
  stop) stop; exit 0 ;;
  status) up; exit $? ;;
esac

[ "$(uname -s)" = Linux ] || cannot "Slurm's daemons need Linux, this is $(uname -s)"
[ "$(id -u)" = 0 ] || cannot "a local Slurm needs root (slurmd runs jobs as their user); running as $(id -un)"
if up; then echo "SLURM_CONF=$DIR/slurm.conf"; exit 0; fi

missing=""
for c in slurmctld slurmd sbatch munged; do command -v "$c" >/dev/null || missing+=" $c"; done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || cannot "no$missing, and no apt-get to install Debian's slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  log=/tmp/probe-slurm-apt.log
  pkgs="slurmctld slurmd slurm-client munge"
  # shellcheck disable=SC2086
  if ! apt-get install -y -q --no-install-recommends $pkgs >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $pkgs >>"$log" 2>&1 ||
      cannot "apt-get install $pkgs failed (see $log)"
  fi
fi
id munge >/dev/null 2>&1 || cannot "no user 'munge' (the munge package creates it)"

mkdir -p "$DIR" || cannot "cannot create $DIR"
# munged refuses a socket directory it cannot traverse as user munge, and its key must be its own
chmod 755 "$DIR"
mkdir -p "$DIR/log" "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/munge"
exec 9>/tmp/probe-slurm.lock
flock 9 # two clusters starting at once would pick the same ports

# anything half-started before is stopped first, so the daemons all come from this start
stop

chown munge:munge "$DIR/munge" && chmod 711 "$DIR/munge"
if [ ! -s "$DIR/munge/munge.key" ]; then
  head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
  chown munge:munge "$DIR/munge/munge.key" && chmod 400 "$DIR/munge/munge.key"
fi
runuser -u munge -- munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
  --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" 9>&- ||
  fail "munged did not start: $(tail -n 1 "$DIR/munge/munged.log" 2>/dev/null)"

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ ! -f "$DIR/slurm.conf" ]; then
  port=""
  for p in $(seq 16817 2 17817); do
    in_use "$p" || in_use $((p + 1)) || { port=$p; break; }
  done
  [ -n "$port" ] || fail "no two free ports between 16817 and 17818"
  mem=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
  cat >"$DIR/slurm.conf" <<EOF
# written by scripts/slurm-local.sh: one node, everything under $DIR
ClusterName=probe
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups: Slurm 22.05 has no 'disabled' cgroup plugin, and containers rarely delegate them
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
# no slurmdbd: each finished job (array task) is one line of $DIR/jobcomp.txt
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=10
NodeName=$NODE NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=probe Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
fi
export SLURM_CONF="$DIR/slurm.conf"
slurmctld -f "$SLURM_CONF" 9>&- || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N "$NODE" 9>&- || fail "slurmd did not start"
for _ in $(seq 1 120); do
  state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
  case $state in idle*|mix*|alloc*) echo "SLURM_CONF=$SLURM_CONF"; exit 0 ;; esac
  sleep 0.25
done
fail "node $NODE not ready after 30 s (state '${state:-none}')"
