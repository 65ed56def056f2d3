#!/usr/bin/env bash
# Durable audit under load: `checkpost serve` (1M synthetic snapshot, fresh data dir) driven by
# `checkpost loadgen`. Prints loadgen's JSON summary, then one line of store figures: audit
# records per commit (= per fsync under power-loss durability), database bytes per screening,
# bytes written to disk per screening (WAL appends + checkpoint copies, from /proc/PID/io), the
# server's own Screen latency and the commits' duration percentiles during the run
# (checkpost_rpc_duration_seconds, checkpost_store_commit_seconds; each is the upper bound of its
# bucket), the per-table split of the database (SQLite's dbstat), and how busy the host was
# (both cores' busy, iowait and hypervisor-steal shares over the run).
#
#   scripts/loadgen-durable.sh   # env: RATE=2000 DURATION=10s DURABILITY=power-loss|process-crash
#                                #      SERVER_THREADS=2 LOADGEN_THREADS=1 LOADGEN_ARGS=
#                                #      B=target/release/checkpost WORK=/tmp/cp-store PORT=50581
#
# Server and loadgen share the machine. The server gets SERVER_THREADS tokio workers (tokio's
# TOKIO_WORKER_THREADS), loadgen LOADGEN_THREADS (`--threads`) plus its sending thread.
set -euo pipefail

cd "$(dirname "$0")/.."
RATE=${RATE:-2000}
DURATION=${DURATION:-10s}
DURABILITY=${DURABILITY:-power-loss}
SERVER_THREADS=${SERVER_THREADS:-2}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
WORK=${WORK:-/tmp/cp-store}
PORT=${PORT:-50581}
METRICS_PORT=$((PORT + 1))
ENTRIES=${ENTRIES:-1000000}
B=${B:-target/release/checkpost}
SERVER=http://127.0.0.1:$PORT

mkdir -p "$WORK"
if [[ ! -f $WORK/synth-1.cpsnap ]]; then
  $B snapshot synth --entries "$ENTRIES" --seed 1 --out "$WORK/synth-1.csv"
  $B snapshot build --input "$WORK/synth-1.csv" --key fixtures/keys/hq-test.key \
    --out "$WORK/synth-1.cpsnap" --version synth-1m-seed1
fi

DATA=$WORK/data-$PORT
rm -rf "$DATA"
TOKIO_WORKER_THREADS=$SERVER_THREADS RUST_LOG=${RUST_LOG:-warn} $B serve \
  --listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  --snapshot "$WORK/synth-1.cpsnap" --hq-pubkey fixtures/keys/hq-test.pub \
  --rules fixtures/rules/sop.toml --data-dir "$DATA" --durability "$DURABILITY" >/dev/null &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if $B watchlists --server "$SERVER" status >/dev/null 2>&1; then break; fi
  sleep 1
done

loadgen() {
  # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
  $B loadgen --server "$SERVER" --synth-entries "$ENTRIES" --seed 1 --threads "$LOADGEN_THREADS" \
    --json "$@" ${LOADGEN_ARGS:-}
}
metric() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
# User and system CPU ticks of the server, as "user,system".
cpu_ticks() { awk '{ print $14 "," $15 }' "/proc/$SERVE/stat"; }
# The whole machine's CPU ticks (user nice system idle iowait irq softirq steal), comma-separated:
# how busy the two cores were, and how much time the hypervisor took (steal), during the run.
host_ticks() { awk '$1 == "cpu" { print $2 "," $3 "," $4 "," $5 "," $6 "," $7 "," $8 "," $9 }' /proc/stat; }
io_written() { awk '$1 == "write_bytes:" { print $2 }' "/proc/$SERVE/io"; }
db_bytes() { stat -c %s "$DATA/checkpost.db" 2>/dev/null || echo 0; }

# Warm-up (connections, page cache, first WAL pages); not measured.
loadgen --rate 200 --duration 2s >/dev/null || true
sleep 1
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics0-$PORT.txt"
batches0=$(metric checkpost_store_batches)
records0=$(metric checkpost_store_audit_records)
io0=$(io_written)
cpu0=$(cpu_ticks)
host0=$(host_ticks)
db0=$(db_bytes)

loadgen --rate "$RATE" --duration "$DURATION" | tee "$WORK/loadgen-$PORT.json" || true
sleep 1 # the background checkpointer copies the WAL into the database

curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics1-$PORT.txt"
batches1=$(metric checkpost_store_batches)
records1=$(metric checkpost_store_audit_records)
io1=$(io_written)
cpu1=$(cpu_ticks)
host1=$(host_ticks)
db1=$(db_bytes)
python3 - "$batches0" "$batches1" "$records0" "$records1" "$io0" "$io1" "$db0" "$db1" \
  "$DATA/checkpost.db" "$DURABILITY" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" \
  "$WORK/metrics0-$PORT.txt" "$WORK/metrics1-$PORT.txt" "$host0" "$host1" <<'EOF'
import re, sqlite3, sys
b0, b1, r0, r1, io0, io1, d0, d1 = (float(x or 0) for x in sys.argv[1:9])
(u0, s0), (u1, s1) = ((float(v) for v in x.split(",")) for x in sys.argv[11:13])
hz = float(sys.argv[13])
c0, c1 = u0 + s0, u1 + s1
records, batches = r1 - r0, b1 - b0
per = lambda x: x / records if records else 0
line = (f"store[{sys.argv[10]}]: {records:.0f} audit records in {batches:.0f} commits = "
        f"{records / max(batches, 1):.2f} records/commit; db +{per(d1 - d0):.0f} B/record; "
        f"written to disk {per(io1 - io0):.0f} B/record; server CPU {per((c1 - c0) / hz) * 1e6:.0f} us/record "
        f"(user {per((u1 - u0) / hz) * 1e6:.0f}, system {per((s1 - s0) / hz) * 1e6:.0f})")
def buckets(path, series):
    out = {}
    pattern = r'^' + series + r'_bucket\{([^}]*)\} (\d+)'
    for m in re.finditer(pattern, open(path).read(), re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("method", "checkpost.v1.Screening/Screen") == "checkpost.v1.Screening/Screen":
            out[float(labels["le"])] = int(m.group(2))
    return out
def quantiles(series, what):
    b0, b1 = buckets(sys.argv[14], series), buckets(sys.argv[15], series)
    cum = sorted((le, b1[le] - b0.get(le, 0)) for le in b1)
    n = cum[-1][1] if cum else 0
    def q(p):
        for le, c in cum:
            if c >= p * n:
                return f"<= {le * 1e3:g} ms"
        return "?"
    return f"; {what} p50 {q(0.5)}, p90 {q(0.9)}, p99 {q(0.99)}, p99.9 {q(0.999)}" if n else ""
# The server's own view of a Screen call (arrival to answer) beside loadgen's (intended send to
# answer): the difference is time spent queued in the client, the kernel or the scheduler.
line += quantiles("checkpost_rpc_duration_seconds", "server-side Screen")
line += quantiles("checkpost_store_commit_seconds", "commits")
try:
    con = sqlite3.connect(f"file:{sys.argv[9]}?mode=ro", uri=True)
    rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    n = con.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    line += "; tables (B/record, whole db): " + ", ".join(f"{t} {s / n:.0f}" for t, s in rows[:8])
except sqlite3.Error as e:
    line += f"; (no dbstat: {e})"
# The host during the run: busy (all but idle, iowait and steal), waiting on the disk, and stolen
# by the hypervisor, each a share of both cores' time. A run with steal of several percent ran on
# a contended host: compare its wall-clock figures with care.
h0, h1 = ([float(v) for v in x.split(",")] for x in sys.argv[16:18])
d = [b - a for a, b in zip(h0, h1)]
total = sum(d) or 1
user, nice, system, idle, iowait, irq, softirq, steal = d
line += (f"; host: busy {100 * (user + nice + system + irq + softirq) / total:.1f} %, "
         f"iowait {100 * iowait / total:.1f} %, steal {100 * steal / total:.1f} % of both cores")
print(line)
EOF
