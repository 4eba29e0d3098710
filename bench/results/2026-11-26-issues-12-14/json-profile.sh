#!/usr/bin/env bash
# Instructions per call of the JSON route /v1/generate under callgrind: the
# release gateway (simulated backend) serves N sequential calls from one curl
# process over one keep-alive HTTP/1.1 connection.
set -euo pipefail
bin="$1"; n="${2:-2000}"; out="$3"
rm -rf "$out"; mkdir -p "$out"
port=$((20000 + RANDOM % 20000))
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" "$bin" --backend simulated --listen 127.0.0.1:$port --log-format json > "$out/gw.log" 2>&1 &
pid=$!
for i in $(seq 1 200); do curl -s -o /dev/null http://127.0.0.1:$port/v1/models && break; sleep 0.5; done
body='{"model_id":"amazon.titan-text-express-v1","prompt":"Write a poem about sky","parameters":{"max_tokens":16}}'
urls=(); for i in $(seq 1 "$n"); do urls+=("http://127.0.0.1:$port/v1/generate"); done
start=$(date +%s.%N)
curl -s -o /dev/null -H 'content-type: application/json' -d "$body" "${urls[@]}"
end=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
profile=$(ls -S "$out"/callgrind.out.* | head -1)
total=$(grep '^summary:' "$profile" | awk '{print $2}')
calls=$(callgrind_annotate --inclusive=yes --tree=calling "$profile" 2>/dev/null | grep -E '>   \?\?\?:bedrock_gateway::validation::(generate_request|check) \(' | sed -E 's/.*\(([0-9,]+)x\).*/\1/' | tr -d , | sort -n | tail -1)
echo "== json: $total instructions in total, $calls calls, $((total / calls)) instructions per call ($(echo "$end - $start" | bc) s)"
