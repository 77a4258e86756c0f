#!/usr/bin/env bash
# A throwaway single-machine cluster from Debian's packages, to try the team commands by hand and for the tests:
#   scripts/local-cluster.sh up     start it (prints the environment to export)
#   scripts/local-cluster.sh down   stop it and remove its folder
#   scripts/local-cluster.sh env    print the environment again (exit 1, saying so, while a service is down)
# Services, one function set (<name>_up, <name>_down, <name>_env) each, chosen by $STYLELAB_CLUSTER_SERVICES
# (default "postgres slurm"):
#   postgres  PostgreSQL for the tracker on 127.0.0.1 (port $STYLELAB_PG_PORT, default 54329), database "stylelab";
#             artifacts in <folder>/artifacts (STYLELAB_ARTIFACTS)
#   slurm     slurmctld + slurmd + munge, generated slurm.conf
# Everything lives in $STYLELAB_CLUSTER_DIR (default /tmp/stylelab-cluster); nothing listens beyond this machine's
# own hostname, and the system's own munge/slurm configuration is not touched. Needs root (slurmd runs jobs as
# their submitting user; PostgreSQL runs as the postgres user). Install the packages with scripts/install-deps.sh (or apt-get install slurm-wlm munge).
set -euo pipefail

DIR="${STYLELAB_CLUSTER_DIR:-/tmp/stylelab-cluster}"
read -r -a SERVICES <<<"${STYLELAB_CLUSTER_SERVICES:-postgres slurm}"

die() { echo "local-cluster: $*" >&2; exit 1; }

# free_port prints a TCP port on which nothing answers on this machine.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free TCP port found"
}

# wait_for CMD…: retry for up to 30 s.
wait_for() {
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

stop_pidfile() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

slurm_up() {
  local S="$DIR/slurm" host cpus
  for b in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found: install Debian's slurm-wlm and munge (scripts/install-deps.sh)"
  done
  [ "$(id -u)" = 0 ] || die "the local Slurm cluster needs root (slurmd starts jobs as their user)"
  host="$(hostname -s)"
  cpus="$(nproc)"
  mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log"
  chmod 700 "$S/munge"
  if [ ! -f "$S/munge/munge.key" ]; then
    dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$S/munge/munge.key"
  fi
  PATH="$PATH:/usr/sbin" munged --key-file="$S/munge/munge.key" --socket="$S/munge/munge.sock" \
    --pid-file="$S/munge/munged.pid" --log-file="$S/log/munged.log" --seed-file="$S/munge/munge.seed" -f
  wait_for test -S "$S/munge/munge.sock" || die "munged did not start (see $S/log/munged.log)"
  cat > "$S/slurm.conf" <<CONF
ClusterName=stylelab
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
KillWait=5
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$S/slurm.conf"
  PATH="$PATH:/usr/sbin" slurmctld -f "$S/slurm.conf"
  PATH="$PATH:/usr/sbin" slurmd -f "$S/slurm.conf"
  wait_for sh -c "sinfo -h -o %T | grep -Eq '^idle'" || die "the Slurm node did not become idle (logs in $S/log)"
  echo "slurm: up (sinfo: $(sinfo -h -o '%P %D %T'))" >&2
}

slurm_down() {
  local S="$DIR/slurm"
  [ -d "$S" ] || return 0
  stop_pidfile "$S/slurmd.pid"
  stop_pidfile "$S/slurmctld.pid"
  stop_pidfile "$S/munge/munged.pid"
}

# pid_alive FILE: the pid in FILE names a live process.
pid_alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# say_down SERVICE WHY: say that SERVICE is down and the command that starts it (stderr); fail.
say_down() {
  local cmd="scripts/local-cluster.sh up"
  [ -z "${STYLELAB_CLUSTER_SERVICES:-}" ] || cmd="STYLELAB_CLUSTER_SERVICES='$STYLELAB_CLUSTER_SERVICES' $cmd"
  [ -z "${STYLELAB_CLUSTER_DIR:-}" ] || cmd="STYLELAB_CLUSTER_DIR='$STYLELAB_CLUSTER_DIR' $cmd"
  echo "local-cluster: $1 is down ($2): start it with $cmd" >&2
  return 1
}

slurm_env() {
  local S="$DIR/slurm" d
  [ -f "$S/slurm.conf" ] || { say_down slurm "no $S/slurm.conf"; return 1; }
  for d in slurmctld slurmd; do
    pid_alive "$S/$d.pid" || { say_down slurm "$d is not running (pid file $S/$d.pid)"; return 1; }
  done
  echo "export SLURM_CONF=$S/slurm.conf"
}

# --- PostgreSQL -------------------------------------------------------------------------------------
PG_PORT=${STYLELAB_PG_PORT:-54329}
PG_DIR=$DIR/postgres

pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		[[ -x $d/pg_ctl ]] && { echo "$d"; return; }
	done
	echo "local-cluster: PostgreSQL's server binaries are missing: run scripts/install-deps.sh (or apt-get install postgresql)" >&2
	return 1
}

# as_pg runs a PostgreSQL binary, as the postgres user when we are root (initdb refuses root).
as_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_up() {
	local bin; bin=$(pg_bin)
	mkdir -p "$PG_DIR" "$DIR/artifacts"
	if [[ $(id -u) == 0 ]]; then chmod 755 "$DIR"; chown postgres "$PG_DIR"; fi
	if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
		as_pg "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log"
	fi
	if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
		echo "postgres: already running on 127.0.0.1:$PG_PORT"
	else
		as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" \
			-l "$PG_DIR/log" -w start >/dev/null
		echo "postgres: started on 127.0.0.1:$PG_PORT (log $PG_DIR/log)"
	fi
	as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'stylelab'" |
		grep -q 1 || as_pg "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres stylelab
}

postgres_down() {
	local bin; bin=$(pg_bin)
	if [[ -f $PG_DIR/data/PG_VERSION ]] && as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
		as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
		echo "postgres: stopped"
	else
		echo "postgres: not running"
	fi
}

postgres_env() {
	local bin
	bin=$(pg_bin) || { say_down postgres "its server binaries are missing"; return 1; }
	[[ -f $PG_DIR/data/PG_VERSION ]] || { say_down postgres "no database in $PG_DIR/data"; return 1; }
	as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1 || { say_down postgres "pg_ctl status: no server running on $PG_DIR/data"; return 1; }
	echo "export STYLELAB_DB='postgres://postgres@127.0.0.1:$PG_PORT/stylelab?sslmode=disable'"
	echo "export STYLELAB_ARTIFACTS='$DIR/artifacts'"
}

case "${1:-}" in
  up)
    mkdir -p "$DIR"
    for s in "${SERVICES[@]}"; do "${s}_up"; done
    echo "# use it with:"
    for s in "${SERVICES[@]}"; do "${s}_env"; done
    ;;
  down)
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do "${SERVICES[i]}_down"; done
    rm -rf "$DIR"
    ;;
  env)
    # Every service's lines, or, when any is down, nothing on stdout (so that eval "$(… env)" sets nothing half),
    # a line on stderr for each one down and exit 1.
    out="" failed=0
    for s in "${SERVICES[@]}"; do
      if o="$("${s}_env")"; then out+="$o"$'\n'; else failed=1; fi
    done
    [ "$failed" = 0 ] || exit 1
    printf '%s' "$out"
    ;;
  *)
    echo "usage: scripts/local-cluster.sh up|down|env   (folder: \$STYLELAB_CLUSTER_DIR, default /tmp/stylelab-cluster; services: \$STYLELAB_CLUSTER_SERVICES, default 'postgres slurm')" >&2
    exit 2
    ;;
esac
