#!/usr/bin/env bash
# The two-edge example: simulated origins, an EU edge on 127.0.0.10:8443 and an NA edge on
# 127.0.0.20:8443, each with its own CA and certificate (generated into certs/ on first run).
# Ctrl-C stops all three processes. See docs/residency.md for what to try.
#
#   EDGE_GATEWAY_BIN=target/debug/edge-gateway config/examples/two-edges/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${EDGE_GATEWAY_BIN:-edge-gateway}
certs="$here/certs"

# One CA and one server certificate per edge (P-256, 30 days). Throw-away keys: never use
# them for anything but this example.
issue() {
  local edge=$1 title=$2
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=Example $title edge CA" -keyout "$certs/$edge-ca.key" -out "$certs/$edge-ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$title edge" -keyout "$certs/$edge-edge.key" -out "$certs/$edge-edge.csr" \
    2>/dev/null
  printf 'subjectAltName=DNS:*.app.example.com,DNS:api.example.com,DNS:%s-edge.example.com\nextendedKeyUsage=serverAuth\n' \
    "$edge" >"$certs/$edge-edge.ext"
  openssl x509 -req -in "$certs/$edge-edge.csr" -CA "$certs/$edge-ca.pem" \
    -CAkey "$certs/$edge-ca.key" -CAcreateserial -days 30 -extfile "$certs/$edge-edge.ext" \
    -out "$certs/$edge-edge.pem" 2>/dev/null
  rm -f "$certs/$edge-edge.csr" "$certs/$edge-edge.ext" "$certs/$edge-ca.srl"
  chmod 600 "$certs/$edge-ca.key" "$certs/$edge-edge.key"
}
if [ ! -f "$certs/na-edge.pem" ]; then
  mkdir -p "$certs"
  issue eu EU
  issue na NA
  cat "$certs/eu-ca.pem" "$certs/na-ca.pem" >"$certs/both-cas.pem"
  echo "generated certificates in $certs"
fi

"$bin" check --config "$here/eu.toml" >/dev/null
"$bin" check --config "$here/na.toml" >/dev/null

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
"$bin" demo --origins-only & pids+=($!)
"$bin" run --config "$here/eu.toml" & pids+=($!)
"$bin" run --config "$here/na.toml" & pids+=($!)
echo "EU edge https://127.0.0.10:8443, NA edge https://127.0.0.20:8443 (Ctrl-C to stop)"
wait
