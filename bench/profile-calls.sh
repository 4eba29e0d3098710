#!/usr/bin/env bash
# The Bedrock path call for call, under callgrind: `bench/profile.sh bedrock`
# (the gateway serving Generate on --backend bedrock) and `bench/profile.sh
# direct` (the AWS SDK's Converse from `gateway-bench calls`). Called by
# profile.sh with: what, the output directory, the target directory, and
# NAME=value settings for the gateway.
#
# Each side is profiled twice, for $PROFILE_CALLS_FEW and $PROFILE_CALLS_MANY
# calls at concurrency 1 against the fake Bedrock at 0 ms (run natively), and
# the instructions per call are (many - few) / (calls many - calls few).
set -euo pipefail
what="$1" out_dir="$2" target_dir="$3"
shift 3
settings=("$@")
few="${PROFILE_CALLS_FEW:-200}"
many="${PROFILE_CALLS_MANY:-1200}"
concurrency="${PROFILE_CONCURRENCY:-1}"
bench="$target_dir/release/gateway-bench"
gateway="$target_dir/release/bedrock-gateway"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The address a server's JSON log line "... listening" names, within 60 s
# (valgrind starts slowly).
wait_addr() {
  local log="$1" addr=""
  for _ in $(seq 600); do
    addr=$(grep -F 'listening' "$log" | grep -oE '127\.0\.0\.1:[1-9][0-9]*' | head -1 || true)
    [ -n "$addr" ] && { echo "$addr"; return 0; }
    sleep 0.1
  done
  echo "no address in $log:" >&2
  cat "$log" >&2
  return 1
}

"$bench" fake-bedrock --latency 0ms --max-lifetime 1h 2> "$out_dir/fake.log" &
pids+=($!)
fake_addr=$(wait_addr "$out_dir/fake.log")
endpoint="http://$fake_addr"

# One profiled run of N calls; prints the profile's path.
profile_run() {
  local n="$1" prof="$out_dir/callgrind.out.$1"
  if [ "$what" = direct ]; then
    valgrind --tool=callgrind --callgrind-out-file="$prof" \
      "$bench" calls --to direct --endpoint "$endpoint" --calls "$n" --concurrency "$concurrency" \
      2> "$out_dir/direct-$n.log" >&2
  else
    local log="$out_dir/gateway-$n.log"
    env AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=AKIDTEST \
      AWS_SECRET_ACCESS_KEY=dummy-secret AWS_REGION=us-east-1 \
      AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent/aws-config \
      AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials "${settings[@]}" \
      valgrind --tool=callgrind --callgrind-out-file="$prof" \
      "$gateway" --listen 127.0.0.1:0 --log-format json --backend bedrock \
      --drain-timeout 1s 2> "$log" &
    local gw=$!
    pids+=("$gw")
    local addr
    addr=$(wait_addr "$log")
    "$bench" calls --to gateway --endpoint "$addr" --calls "$n" --concurrency "$concurrency" 2> "$out_dir/driver-$n.log" \
      || { cat "$out_dir/driver-$n.log" >&2; return 1; }
    kill -TERM "$gw"
    wait "$gw" || true
  fi
  echo "$prof"
}

total() { grep '^summary:' "$1" | awk '{print $2}'; }
p_few=$(profile_run "$few")
p_many=$(profile_run "$many")
t_few=$(total "$p_few")
t_many=$(total "$p_many")
per_call=$(( (t_many - t_few) / (many - few) ))
echo "== $what: $t_few instructions for $few calls, $t_many for $many: $per_call instructions per call"
echo "== top 25 by exclusive cost ($many calls)"
callgrind_annotate --inclusive=no "$p_many" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,26p' | cut -c1-200
echo "== top 40 by inclusive cost ($many calls)"
callgrind_annotate --inclusive=yes "$p_many" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,41p' | cut -c1-200
echo "profiles: $p_few $p_many"
