"""An independent subscriber (paho-mqtt) that counts what an uplink sends:
subscribes to TOPIC on HOST:PORT with QoS 1 and a persistent session (so the
broker keeps its messages across a restart of the broker), prints READY once
subscribed, CONNECTED on every connection, and each message that carries a
sequence number as "SEQ <seq> <topic>". Stops when the file STOP exists, or
after SECONDS; then prints a summary line:
  SUMMARY received=N distinct=D first=A last=B missing=M out_of_order=O duplicates=U

usage: mqtt_count.py HOST PORT TOPIC CLIENT_ID STOP SECONDS
"""
import json
import os
import sys
import time

import paho.mqtt.client as mqtt

host, port, topic, client_id, stop, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
seqs = []


def on_connect(client, userdata, flags, reason, properties):
    print("CONNECTED", flush=True)
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    print("READY", flush=True)


def on_message(client, userdata, message):
    try:
        body = json.loads(message.payload)
    except ValueError:
        return
    if isinstance(body, dict) and isinstance(body.get("seq"), int):
        seqs.append(body["seq"])
        print(f"SEQ {body['seq']} {message.topic}", flush=True)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.reconnect_delay_set(min_delay=1, max_delay=2)
client.connect(host, port)
client.loop_start()
end = time.time() + seconds
while not os.path.exists(stop) and time.time() < end:
    time.sleep(0.05)
client.loop_stop()
distinct = sorted(set(seqs))
missing = (distinct[-1] - distinct[0] + 1 - len(distinct)) if distinct else 0
first_seen = []
seen = set()
for s in seqs:
    if s not in seen:
        seen.add(s)
        first_seen.append(s)
out_of_order = sum(1 for a, b in zip(first_seen, first_seen[1:]) if b < a)
print(f"SUMMARY received={len(seqs)} distinct={len(distinct)} first={distinct[0] if distinct else 0} "
      f"last={distinct[-1] if distinct else 0} missing={missing} out_of_order={out_of_order} duplicates={len(seqs) - len(distinct)}", flush=True)
