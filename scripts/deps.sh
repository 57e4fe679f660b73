#!/usr/bin/env bash
# Installs what Aisle needs to build, test and run on Debian 12. Idempotent: does
# nothing when every package is already there. Run as root (or via sudo).
set -euo pipefail

BUILD_PKGS="build-essential cmake pkg-config libh2o-evloop-dev libjansson-dev libssl-dev zlib1g-dev libopenblas-dev liblapacke-dev"
TEST_PKGS="libcurl4-openssl-dev curl clang libclang-rt-14-dev"
BENCH_PKGS="wrk nginx-light libmicrohttpd-dev libevent-dev"

want="$BUILD_PKGS $TEST_PKGS"
case "${1:-}" in
  --bench) want="$want $BENCH_PKGS" ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
