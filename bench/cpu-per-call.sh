#!/usr/bin/env bash
# Server CPU time per unary call, the measure behind BENCHMARKS.md §2: the
# server pinned to CPU 1, h2load pinned to CPU 0 sending 300,000 unary
# Generate calls at concurrency 64 (16 connections x 4 streams) after a
# 20,000-call warm-up, and the server's utime + stime (/proc/PID/stat) over
# the run divided by the calls. Unlike callgrind it sees system calls,
# context switches and the log thread.
#
#   bench/cpu-per-call.sh gateway [gateway flags...]   e.g. --log-level warn
#   bench/cpu-per-call.sh floor
#
# Needs the release builds that scripts/bench makes, and h2load (Debian
# package nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-gateway}"
shift || true
target_dir="${CARGO_TARGET_DIR:-target}"
work="$target_dir/cpu-per-call"
rm -rf "$work"
mkdir -p "$work"
log="$work/server.log"

# The same gRPC-framed request as the suite's h2load cross-check.
"$target_dir/release/gateway-bench" run --scenarios h2load --warmup 100ms --duration 200ms \
  --work-dir "$work/body" > /dev/null 2>&1 || true
body="$work/body/generate-request.bin"
[ -s "$body" ] || { echo "could not make the request body (is h2load installed?)" >&2; exit 1; }

case "$what" in
  gateway) taskset -c 1 "$target_dir/release/bedrock-gateway" --listen 127.0.0.1:0 --log-format json \
             --backend simulated --simulated-token-delay 0ms "$@" 2> "$log" & ;;
  floor) taskset -c 1 "$target_dir/release/gateway-bench" floor --listen 127.0.0.1:0 > "$log" 2>&1 & ;;
  *) echo "usage: $0 gateway [flags...] | floor" >&2; exit 2 ;;
esac
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 100); do
  addr=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 || true)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "the server did not say where it listens:" >&2; cat "$log" >&2; exit 1; }

load() {
  taskset -c 0 h2load -t1 -c16 -m4 -n "$1" --data "$body" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://$addr/bedrock.gateway.v1.TextGenerationService/Generate"
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
load 20000 > /dev/null
before=$(ticks)
calls=300000
load "$calls" | grep -E '^finished|^requests:'
after=$(ticks)
hz=$(getconf CLK_TCK)
awk -v a="$before" -v b="$after" -v n="$calls" -v hz="$hz" -v w="$what" \
  'BEGIN { printf "%s: %.2f us of server CPU per call\n", w, (b - a) * 1e6 / hz / n }'
