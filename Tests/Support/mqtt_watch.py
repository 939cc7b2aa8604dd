"""An independent MQTT client (paho-mqtt) for the uplink's tests: subscribes to
TOPIC on the broker at HOST:PORT, prints READY once subscribed, then each
message as "topic payload retained", and exits after COUNT messages (or
after SECONDS, with status 1).

usage: mqtt_watch.py HOST PORT TOPIC COUNT SECONDS
"""
import sys
import time

import paho.mqtt.client as mqtt

host, port, topic, count, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
seen = []


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    print("READY", flush=True)


def on_message(client, userdata, message):
    seen.append(message)
    print(f"{message.topic} {message.payload.decode('utf-8', 'replace')} {int(message.retain)}", flush=True)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fusebox-test-watch")
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect(host, port)
client.loop_start()
end = time.time() + seconds
while len(seen) < count and time.time() < end:
    time.sleep(0.02)
client.loop_stop()
sys.exit(0 if len(seen) >= count else 1)
