"""The uplink end to end, checked by an independent client (paho-mqtt, MQTT 5,
over TLS with the test's CA): what `fusebox run` publishes, Home Assistant
discovery, each command and its answer, bad commands refused with nothing
changed, the last will when the process is killed, and what a retained
command does after the restart.

Prints "OK <step>" per step; at the first failure "FAIL <step>: <why>" and
exits 1. Before the kill it prints "KILL" and waits for the file RESTARTED.

usage: mqtt_e2e.py HOST TLS_PORT CA PREFIX STATIONS RESTARTED
"""
import json
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

host, port, ca, prefix, stations, restarted = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(","), sys.argv[6]
messages = []
lock = threading.Lock()


class Failed(Exception):
    pass


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(prefix + "#", qos=1)
    client.subscribe("homeassistant/#", qos=1)
    client.subscribe("portal/answers/#", qos=1)


def on_message(client, userdata, m):
    with lock:
        messages.append(m)


def payload(m):
    try:
        return json.loads(m.payload)
    except ValueError:
        return None


def wait_for(what, predicate, timeout=10.0, since=0):
    """The first message from index `since` on that matches, within `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        with lock:
            found = [m for m in messages[since:] if predicate(m)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise Failed(f"no {what} within {timeout} s")


def mark():
    with lock:
        return len(messages)


def ok(step):
    print(f"OK {step}", flush=True)


def check(condition, why):
    if not condition:
        raise Failed(why)


def command(topic, body, retain=False, properties=None):
    start = mark()
    client.publish(prefix + topic, body, qos=1, retain=retain, properties=properties)
    return start


def result_for(topic, since, timeout=5.0):
    m = wait_for(f"result for {topic}", lambda m: m.topic == prefix + "result" and (payload(m) or {}).get("topic") == prefix + topic, timeout, since)
    return payload(m)


def latest(topic, since=0, predicate=lambda body: True, timeout=10.0):
    m = wait_for(topic, lambda m: m.topic == prefix + topic and isinstance(payload(m), dict) and predicate(payload(m)), timeout, since)
    return payload(m)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fusebox-test-portal", protocol=mqtt.MQTTv5)
client.tls_set(ca_certs=ca)
client.on_connect, client.on_message = on_connect, on_message
step = "connect"
try:
    client.connect(host, port)
    client.loop_start()

    step = "availability"
    m = wait_for("status", lambda m: m.topic == prefix + "status")
    check(m.payload == b"online" and m.retain, f"status {m.payload!r} retained={m.retain}")
    ok(step)

    step = "samples"
    grid = latest("grid")
    for key, n in [("current_a", 3), ("voltage_v", 3), ("budget_a", 3), ("limit_a", 3)]:
        check(isinstance(grid.get(key), list) and len(grid[key]) == n and all(isinstance(x, (int, float)) for x in grid[key]), f"grid {key}: {grid}")
    check(isinstance(grid.get("seq"), int) and isinstance(grid.get("time"), (int, float)), f"grid seq/time: {grid}")
    check(isinstance(latest("pv").get("power_w"), (int, float)), "pv power_w")
    check(latest("ripple").get("mode") in ("normal", "reduced", "locked"), "ripple mode")
    for s in stations:
        body = latest("stations/" + s)
        check(body.get("status") in ("free", "occupied", "charging", "discharging", "unavailable"), f"{s} status: {body}")
        for key in ("limit_a", "session_energy_kwh", "max_a"):
            check(isinstance(body.get(key), (int, float)), f"{s} {key}: {body}")
        check(len(body.get("current_a", [])) == 3 and isinstance(body.get("reason"), str) and body.get("id") == s, f"{s}: {body}")
    start = mark()
    time.sleep(2.5)
    with lock:
        seqs = [payload(m)["seq"] for m in messages[start:] if m.topic.startswith(prefix) and isinstance(payload(m), dict) and "seq" in payload(m)]
    check(len(seqs) >= 5 and seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"sequence numbers in order, once: {seqs[:20]}")
    ok(step)

    step = "discovery"
    node = None
    with lock:
        configs = {m.topic: payload(m) for m in messages if m.topic.startswith("homeassistant/") and m.topic.endswith("/config")}
    need = 12 + 1 + 1 + 5 * len(stations)
    check(len(configs) >= need, f"{len(configs)} discovery configs, expected {need}")
    for topic, c in configs.items():
        check(c.get("availability_topic") == prefix + "status" and c.get("unique_id") and c.get("device", {}).get("identifiers"), f"{topic}: {c}")
    by_object = {t.split("/")[3]: c for t, c in configs.items()}
    check(by_object["grid_l2_current"]["device_class"] == "current" and by_object["grid_l2_current"]["unit_of_measurement"] == "A"
          and by_object["grid_l2_current"]["state_class"] == "measurement", "grid current sensor")
    check(by_object["grid_l3_voltage"]["device_class"] == "voltage" and by_object["grid_l1_power"]["unit_of_measurement"] == "W", "voltage, power")
    energy = by_object[f"station_{stations[0]}_energy"]
    check(energy["device_class"] == "energy" and energy["unit_of_measurement"] == "kWh" and energy["state_class"] == "total_increasing", f"{energy}")
    number = by_object[f"station_{stations[0]}_limit"]
    check(number["command_topic"] == prefix + f"stations/{stations[0]}/limit/set" and number["max"] > 0, f"{number}")
    switch = by_object[f"station_{stations[0]}_enabled"]
    check(json.loads(switch["payload_off"]) == {"enabled": False}, f"{switch}")
    select = by_object["ripple_mode"]
    check(select["options"] == ["normal", "reduced", "locked"] and select["command_topic"] == prefix + "ripple/set", f"{select}")
    ok(step)

    step = "discovery again when Home Assistant starts"
    start = mark()
    client.publish("homeassistant/status", "online", qos=1)
    wait_for("discovery again", lambda m: m.topic.startswith("homeassistant/sensor/") and m.topic.endswith("/config"), 5, start)
    ok(step)

    step = "commands"
    s1, s2 = stations[0], stations[1]
    since = command(f"stations/{s1}/limit/set", json.dumps({"amps": 6, "ttl": 600, "id": "c1"}))
    r = result_for(f"stations/{s1}/limit/set", since)
    check(r["ok"] and r["id"] == "c1" and r["applied"] == {"station": s1, "amps": 6, "ttl": 600}, f"{r}")
    body = latest("stations/" + s1, since, lambda b: b.get("remote_limit_a") == 6 and b["limit_a"] <= 6)
    wait_for("the event naming MQTT", lambda m: m.topic == prefix + "events" and "by MQTT" in (payload(m) or {}).get("message", ""), 5, since)
    since = command("site/limit/set", json.dumps({"amps": 30, "ttl": 600}))
    check(result_for("site/limit/set", since)["ok"], "site limit")
    latest("grid", since, lambda b: b.get("site_limit_a") == 30 and max(b["limit_a"]) <= 30)
    since = command("ripple/set", json.dumps({"mode": "reduced", "ttl": 600}))
    check(result_for("ripple/set", since)["ok"], "ripple")
    latest("ripple", since, lambda b: b["mode"] == "reduced" and b["source"] == "remote")
    since = command(f"stations/{s2}/enabled/set", json.dumps({"enabled": False}))
    check(result_for(f"stations/{s2}/enabled/set", since)["ok"], "enabled")
    latest("stations/" + s2, since, lambda b: b["enabled"] is False and b["limit_a"] == 0)
    since = command(f"stations/{s2}/priority/set", json.dumps({"priority": 2}))
    check(result_for(f"stations/{s2}/priority/set", since)["ok"], "priority")
    latest("stations/" + s2, since, lambda b: b["priority"] == 2)
    since = command("ripple/set", json.dumps({"mode": None}))
    check(result_for("ripple/set", since)["applied"] == {"cleared": True}, "ripple cleared")
    ok(step)

    step = "MQTT 5 response topic and correlation data"
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "portal/answers/7"
    props.CorrelationData = b"req-42"
    since = command("site/limit/set", json.dumps({"amps": 31, "ttl": 600}), properties=props)
    m = wait_for("the answer on the response topic", lambda m: m.topic == "portal/answers/7", 5, since)
    check(payload(m)["ok"] and getattr(m.properties, "CorrelationData", None) == b"req-42", f"{m.payload} {m.properties}")
    # Its event comes with the next cycle: waited for, so that the next step sees only what comes after.
    wait_for("the event of the last command", lambda m: m.topic == prefix + "events" and "site limit 31" in (payload(m) or {}).get("message", ""), 5, since)
    time.sleep(1.2)
    ok(step)

    step = "bad commands refused, nothing changed"
    bad = [("garbage", f"stations/{s1}/limit/set", b"{{{ not json", "body"),
           ("NaN", f"stations/{s1}/limit/set", b'{"amps": NaN}', "body"),
           ("negative", f"stations/{s1}/limit/set", b'{"amps": -3}', "amps"),
           ("unknown station", "stations/nosuch/limit/set", b'{"amps": 3}', "id"),
           ("wrong type", f"stations/{s1}/limit/set", b'{"amps": "3"}', "amps"),
           ("1 MB", f"stations/{s1}/limit/set", b"x" * 1048576, "payload"),
           ("wrong type for enabled", f"stations/{s1}/enabled/set", b'{"enabled": 0}', "enabled")]
    before = mark()
    for name, topic, body, field in bad:
        since = command(topic, body)
        r = result_for(topic, since)
        check(r["ok"] is False and r.get("field") == field and r.get("error"), f"{name}: {r}")
    latest("stations/" + s1, mark(), lambda b: b.get("remote_limit_a") == 6 and b["enabled"] is True)
    with lock:
        events = [payload(m) for m in messages[before:] if m.topic == prefix + "events"]
    check(not any("by MQTT" in e.get("message", "") for e in events), f"a refused command left an event: {events}")
    ok(step)

    step = "a flood of 300 commands: refused past the rate, nothing stops"
    since = mark()
    for n in range(300):
        client.publish(prefix + f"stations/{s1}/priority/set", json.dumps({"priority": n % 7}), qos=0)
    time.sleep(3)
    with lock:
        results = [payload(m) for m in messages[since:] if m.topic == prefix + "result"]
    rated = [r for r in results if r.get("field") == "rate"]
    check(len(rated) > 100 and sum(1 for r in results if r["ok"]) <= 120, f"{len(results)} answers, {len(rated)} refused for the rate")
    time.sleep(3)  # the bucket fills again
    since = command(f"stations/{s1}/priority/set", json.dumps({"priority": 0}))
    check(result_for(f"stations/{s1}/priority/set", since, 10)["ok"], "a command after the flood")
    latest("grid", mark())
    ok(step)

    step = "another site's prefix ignored"
    since = mark()
    client.publish("fusebox/OTHER-SITE/site/limit/set", json.dumps({"amps": 1}), qos=1)
    time.sleep(2)
    with lock:
        answers = [m for m in messages[since:] if m.topic.endswith("/result")]
    check(not answers, f"answered: {[a.payload for a in answers]}")
    latest("grid", mark(), lambda b: b.get("site_limit_a") == 31)
    ok(step)

    step = "retained commands before the restart"
    now = time.time()
    since = command(f"stations/{s1}/limit/set", json.dumps({"amps": 5, "ttl": 600}), retain=True)
    check(result_for(f"stations/{s1}/limit/set", since)["ok"], "retained limit applied live")
    since = command("site/limit/set", json.dumps({"amps": 25, "ttl": 600, "at": now}), retain=True)
    check(result_for("site/limit/set", since)["ok"], "retained site limit with at applied live")
    last_seq = latest("grid", mark())["seq"]
    ok(step)

    step = "last will on a killed process"
    since = mark()
    print("KILL", flush=True)
    m = wait_for("offline", lambda m: m.topic == prefix + "status" and m.payload == b"offline", 30, since)
    ok(step)

    step = "after the restart"
    end = time.time() + 120
    while not os.path.exists(restarted) and time.time() < end:
        time.sleep(0.1)
    wait_for("online again", lambda m: m.topic == prefix + "status" and m.payload == b"online", 60, since)
    r = result_for(f"stations/{s1}/limit/set", since, 30)
    check(r["ok"] is False and r["field"] == "retain", f"a retained command without at applied again: {r}")
    wait_for("the retained command cleared", lambda m: m.topic == prefix + f"stations/{s1}/limit/set" and m.payload == b"", 10, since)
    r = result_for("site/limit/set", since, 30)
    check(r["ok"] and r["applied"]["amps"] == 25 and 500 < r["applied"]["ttl"] < 600, f"the retained command with at: {r}")
    # A message in flight when the process was killed may come again, with its own number; new ones go on from there.
    latest("grid", since, lambda b: b.get("site_limit_a") == 25 and b["seq"] > last_seq, 30)
    with lock:
        by_seq = {}
        for m in messages:
            body = payload(m) if m.topic.startswith(prefix) else None
            if isinstance(body, dict) and isinstance(body.get("seq"), int):
                check(by_seq.setdefault(body["seq"], m.payload) == m.payload, f"seq {body['seq']} came with two payloads")
    ok(step)
except Failed as e:
    print(f"FAIL {step}: {e}", flush=True)
    sys.exit(1)
except Exception as e:  # noqa: BLE001 - any other error is a failure of the step too
    print(f"FAIL {step}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
finally:
    client.loop_stop()
