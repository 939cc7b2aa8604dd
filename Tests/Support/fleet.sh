#!/bin/bash
# `make fleet`: SITES uplinks (fusebox-dev fleet) publishing once a second to
# Debian's mosquitto on loopback for SECONDS, and an independent subscriber
# (mqtt_fleet_check.py) checking every site's sequence numbers. Prints the
# fleet's report, the subscriber's, and the broker's CPU. docs/performance.md.
set -euo pipefail
SITES=${SITES:-100}
SECONDS_RUN=${SECONDS_RUN:-60}
DEV=${DEV:-.build/release/fusebox-dev}
dir=$(mktemp -d)
trap 'kill $broker $checker 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nuser %s\n' "$port" "$(id -un)" > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" > "$dir/broker.log" 2>&1 &
broker=$!
sleep 1
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# The subscriber listens through the whole run: the baseline, the fleet's seconds and its drain.
python3 Tests/Support/mqtt_fleet_check.py 127.0.0.1 "$port" $((SECONDS_RUN + 45)) > "$dir/check.out" &
checker=$!
sleep 2
before=$(ticks $broker)
start=$(date +%s%N)
"$DEV" fleet --port "$port" --sites "$SITES" --seconds "$SECONDS_RUN" > "$dir/fleet.json"
after=$(ticks $broker)
end=$(date +%s%N)
wait $checker
cat "$dir/fleet.json"
grep -v READY "$dir/check.out"
python3 -c "import json; s = ($end - $start) / 1e9; print(json.dumps({'broker_cpu_percent': round(100 * ($after - $before) / $hz / s, 2), 'over_seconds': round(s, 1)}))"
