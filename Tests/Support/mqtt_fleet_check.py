"""The fleet's independent subscriber (paho-mqtt): takes every message under
fusebox/+/ for SECONDS and checks each site's sequence numbers: from the first
it sees, every number must come, in order. Prints one JSON line: sites seen,
messages, messages per second, and per site the gaps (none expected).

usage: mqtt_fleet_check.py HOST PORT SECONDS
"""
import json
import sys
import time
from collections import defaultdict

import paho.mqtt.client as mqtt

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
seqs = defaultdict(list)
count = 0


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe("fusebox/+/#", qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    print("READY", flush=True)


def on_message(client, userdata, message):
    global count
    count += 1
    try:
        body = json.loads(message.payload)
    except ValueError:
        return
    if isinstance(body, dict) and isinstance(body.get("seq"), int):
        seqs[message.topic.split("/")[1]].append(body["seq"])


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fusebox-fleet-check")
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect(host, port)
client.loop_start()
time.sleep(seconds)
client.loop_stop()
gaps, out_of_order, duplicates = {}, 0, 0
for site, s in seqs.items():
    distinct = sorted(set(s))
    duplicates += len(s) - len(distinct)
    missing = distinct[-1] - distinct[0] + 1 - len(distinct)
    if missing:
        gaps[site] = missing
    first = []
    seen = set()
    for n in s:
        if n not in seen:
            seen.add(n)
            first.append(n)
    out_of_order += sum(1 for a, b in zip(first, first[1:]) if b < a)
print(json.dumps({"sites": len(seqs), "messages": count, "with_seq": sum(len(s) for s in seqs.values()),
                  "sites_with_gaps": len(gaps), "missing": sum(gaps.values()), "out_of_order": out_of_order, "duplicates": duplicates}), flush=True)
