#!/usr/bin/env bash
# Profiles a server under the benchmark's unary load with valgrind's callgrind
# (perf's hardware counters are not available on this VM: `perf stat -e
# instructions true` reports <not supported>), and prints the top functions by
# exclusive and by inclusive cost, and the instructions per call.
#
#   bench/profile.sh gateway [NAME=value...]   the release gateway, with extra
#                                              BEDROCK_GATEWAY_* settings, e.g.
#     bench/profile.sh gateway BEDROCK_GATEWAY_LOG_LEVEL=warn,bedrock_gateway=info,bedrock_gateway::=warn
#   bench/profile.sh floor                     the floor, for comparison
#   bench/profile.sh bedrock [NAME=value...]   the gateway on --backend bedrock
#                                              against the fake Bedrock (0 ms),
#                                              Generate at concurrency 1
#   bench/profile.sh direct                    the AWS SDK's Converse call from
#                                              `gateway-bench calls`, the same
#                                              calls without the gateway
#
# gateway and floor: unary Generate at concurrency 16 for 2 s + 15 s; the
# profile covers start-up too (small next to the load), and the calls are
# counted from the profile. bedrock and direct compare call for call: the
# profiled process makes (direct) or serves (bedrock) first
# $PROFILE_CALLS_FEW then $PROFILE_CALLS_MANY calls (default 200 and 1200)
# in two runs, and the instructions per call are the difference of the two
# totals over the difference of the calls, so start-up (aws-config, the
# catalogue, the first connection) drops out. The top-function lists are of
# the larger run; `callgrind_annotate` on the two files gives any function's
# per-call cost the same way.
#
# Needs valgrind (Debian package `valgrind`) and the release builds that
# scripts/bench makes. The driver itself and the other servers run natively.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-gateway}"
shift || true
target_dir="$PWD/${CARGO_TARGET_DIR:-target}"
label="$what"
for a in "$@"; do label="$label-${a%%=*}"; done
out_dir="$target_dir/bench-profile/$label"
rm -rf "$out_dir"
mkdir -p "$out_dir"
wrapper="$out_dir/server-under-callgrind"
envs=""
if [ $# -gt 0 ]; then envs="$(printf '%q ' "$@")"; fi
if [ "$what" = bedrock ] || [ "$what" = direct ]; then
  exec "$(dirname "$0")/profile-calls.sh" "$what" "$out_dir" "$target_dir" "$@"
fi
case "$what" in
  gateway) server="$target_dir/release/bedrock-gateway \"\$@\"" ;;
  # Stands in for the gateway: the driver's gateway flags are ignored.
  floor) server="$target_dir/release/gateway-bench floor --listen 127.0.0.1:0" ;;
  *) echo "usage: $0 gateway|floor|bedrock|direct [NAME=value...]" >&2; exit 2 ;;
esac
cat > "$wrapper" <<WRAP
#!/usr/bin/env bash
exec env ${envs}valgrind --tool=callgrind --callgrind-out-file=$out_dir/callgrind.out.%p $server
WRAP
chmod +x "$wrapper"
scenario=(--scenarios unary --concurrency 16)
pattern='unary c=16 gateway:'
"$target_dir/release/gateway-bench" run --gateway "$wrapper" "${scenario[@]}" \
  --warmup 2s --duration 15s --work-dir "$out_dir/logs" \
  > "$out_dir/run.md" 2> "$out_dir/run.log"
cat "$out_dir/run.log"
# Only the server that took the load has a large profile (the other one idled).
profile=$(ls -S "$out_dir"/callgrind.out.* | head -1)
total=$(grep '^summary:' "$profile" | awk '{print $2}')
# The calls it served, from the profile itself: how often validation ran
# (once per call, whatever the path). The load generator's own count covers
# only its last attempt when a disturbed window made it measure again.
calls=$(callgrind_annotate --inclusive=yes --tree=calling "$profile" 2>/dev/null \
  | grep -E '>   \?\?\?:bedrock_gateway::validation::(generate_request|check) \(' \
  | sed -E 's/.*\(([0-9,]+)x\).*/\1/' | tr -d , | sort -n | tail -1)
if [ -z "$calls" ]; then
  calls=$(grep -F "$pattern" "$out_dir/run.log" | grep 'calls in all' | sed -E 's/.* ([0-9]+) calls in all.*/\1/')
fi
echo "== $what: $total instructions in total, $calls calls, $((total / calls)) instructions per call"
echo "== top 25 by exclusive cost"
callgrind_annotate --inclusive=no "$profile" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,26p' | cut -c1-200
echo "== top 40 by inclusive cost"
callgrind_annotate --inclusive=yes "$profile" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,41p' | cut -c1-200
echo "profile: $profile"
