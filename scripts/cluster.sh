# Throwaway PostgreSQL 15 clusters for the demo, end-to-end tests and benchmarks.
# Source this file, then: cluster_start [extra postgresql.conf lines...]; ...; cluster_stop
# Clusters run as the postgres user (initdb refuses root) on a free local port, with their socket
# in the cluster's own directory.

PGBIN=/usr/lib/postgresql/15/bin

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else sudo -u postgres "$@"; fi
}

free_port() {
  local p=${1:-5433}
  while (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

cluster_start() {
  CLUSTER_DIR=$(mktemp -d /tmp/pg_marketing.XXXXXX)
  chmod 755 "$CLUSTER_DIR"
  chown postgres "$CLUSTER_DIR" 2>/dev/null || true
  export PGPORT=$(free_port 5433)
  export PGHOST="$CLUSTER_DIR"
  export PGUSER=postgres
  export PGDATABASE=postgres
  as_postgres "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres --locale=C.UTF-8 -E UTF8 > "$CLUSTER_DIR/initdb.log"
  {
    echo "port = $PGPORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$CLUSTER_DIR'"
    echo "max_connections = 64"
    for line in "$@"; do echo "$line"; done
  } | as_postgres tee -a "$CLUSTER_DIR/data/postgresql.conf" > /dev/null
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start > /dev/null
  CLUSTER_LOG="$CLUSTER_DIR/server.log"
}

cluster_restart() {
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w restart > /dev/null
}

cluster_stop() {
  if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop > /dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
  fi
}
