#!/usr/bin/env bash
# Generates the Python stubs of the gateway's contract from ../../proto with
# grpcio-tools (the pinned version in tools/requirements.txt) into
# src/bedrock_gateway_client/_proto/, which is checked in.
#
#   clients/python/generate.sh           regenerate in place
#   clients/python/generate.sh --check   regenerate into a temporary directory
#                                        and fail if the checked-in stubs differ
#
# PYTHON selects the interpreter (default: the repository's .venv, else python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi

dest="src/bedrock_gateway_client/_proto"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# third_party/googleapis: the proto imports google/api/annotations.proto
# (its HTTP/JSON routes); the stubs import google.api.annotations_pb2 from
# googleapis-common-protos, already a dependency.
"$PYTHON" -m grpc_tools.protoc -I ../../proto -I ../../third_party/googleapis \
  --python_out="$work" --pyi_out="$work" --grpc_python_out="$work" \
  ../../proto/bedrock/gateway/v1/gateway.proto

mkdir -p "$work/out"
gen="$work/bedrock/gateway/v1"
cp "$gen/gateway_pb2.py" "$gen/gateway_pb2.pyi" "$work/out/"
# protoc writes absolute imports rooted at the proto path
# (`from bedrock.gateway.v1 import gateway_pb2`); inside this package the
# module sits next to its service stub, so import it relatively.
sed -e 's/^from bedrock\.gateway\.v1 import gateway_pb2 as /from . import gateway_pb2 as /' \
  "$gen/gateway_pb2_grpc.py" > "$work/out/gateway_pb2_grpc.py"
if grep -q '^from bedrock\.' "$work/out/gateway_pb2_grpc.py"; then
  echo "generate.sh: an absolute import was left in gateway_pb2_grpc.py" >&2
  exit 1
fi
cat > "$work/out/__init__.py" <<'PY'
"""Stubs generated from proto/bedrock/gateway/v1/gateway.proto by generate.sh. Do not edit."""
PY

if [ "$check" = 1 ]; then
  if ! diff -ru "$dest" "$work/out" -x __pycache__; then
    echo "generate.sh --check: $dest is stale; run clients/python/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "generate.sh --check: Python stubs match proto/"
else
  mkdir -p "$dest"
  rm -f "$dest"/*.py "$dest"/*.pyi
  cp "$work/out/"* "$dest/"
  echo "generate.sh: wrote $dest"
fi
