#!/usr/bin/env bash
# Swap under load: `checkpost loadgen` drives `checkpost serve` (1M-entry snapshot) while a
# second 1M snapshot is uploaded and activated with `checkpost watchlists upload --activate`.
# Prints the loadgen summary without a swap (baseline) and with one; the swap run must show
# zero errors. Release build; server, loadgen and uploader share the machine.
#
#   scripts/swap-under-load.sh   # env: RATE=500 DURATION=30s PORT=50555 WORK=/tmp/cp-swap SKIP_BUILD=
set -euo pipefail

cd "$(dirname "$0")/.."
RATE=${RATE:-500}
DURATION=${DURATION:-30s}
SWAP_AFTER=${SWAP_AFTER:-5}
PORT=${PORT:-50555}
WORK=${WORK:-/tmp/cp-swap}
ENTRIES=${ENTRIES:-1000000}
B=target/release/checkpost
SERVER=http://127.0.0.1:$PORT

[[ -n ${SKIP_BUILD:-} ]] || cargo build --release --bin checkpost
mkdir -p "$WORK"

for seed in 1 2; do
  if [[ ! -f $WORK/synth-$seed.cpsnap ]]; then
    $B snapshot synth --entries "$ENTRIES" --seed "$seed" --out "$WORK/synth-$seed.csv"
    # Built in seed order, so the second snapshot is newer than the first.
    $B snapshot build --input "$WORK/synth-$seed.csv" --key fixtures/keys/hq-test.key \
      --out "$WORK/synth-$seed.cpsnap" --version "synth-1m-seed$seed"
  fi
done

rm -rf "$WORK/data"
RUST_LOG=${RUST_LOG:-warn} $B serve --listen "127.0.0.1:$PORT" --snapshot "$WORK/synth-1.cpsnap" \
  --hq-pubkey fixtures/keys/hq-test.pub --rules fixtures/rules/sop.toml \
  --data-dir "$WORK/data" --durability process-crash &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  if $B watchlists --server "$SERVER" status >/dev/null 2>&1; then break; fi
  sleep 1
done
$B watchlists --server "$SERVER" status

loadgen() {
  $B loadgen --server "$SERVER" --rate "$RATE" --duration "$DURATION" \
    --synth-entries "$ENTRIES" --seed 1 --json
}

echo "== baseline (no swap): $RATE req/s for $DURATION"
loadgen | tee "$WORK/baseline.json"

echo "== swap: $RATE req/s for $DURATION; upload + activate synth-2 after ${SWAP_AFTER}s"
loadgen >"$WORK/swap.json" &
LOAD=$!
sleep "$SWAP_AFTER"
start=$(date +%s.%N)
$B watchlists --server "$SERVER" upload "$WORK/synth-2.cpsnap" --activate
end=$(date +%s.%N)
echo "upload + verify + index + activate took $(echo "$end - $start" | bc) s"
wait $LOAD || true  # loadgen exits non-zero on errors; the summary below judges
cat "$WORK/swap.json"
$B watchlists --server "$SERVER" status

python3 - "$WORK/baseline.json" "$WORK/swap.json" <<'EOF'
import json, sys
rows = [("baseline", json.load(open(sys.argv[1]))), ("swap", json.load(open(sys.argv[2])))]
print("| run | calls | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, r in rows:
    l = r["latency_ms"]
    print(f"| {name} | {r['calls']} | {r['errors']} | {l['p50']:.2f} | {l['p90']:.2f} | "
          f"{l['p99']:.2f} | {l['p99.9']:.2f} | {l['max']:.2f} |")
swap = rows[1][1]
if swap["errors"] or swap.get("dropped", 0):
    sys.exit(f"FAILED: {swap['errors']} errors, {swap.get('dropped', 0)} dropped during the swap")
EOF
