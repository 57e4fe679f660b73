#!/usr/bin/env bash
# Choice of HTTP library, by measurement: the same GET /healthz (15 bytes, application/json,
# keep-alive) on nginx (static file, the reference), aisle (libh2o-evloop), and minimal servers
# on libh2o-evloop itself (h2o: the library's cost without aisle's) and on the two other Debian
# candidates, libmicrohttpd and libevent's evhttp (bench/http-libs/*.c, compiled here with
# gcc -O2). Every server runs THREADS threads or workers. wrk -t1 -c32 runs DURATION against
# each in turn, ROUNDS times; the best round of each is reported with its p50/p99 and its
# ratio to nginx.
#
# Environment: DURATION [10s], ROUNDS [2], THREADS [2], CONNECTIONS [32], CC [gcc],
# NGINX [/usr/sbin/nginx], plus BUILD_DIR / AISLE_BIN / BENCH_TMP (see lib.sh).
# Needs libmicrohttpd-dev and libevent-dev (scripts/deps.sh --bench), and libh2o-evloop-dev
# (aisle's own build dependency).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
CC=${CC:-gcc}
NGINX=${NGINX:-/usr/sbin/nginx}
SERVERS="nginx aisle h2o mhd evhttp"

need_cmd wrk curl ss "$CC" pkg-config
[ -x "$NGINX" ] || die "$NGINX not found (scripts/deps.sh --bench installs nginx-light)"
pkg-config --exists libmicrohttpd libevent || die "libmicrohttpd-dev or libevent-dev missing (scripts/deps.sh --bench)"
pkg-config --exists libh2o-evloop || die "libh2o-evloop-dev missing (scripts/deps.sh)"
ensure_built "$AISLE_BIN"

make_scratch
tmp=$SCRATCH
chmod 755 "$tmp"
mkdir -p "$tmp/www" "$tmp/data"
# shellcheck disable=SC2046
"$CC" -O2 -Wall -o "$tmp/h2o" "$BENCH_DIR/http-libs/h2o.c" $(pkg-config --cflags --libs libh2o-evloop) -lssl -lcrypto -lz -lpthread
# shellcheck disable=SC2046
"$CC" -O2 -Wall -o "$tmp/mhd" "$BENCH_DIR/http-libs/mhd.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread
# shellcheck disable=SC2046
"$CC" -O2 -Wall -o "$tmp/evhttp" "$BENCH_DIR/http-libs/evhttp.c" $(pkg-config --cflags --libs libevent) -lpthread

declare -A url pid best best_file
port=$(free_port)
start_aisle "$port" "$tmp/data" "$tmp/aisle.log" --threads "$THREADS"
pid[aisle]=$AISLE_PID url[aisle]="http://127.0.0.1:$port/healthz"
ctype=$(curl -s -o "$tmp/www/healthz" -w '%{content_type}' "${url[aisle]}")
chmod 644 "$tmp/www/healthz"

port=$(free_port)
start_nginx "$port" "$tmp" "$THREADS"
pid[nginx]=$NGINX_PID url[nginx]="http://127.0.0.1:$port/healthz"

for who in h2o mhd evhttp; do
  port=$(free_port)
  "$tmp/$who" "$port" "$THREADS" >"$tmp/$who.log" 2>&1 &
  pid[$who]=$!
  _bench_pids+=("${pid[$who]}")
  url[$who]="http://127.0.0.1:$port/healthz"
  wait_http "${url[$who]}" 15 "${pid[$who]}" || { cat "$tmp/$who.log" >&2; die "$who did not start"; }
done

# Same body bytes and Content-Type everywhere, and the connection kept open between requests.
for who in $SERVERS; do
  curl -s -o "$tmp/$who.body" -D "$tmp/$who.hdr" "${url[$who]}"
  cmp -s "$tmp/$who.body" "$tmp/www/healthz" || die "$who: body differs from aisle's"
  ct=$(curl -s -o /dev/null -w '%{content_type}' "${url[$who]}")
  [ "$ct" = "$ctype" ] || die "$who: Content-Type '$ct', aisle '$ctype'"
  conns=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "${url[$who]}" "${url[$who]}" | tail -1)
  [ "$conns" = 0 ] || die "$who closed the connection after a request (no keep-alive)"
done

machine_line
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# http-libs: wrk -t1 -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds alternating $SERVERS; best round reported"
echo "# $THREADS threads each: nginx $("$NGINX" -v 2>&1 | sed 's/^nginx version: nginx\///') worker_processes (static file);" \
  "aisle --threads (libh2o-evloop $(dpkg-query -W -f='${Version}' libh2o-evloop-dev 2>/dev/null || echo '?'));" \
  "h2o: minimal libh2o-evloop server, evloop + context per thread, SO_REUSEPORT;" \
  "mhd: libmicrohttpd $(pkg-config --modversion libmicrohttpd) epoll thread pool;" \
  "evhttp: libevent $(pkg-config --modversion libevent) event_base per thread, SO_REUSEPORT"
echo "# body: $(cat "$tmp/www/healthz") ($(wc -c <"$tmp/www/healthz") bytes, $ctype); response header bytes:" \
  "$(for w in $SERVERS; do printf '%s %s ' "$w" "$(wc -c <"$tmp/$w.hdr")"; done)"

for who in $SERVERS; do best[$who]=0; done
for r in $(seq 1 "$ROUNDS"); do
  for who in $SERVERS; do
    out="$tmp/wrk-$who-$r.txt"
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency "${url[$who]}" >"$out"
    rps=$(wrk_rps "$out")
    printf 'round %d %-6s req/s=%-10s p50=%-9s p99=%-9s %s\n' "$r" "$who" "$rps" "$(wrk_pct "$out" 50%)" \
      "$(wrk_pct "$out" 99%)" "$(wrk_errors "$out" | tr -s ' ' | tr '\n' ' ')"
    if awk -v a="$rps" -v b="${best[$who]}" 'BEGIN{exit !(a > b)}'; then
      best[$who]=$rps best_file[$who]=$out
    fi
  done
done

for who in $SERVERS; do
  printf 'best  %-6s req/s=%-10s p50=%-9s p99=%-9s ratio/nginx=%s\n' "$who" "${best[$who]}" \
    "$(wrk_pct "${best_file[$who]}" 50%)" "$(wrk_pct "${best_file[$who]}" 99%)" "$(ratio "${best[$who]}" "${best[nginx]}")"
done

for who in $SERVERS; do stop_pid "${pid[$who]}" "$who"; done
