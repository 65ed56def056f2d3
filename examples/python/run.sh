#!/usr/bin/env bash
# Screens sample passengers against a running checkpost server from Python (grpcio), with stubs
# generated from proto/ at run time. Usage: examples/python/run.sh SERVER_ADDR (e.g.
# 127.0.0.1:50051). Installs grpcio/grpcio-tools into examples/python/.venv when missing.
# Exit status: 0 when every assertion held, non-zero otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
addr="${1:?usage: run.sh SERVER_ADDR}"
if ! "$here/.venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/client.py" "$addr"
