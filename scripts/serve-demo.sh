#!/usr/bin/env bash
# Starts checkpost on 127.0.0.1:50051 with the fixture watchlist (signed here with the test-only
# HQ key), the sample SOP rules and a data dir under ./data. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet --bin checkpost
bin=target/debug/checkpost
mkdir -p data
"$bin" snapshot build --input fixtures/watchlists/sample.csv --key fixtures/keys/hq-test.key \
    --out data/sample.cpsnap --version fixture
exec "$bin" serve --config fixtures/server/checkpost.toml "$@"
