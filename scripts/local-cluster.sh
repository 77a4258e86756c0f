#!/usr/bin/env bash
# A local "cluster" for trying the team setup on one machine: the services run from Debian's packages
# (scripts/install-deps.sh installs them) in a state folder, listening on 127.0.0.1 only.
#
#   scripts/local-cluster.sh up     start the services, print the environment to use them
#   scripts/local-cluster.sh down   stop them (the data stays in the state folder)
#   scripts/local-cluster.sh env    print the environment again
#
# State folder: $STYLELAB_CLUSTER_DIR, default ./.cluster. Services, one function pair each:
#   postgres  PostgreSQL for the tracker (port $STYLELAB_PG_PORT, default 54329), database "stylelab";
#             artifacts in <state>/artifacts (STYLELAB_ARTIFACTS).
# Add a service by writing <name>_up, <name>_down and <name>_env and listing it in SERVICES.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STYLELAB_CLUSTER_DIR:-$PWD/.cluster}
SERVICES=(postgres)

# --- PostgreSQL -------------------------------------------------------------------------------------
PG_PORT=${STYLELAB_PG_PORT:-54329}
PG_DIR=$STATE/postgres

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
	mkdir -p "$PG_DIR" "$STATE/artifacts"
	[[ $(id -u) == 0 ]] && chown postgres "$PG_DIR"
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
	echo "export STYLELAB_DB='postgres://postgres@127.0.0.1:$PG_PORT/stylelab?sslmode=disable'"
	echo "export STYLELAB_ARTIFACTS='$STATE/artifacts'"
}

# --- dispatch ---------------------------------------------------------------------------------------
case ${1:-} in
up)
	for s in "${SERVICES[@]}"; do "${s}_up"; done
	echo "# use it with:"
	for s in "${SERVICES[@]}"; do "${s}_env"; done
	;;
down)
	for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do "${SERVICES[i]}_down"; done
	;;
env)
	for s in "${SERVICES[@]}"; do "${s}_env"; done
	;;
*)
	echo "usage: scripts/local-cluster.sh up|down|env" >&2
	exit 2
	;;
esac
