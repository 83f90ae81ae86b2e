# Throwaway Citus clusters (a coordinator and workers on loopback ports) for the Citus tests and
# benchmark. Source this file, then: citus_start <workers>; ...; citus_stop
# Needs citus.so in PostgreSQL's library folder; `citus_available` says whether it is there.

. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

citus_available() {
  [ -f "$($PGBIN/pg_config --pkglibdir)/citus.so" ]
}

# Starts one node on a free port in $CITUS_DIR and prints its port.
citus_node() {
  local port; port=$(free_port "${1:-5733}")
  as_postgres "$PGBIN/initdb" -D "$CITUS_DIR/$port" -A trust -U postgres --locale=C.UTF-8 -E UTF8 > /dev/null
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$CITUS_DIR'"
    echo "shared_preload_libraries = 'citus,pg_marketing'"
    echo "max_connections = 200"
    echo "max_prepared_transactions = 200"
    echo "wal_level = logical"
  } | as_postgres tee -a "$CITUS_DIR/$port/postgresql.conf" > /dev/null
  as_postgres "$PGBIN/pg_ctl" -D "$CITUS_DIR/$port" -l "$CITUS_DIR/$port.log" -w start > /dev/null
  psql -X -qAt -h "$CITUS_DIR" -p "$port" -U postgres -d postgres -c "CREATE EXTENSION citus" > /dev/null
  echo "$port"
}

# A coordinator ($COORD, also PGPORT) and `n` workers ($WORKERS), joined.
citus_start() {
  CITUS_DIR=$(mktemp -d /tmp/pg_marketing-citus.XXXXXX)
  chmod 755 "$CITUS_DIR"; chown postgres "$CITUS_DIR" 2>/dev/null || true
  export PGHOST="$CITUS_DIR" PGUSER=postgres PGDATABASE=postgres
  COORD=$(citus_node 5733); export PGPORT=$COORD
  psql -X -qAt -c "SELECT citus_set_coordinator_host('127.0.0.1', $COORD)" > /dev/null
  WORKERS=()
  for _ in $(seq "$1"); do citus_add_worker; done
}

citus_add_worker() {
  local last=$COORD port
  [ ${#WORKERS[@]} -gt 0 ] && last=${WORKERS[-1]}
  port=$(citus_node $((last + 1)))
  psql -X -qAt -c "SELECT citus_add_node('127.0.0.1', $port)" > /dev/null
  WORKERS+=("$port")
}

citus_stop() {
  [ -n "${CITUS_DIR:-}" ] || return 0
  for d in "$CITUS_DIR"/*/; do
    [ -f "$d/PG_VERSION" ] && as_postgres "$PGBIN/pg_ctl" -D "$d" -m fast -w stop > /dev/null 2>&1
  done
  rm -rf "$CITUS_DIR"
}
