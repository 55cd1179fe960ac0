#!/bin/sh
# Side-by-side benchmark of edge-gateway, nginx, HAProxy and a bare Pingora pass-through.
#
# Installs nginx, HAProxy, wrk and h2load (Debian packages) when they are missing, builds the
# release gateway and the bare pass-through example (same release profile), then runs
# `edge-loadtest compare` with the arguments given, e.g.:
#
#   loadtests/compare.sh --rounds 3 --seconds 5 --markdown loadtests/RESULTS.md
#
# Every process it starts (backend, proxies, load tools) is stopped by PID when it ends.
# compare.json and the processes' logs go to loadtests/out/ unless --out says otherwise.
set -eu
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=""
have nginx || missing="$missing nginx"
have haproxy || missing="$missing haproxy"
have wrk || missing="$missing wrk"
have h2load || missing="$missing nghttp2-client"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    echo "compare.sh: installing$missing" >&2
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

cargo build --release -p edge-gateway --bin edge-gateway --example bare_passthrough
cargo build -p edge-loadtest
tgt="${CARGO_TARGET_DIR:-target}"
exec "$tgt/debug/edge-loadtest" compare \
    --gateway-bin "$tgt/release/edge-gateway" \
    --bare-bin "$tgt/release/examples/bare_passthrough" \
    "$@"
