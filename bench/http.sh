#!/usr/bin/env bash
# HTTP overhead: Aisle's GET /healthz against nginx serving a static file with exactly
# the same body bytes and Content-Type, on the same machine, in the same invocation.
# Both run as many workers/threads as THREADS (default nproc), keep-alive, no access
# log. wrk -t1 -c32 runs DURATION against nginx, then aisle, ROUNDS times alternating;
# the best round of each is reported with its p50/p99 and the ratio aisle/nginx.
#
# Environment: DURATION [10s], ROUNDS [2], THREADS [nproc], CONNECTIONS [32],
# NGINX [/usr/sbin/nginx], plus BUILD_DIR / AISLE_BIN / BENCH_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-$(nproc)}
CONNECTIONS=${CONNECTIONS:-32}
NGINX=${NGINX:-/usr/sbin/nginx}

need_cmd wrk curl ss
[ -x "$NGINX" ] || die "$NGINX not found (scripts/deps.sh --bench installs nginx-light)"
ensure_built "$AISLE_BIN"

make_scratch
tmp=$SCRATCH
chmod 755 "$tmp"
mkdir -p "$tmp/www" "$tmp/nginx-tmp" "$tmp/data"

# Aisle first: its /healthz body becomes nginx's file, byte for byte.
aport=$(free_port)
start_aisle "$aport" "$tmp/data" "$tmp/aisle.log" --threads "$THREADS"
apid=$AISLE_PID
aurl="http://127.0.0.1:$aport/healthz"
act=$(curl -s -o "$tmp/www/healthz" -w '%{content_type}' "$aurl")
chmod 644 "$tmp/www/healthz"

nport=$(free_port)
while [ "$nport" = "$aport" ]; do nport=$(free_port); done
start_nginx "$nport" "$tmp" "$THREADS"
npid=$NGINX_PID
nurl="http://127.0.0.1:$nport/healthz"

curl -s -o "$tmp/nginx.body" -D "$tmp/nginx.hdr" "$nurl"
curl -s -o "$tmp/aisle.body" -D "$tmp/aisle.hdr" "$aurl"
cmp -s "$tmp/nginx.body" "$tmp/aisle.body" || die "nginx and aisle bodies differ"
nct=$(curl -s -o /dev/null -w '%{content_type}' "$nurl")
[ "$nct" = "$act" ] || die "Content-Type differs: nginx '$nct', aisle '$act'"

machine_line
echo "# http: wrk -t1 -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds alternating nginx/aisle; best round reported"
echo "# aisle --threads $THREADS; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') worker_processes $THREADS, static file"
echo "# body: $(cat "$tmp/aisle.body") ($(wc -c <"$tmp/aisle.body") bytes, $act); response header bytes: nginx $(wc -c <"$tmp/nginx.hdr"), aisle $(wc -c <"$tmp/aisle.hdr")"

best_n=0 best_a=0 best_n_file="" best_a_file=""
for r in $(seq 1 "$ROUNDS"); do
  for who in nginx aisle; do
    url=$nurl
    [ $who = aisle ] && url=$aurl
    out="$tmp/wrk-$who-$r.txt"
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency "$url" >"$out"
    rps=$(wrk_rps "$out")
    printf 'round %d %-5s req/s=%-10s p50=%-9s p99=%-9s %s\n' "$r" "$who" "$rps" "$(wrk_pct "$out" 50%)" \
      "$(wrk_pct "$out" 99%)" "$(wrk_errors "$out" | tr -s ' ' | tr '\n' ' ')"
    if [ $who = nginx ] && awk -v a="$rps" -v b="$best_n" 'BEGIN{exit !(a > b)}'; then best_n=$rps best_n_file=$out; fi
    if [ $who = aisle ] && awk -v a="$rps" -v b="$best_a" 'BEGIN{exit !(a > b)}'; then best_a=$rps best_a_file=$out; fi
  done
done

echo "best  nginx req/s=$best_n p50=$(wrk_pct "$best_n_file" 50%) p99=$(wrk_pct "$best_n_file" 99%)"
echo "best  aisle req/s=$best_a p50=$(wrk_pct "$best_a_file" 50%) p99=$(wrk_pct "$best_a_file" 99%)"
echo "ratio aisle/nginx req/s = $(ratio "$best_a" "$best_n")"

stop_pid "$npid" nginx
stop_pid "$apid" aisle
