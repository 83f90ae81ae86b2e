# Helpers the benchmark scripts share: psql shorthand, elapsed milliseconds, and a call's peak
# backend memory.

q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Runs SQL in one session and prints that backend's peak private memory in MB: its high-water mark
# (VmHWM) minus the shared buffers it touched (RssShmem, which stay resident), read in the same
# session.
peak_mb() {
  psql -X -qAt -v ON_ERROR_STOP=1 <<SQL | tail -1
SELECT pg_backend_pid() AS pid \gset
$1
\setenv MKT_PID :pid
\! awk '/VmHWM/ {h=\$2} /RssShmem/ {s=\$2} END {printf "%.0f", (h - s) / 1024}' /proc/\$MKT_PID/status
SQL
}
