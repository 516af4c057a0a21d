#!/usr/bin/env bash
# BullMQ peer of the engine benchmarks. Installs redis-server from apt if it is missing and
# bullmq from npm into this folder, starts Redis on 127.0.0.1 in a temp dir twice (no
# persistence, then appendonly yes + appendfsync everysec), runs bench.mjs against each, writes
# bench/reports/bullmq.json and stops every Redis it started.
#
# Sizes: SPIKE (100000), RATE (1000), SECS (60), DENSITY (1000000, no-persistence run only),
# CONCURRENCY (100 worker slots). Example smoke run: SPIKE=2000 SECS=5 DENSITY=10000 ./run.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/../../reports/bullmq.json}"
SPIKE="${SPIKE:-100000}"
RATE="${RATE:-1000}"
SECS="${SECS:-60}"
DENSITY="${DENSITY:-1000000}"
CONCURRENCY="${CONCURRENCY:-100}"

if ! command -v redis-server >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y redis-server >/dev/null
  # Debian's package may start a service of its own; this script stops what it started.
  $sudo_cmd service redis-server stop >/dev/null 2>&1 || true
fi

(cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

run_mode() {
  local mode="$1" port="$2" density="$3"
  shift 3
  mkdir -p "$work/$mode"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$work/$mode" --save "" "$@" \
    >"$work/$mode/redis.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  node "$here/bench.mjs" --port "$port" --spike "$SPIKE" --rate "$RATE" --secs "$SECS" \
    --density "$density" --concurrency "$CONCURRENCY" >"$work/$mode.json"
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_mode no_persistence 6391 "$DENSITY" --appendonly no
run_mode aof_everysec 6392 0 --appendonly yes --appendfsync everysec

mkdir -p "$(dirname "$out")"
BULLMQ_VERSION="$(node -p "require('$here/node_modules/bullmq/package.json').version")" \
REDIS_VERSION="$(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/')" \
WORK="$work" OUT="$out" node -e '
const fs = require("fs");
const read = (m) => JSON.parse(fs.readFileSync(`${process.env.WORK}/${m}.json`, "utf8"));
const report = {
  generated_at: new Date().toISOString(),
  cores: require("os").cpus().length,
  result: {
    scenario: "bullmq",
    bullmq_version: process.env.BULLMQ_VERSION,
    redis_version: process.env.REDIS_VERSION,
    node_version: process.version,
    runs: { no_persistence: read("no_persistence"), aof_everysec: read("aof_everysec") },
  },
};
fs.writeFileSync(process.env.OUT, JSON.stringify(report, null, 2));
console.log(JSON.stringify(report, null, 2));
'
