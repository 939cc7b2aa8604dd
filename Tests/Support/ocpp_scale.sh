#!/bin/bash
# `make ocpp-scale`: STATIONS simulated OCPP 1.6J stations (fusebox sim, one
# WebSocket each, MeterValues every 10 s, a car each) connected at once to
# `fusebox run`, for SECONDS_RUN. Side by side in one run: the same site with
# the stations not connecting (every charger silent), then connected. Prints,
# for each: the cycle's work median and p99 and overruns (from fusebox run's
# last line), the controller's memory (VmRSS, VmHWM), and how many stations
# answered and charged (GET /api/chargers). docs/performance.md.
set -euo pipefail
STATIONS=${STATIONS:-200}
SECONDS_RUN=${SECONDS_RUN:-60}
BIN=${BIN:-.build/release/fusebox}
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

{
  echo "site: { noise: 0.5, base_load: [20, 20, 20] }"
  echo "chargers:"
  for i in $(seq -w 1 "$STATIONS"); do echo "  - { id: s$i, make: ocpp, phases: [$(( (10#$i % 3) + 1 )), $(( ((10#$i + 1) % 3) + 1 )), $(( ((10#$i + 2) % 3) + 1 ))], max: 16 }"; done
  echo "cars:"
  for i in $(seq -w 1 "$STATIONS"); do echo "  - { charger: s$i, arrive: 0s, phases: 3, max: 16, wanted: 60 }"; done
  echo "ocpp: { interval: 10 }"
} > "$dir/sim.yaml"

measure() {   # $1: label, $2: connect (yes/no)
  local ocpp_port; ocpp_port=$(free_port)
  local connect=()
  [ "$2" = yes ] && connect=(--ocpp "ws://127.0.0.1:$ocpp_port")
  "$BIN" sim --config "$dir/sim.yaml" --any-port --status 3600 "${connect[@]}" > "$dir/sim-$1.out" 2>&1 &
  local sim=$!; pids+=("$sim")
  for _ in $(seq 1 100); do grep -q '^ready' "$dir/sim-$1.out" 2>/dev/null && break; sleep 0.2; done
  local grid; grid=$(grep '^  grid' "$dir/sim-$1.out" | grep -o '127.0.0.1:[0-9]*' | cut -d: -f2)
  {
    echo "site: { name: OCPP scale, serial: SCALE-1, limit: { current: 1000, margin: 2 } }"
    echo "meters: { grid: { driver: sdm630, host: 127.0.0.1, port: $grid, unit: 1 } }"
    echo "chargers:"
    for i in $(seq -w 1 "$STATIONS"); do echo "  - { id: s$i, driver: ocpp, max: 16 }"; done
    echo "ocpp: { listen: \"127.0.0.1:$ocpp_port\" }"
    echo "http: { listen: \"127.0.0.1:0\" }"
    echo "history: { path: $dir/history-$1.db }"
  } > "$dir/site-$1.yaml"
  "$BIN" run --config "$dir/site-$1.yaml" --status-every 0 > "$dir/run-$1.out" 2>&1 &
  local run=$!; pids+=("$run")
  sleep "$SECONDS_RUN"
  local url; url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$dir/run-$1.out" | head -1)
  local answered
  answered=$(python3 Tests/Support/api_call.py "$url" admin SCALE-1 GET /api/chargers | tail -n +2 | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(sum(1 for x in c if x["responding"]), sum(1 for x in c if x["status"] == "charging"))')
  local rss hwm
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$run/status"); hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$run/status")
  kill -TERM "$run"; wait "$run" || true
  kill -TERM "$sim"; wait "$sim" || true
  local last; last=$(grep '^stopped after' "$dir/run-$1.out" || echo "stopped after ? cycles")
  python3 - "$1" "$last" "$rss" "$hwm" $answered <<'PY'
import json, re, sys
label, last, rss, hwm, answered, charging = sys.argv[1:7]
m = re.search(r"after (\d+) cycles: (\d+) over the deadline, cycle work median ([\d.]+) ms, p99 ([\d.]+) ms", last)
print(json.dumps({"stations": label, "cycles": int(m[1]), "overruns": int(m[2]), "work_median_ms": float(m[3]), "work_p99_ms": float(m[4]),
                  "rss_mb": round(int(rss) / 1024, 1), "peak_rss_mb": round(int(hwm) / 1024, 1),
                  "answering": int(answered), "charging": int(charging)}))
PY
}

measure silent no
measure connected yes
