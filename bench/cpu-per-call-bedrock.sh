#!/usr/bin/env bash
# CPU time per Bedrock-path call, natively: the gateway's server CPU per call
# (`gateway`) beside the direct AWS SDK client's own CPU per call (`direct`),
# the same Converse calls to the fake Bedrock at 0 ms.
#
#   bench/cpu-per-call-bedrock.sh gateway [NAME=value...]   gateway settings
#   bench/cpu-per-call-bedrock.sh direct
#
# The side measured runs alone on CPU 1; the fake Bedrock and (for the
# gateway) the driver run on CPU 0, so both sides cross CPUs the same way on
# every hop. Gateway: utime + stime from /proc over $CALLS calls after a
# warm-up of $WARMUP. Direct: the client process's own CPU (getrusage of the
# child, by /usr/bin/time's format) for $WARMUP + $CALLS calls less that for
# $WARMUP calls, so start-up drops out. Concurrency $CONCURRENCY (default 16).
#
# Needs the release builds that scripts/bench makes (GATEWAY_BIN=path measures
# another gateway binary).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-gateway}"
shift || true
target_dir="${CARGO_TARGET_DIR:-target}"
bench="$target_dir/release/gateway-bench"
gateway_bin="${GATEWAY_BIN:-$target_dir/release/bedrock-gateway}"
calls="${CALLS:-30000}"
warmup="${WARMUP:-3000}"
conc="${CONCURRENCY:-16}"
work="$target_dir/cpu-per-call-bedrock"
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_addr() {
  local log="$1" addr=""
  for _ in $(seq 300); do
    addr=$(grep -F 'listening' "$log" | grep -oE '127\.0\.0\.1:[1-9][0-9]*' | head -1 || true)
    [ -n "$addr" ] && { echo "$addr"; return 0; }
    sleep 0.1
  done
  echo "no address in $log:" >&2; cat "$log" >&2; return 1
}
taskset -c 0 "$bench" fake-bedrock --latency 0ms --max-lifetime 1h 2> "$work/fake.log" &
pids+=($!)
endpoint="http://$(wait_addr "$work/fake.log")"
hz=$(getconf CLK_TCK)

# CPU seconds of a direct client run of N calls.
direct_cpu() {
  /usr/bin/env time -f '%U %S' -o "$work/time-$1" taskset -c 1 "$bench" calls --to direct \
    --endpoint "$endpoint" --calls "$1" --concurrency "$conc" 2> "$work/direct-$1.log"
  awk '{print $1 + $2}' "$work/time-$1"
}

case "$what" in
  direct)
    a=$(direct_cpu "$warmup")
    b=$(direct_cpu $((warmup + calls)))
    awk -v a="$a" -v b="$b" -v n="$calls" \
      'BEGIN { printf "direct: %.2f us of client CPU per call\n", (b - a) * 1e6 / n }'
    ;;
  gateway)
    env AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=dummy-secret \
      AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent/aws-config \
      AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials "$@" \
      taskset -c 1 "$gateway_bin" --listen 127.0.0.1:0 --log-format json \
      --backend bedrock 2> "$work/gateway.log" &
    gw=$!
    pids+=("$gw")
    addr=$(wait_addr "$work/gateway.log")
    ticks() { awk '{print $14 + $15}' "/proc/$gw/stat"; }
    taskset -c 0 "$bench" calls --to gateway --endpoint "$addr" --calls "$warmup" --concurrency "$conc"
    before=$(ticks)
    taskset -c 0 "$bench" calls --to gateway --endpoint "$addr" --calls "$calls" --concurrency "$conc"
    after=$(ticks)
    awk -v a="$before" -v b="$after" -v n="$calls" -v hz="$hz" \
      'BEGIN { printf "gateway: %.2f us of server CPU per call\n", (b - a) * 1e6 / hz / n }'
    ;;
  *) echo "usage: $0 gateway [NAME=value...] | direct" >&2; exit 2 ;;
esac
