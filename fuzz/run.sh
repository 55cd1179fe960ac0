#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) with cargo-fuzz on the nightly
# toolchain. Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in config_parse tenant_extraction request_framing dns_query; do
  echo "== $target (${secs}s)"
  cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=4096
done
