# shellcheck shell=bash
# Shared helpers for the benchmark scripts (sourced, not run). Every process a script
# starts is recorded with its pid and stopped by that pid on exit; nothing is looked up
# or killed by name.
#
# Environment:
#   BUILD_DIR   the Release CMake tree holding aisle and bench/bench-* [ROOT/build-release,
#               else ROOT/build/release (what `make bench` builds) when only that exists]
#   AISLE_BIN   the aisle binary [BUILD_DIR/aisle]
#   BENCH_TMP   parent of the scratch directories (data dirs, nginx prefix) [/tmp];
#               it must be a real disk for the fsync figures to mean anything.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
if [ -z "${BUILD_DIR:-}" ]; then
  BUILD_DIR=$ROOT/build-release
  if [ ! -x "$BUILD_DIR/aisle" ] && [ -x "$ROOT/build/release/aisle" ]; then
    BUILD_DIR=$ROOT/build/release
  fi
fi
AISLE_BIN=${AISLE_BIN:-$BUILD_DIR/aisle}
BENCH_TMP=${BENCH_TMP:-/tmp}

_bench_pids=()
_bench_dirs=()

die() {
  echo "error: $*" >&2
  exit 1
}

# Builds the Release tree when a needed binary is missing.
ensure_built() {
  local need=0 t
  for t in "$AISLE_BIN" "$@"; do
    [ -x "$t" ] || need=1
  done
  if [ $need = 1 ]; then
    echo "# building Release tree in $BUILD_DIR" >&2
    if ! cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null ||
      ! cmake --build "$BUILD_DIR" -j2 >/dev/null; then
      die "build failed; build $BUILD_DIR by hand (see bench/README.md)"
    fi
  fi
  for t in "$AISLE_BIN" "$@"; do
    [ -x "$t" ] || die "missing $t"
  done
}

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (scripts/deps.sh --bench installs wrk and nginx-light)"
  done
}

# make_scratch: sets SCRATCH to a new directory under BENCH_TMP, removed on exit (not
# in a $(...) subshell, so that the exit trap knows about it).
make_scratch() {
  SCRATCH=$(mktemp -d "$BENCH_TMP/aisle-bench.XXXXXX") || die "cannot create a scratch directory in $BENCH_TMP"
  _bench_dirs+=("$SCRATCH")
}

# A loopback TCP port no socket uses, in any state: a random pick below the kernel's
# ephemeral range (so that no outgoing connection can take it meanwhile), checked with ss.
free_port() {
  local p lo
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$lo" -gt 12000 ] || lo=32768
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# Waits until URL answers 200 (bounded by SECONDS_MAX, default 30). Returns 1 on timeout.
wait_http() {
  local url=$1 max=${2:-30} pid=${3:-} t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$max" ]; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.05
  done
  return 1
}

# start_aisle PORT DATADIR LOGFILE [flags...]: starts aisle in the background, sets
# AISLE_PID, waits for /readyz.
start_aisle() {
  local port=$1 data=$2 logf=$3
  shift 3
  "$AISLE_BIN" serve --listen "127.0.0.1:$port" --data "$data" --log-level warn "$@" >>"$logf" 2>&1 &
  AISLE_PID=$!
  _bench_pids+=("$AISLE_PID")
  if ! wait_http "http://127.0.0.1:$port/readyz" "${READY_TIMEOUT:-60}" "$AISLE_PID"; then
    tail -20 "$logf" >&2
    die "aisle did not become ready on port $port"
  fi
}

# start_nginx PORT DIR WORKERS: nginx (NGINX, default /usr/sbin/nginx) serving the files
# of DIR/www as application/json on 127.0.0.1:PORT: WORKERS worker processes, reuseport,
# keep-alive, access log off; its config, pid file, temp paths and error log are under DIR.
# Sets NGINX_PID and waits until PORT answers /healthz.
start_nginx() {
  local port=$1 dir=$2 workers=$3 user_line=""
  mkdir -p "$dir/nginx-tmp"
  [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
  cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes $workers;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    etag off;
    server_tokens off;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    client_body_temp_path $dir/nginx-tmp/client;
    proxy_temp_path $dir/nginx-tmp/proxy;
    fastcgi_temp_path $dir/nginx-tmp/fastcgi;
    uwsgi_temp_path $dir/nginx-tmp/uwsgi;
    scgi_temp_path $dir/nginx-tmp/scgi;
    types { }
    default_type application/json;
    server {
        listen 127.0.0.1:$port reuseport;
        server_name localhost;
        root $dir/www;
        location = /healthz { }
    }
}
EOF
  "${NGINX:-/usr/sbin/nginx}" -e "$dir/nginx-error.log" -p "$dir/" -c "$dir/nginx.conf" &
  NGINX_PID=$!
  _bench_pids+=("$NGINX_PID")
  wait_http "http://127.0.0.1:$port/healthz" 15 "$NGINX_PID" || {
    cat "$dir/nginx-error.log" >&2
    die "nginx did not start"
  }
}

# stop_pid PID [NAME]: SIGTERM, wait up to 30 s, then SIGKILL. Prints a line when the
# process had to be killed or exited non-zero.
stop_pid() {
  local pid=$1 name=${2:-process} rc
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "warning: $name (pid $pid) ignored SIGTERM for 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  [ "$rc" = 0 ] || echo "warning: $name (pid $pid) exited with status $rc" >&2
  return 0
}

_bench_cleanup() {
  local p d
  for p in "${_bench_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null
      sleep 0.5
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
      wait "$p" 2>/dev/null
    fi
  done
  if [ -z "${KEEP_TMP:-}" ]; then
    for d in "${_bench_dirs[@]}"; do rm -rf -- "$d"; done
  fi
}
trap _bench_cleanup EXIT
trap 'exit 130' INT TERM

# json_num JSON KEY: the first number after "KEY": (the server's JSON is compact).
json_num() {
  printf '%s' "$1" | grep -o "\"$2\":[-0-9.e+]*" | head -1 | cut -d: -f2
}

# cpu_ticks PID: the process's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Figures from a wrk output file.
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_requests() { awk '/requests in/ {print $1}' "$1"; }
wrk_seconds() { # "N requests in 10.01s," / "1.50m," / "900.00ms,"
  awk '/requests in/ {s=$4; sub(/,$/, "", s); m=1
    if (s ~ /ms$/) {m=0.001; sub(/ms$/, "", s)} else if (s ~ /m$/) {m=60; sub(/m$/, "", s)}
    else if (s ~ /h$/) {m=3600; sub(/h$/, "", s)} else sub(/s$/, "", s)
    print s * m}' "$1"
}
wrk_pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; } # wrk_pct FILE 50%
wrk_errors() { awk '/Socket errors|Non-2xx/ {print}' "$1"; }

# ratio A B [DIGITS]: A / B.
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.*f\n", d, a / b }'; }

machine_line() {
  echo "# machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
}

# server_time BEFORE AFTER ROUTE: from two /metrics snapshots of aisle, the requests of
# ROUTE in between by the server's own time (handler start to response): the Prometheus
# bucket bound that holds their p50, p99 and p99.9, and the share above 1 ms. Prints
# "n=N p50<=A p99<=B p99.9<=C over_1ms=D%" (bounds in ms).
server_time() {
  awk -v route="$3" '
    function grab(line,   b, v) {
      if (index(line, "aisle_http_request_duration_seconds_bucket{route=\"" route "\",le=\"") != 1) return
      b = line; sub(/.*le="/, "", b); sub(/".*/, "", b)
      v = line; sub(/.*} /, "", v)
      return b SUBSEP v
    }
    FNR == 1 { f++ }
    {
      r = grab($0); if (r == "") next
      split(r, kv, SUBSEP)
      if (f == 1) before[kv[1]] = kv[2]
      else { if (!(kv[1] in order)) { order[kv[1]] = ++n; le[n] = kv[1] } after[kv[1]] = kv[2] }
    }
    END {
      total = after["+Inf"] - before["+Inf"]
      if (total <= 0) { print "n=0"; exit }
      split("0.5 0.99 0.999", qs, " "); split("p50 p99 p99.9", qn, " ")
      out = "n=" total
      for (q = 1; q <= 3; q++)
        for (i = 1; i <= n; i++)
          if (after[le[i]] - before[le[i]] >= qs[q] * total) {
            out = out " " qn[q] "<=" (le[i] == "+Inf" ? "inf" : le[i] * 1000); break
          }
      over = total - (after["0.001"] - before["0.001"])
      printf "%s over_1ms=%.3f%%\n", out, 100 * over / total
    }' "$1" "$2"
}
