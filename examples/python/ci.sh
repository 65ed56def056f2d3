#!/usr/bin/env bash
# CI step: builds the binary, builds a snapshot from the fixture watchlist with the test-only HQ
# key, starts `checkpost serve` with the sample config on a free loopback port, runs the Python
# client against it, and stops the server (SIGTERM: graceful drain). Exit status is the client's.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --quiet --bin checkpost
bin=target/debug/checkpost
work="$(mktemp -d)"
trap 'kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" snapshot build --input fixtures/watchlists/sample.csv --key fixtures/keys/hq-test.key \
    --out "$work/sample.cpsnap" --version ci-fixture
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --config fixtures/server/checkpost.toml --snapshot "$work/sample.cpsnap" \
    --data-dir "$work/data" --listen "127.0.0.1:$port" &
server_pid=$!
bash examples/python/run.sh "127.0.0.1:$port"
