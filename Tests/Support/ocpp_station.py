"""Independent OCPP 1.6J charge points for the central system's tests: the
`ocpp` package from PyPI (2.1.0) with `websockets`, written without Fusebox's
code. The library checks every answer against OCPP 1.6's JSON schemas.

Prints "OK <step>" per step; at the first failure "FAIL <step>: <why>" and
exits 1.

usage: ocpp_station.py WS_URL    (ws://127.0.0.1:PORT; stations cp1 and cp2 are allowed, cp3 with key s3cret-key)
"""
import asyncio
import base64
import json
import sys
from datetime import datetime, timezone

import websockets
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, RegistrationStatus

url = sys.argv[1].rstrip("/")


class Failed(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failed(why)


def now():
    return datetime.now(timezone.utc).isoformat()


async def raw_answer(ws, text):
    await ws.send(text)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def main():
    step = "connect"
    try:
        step = "boot, heartbeat, status, a transaction with meter values"
        async with websockets.connect(url + "/cp1", subprotocols=["ocpp1.6"]) as ws:
            check(ws.subprotocol == "ocpp1.6", f"subprotocol {ws.subprotocol}")
            station = ChargePoint("cp1", ws, response_timeout=5)
            runner = asyncio.create_task(station.start())
            r = await station.call(call.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra AC"))
            check(r.status == RegistrationStatus.accepted and r.interval > 0, f"{r}")
            r = await station.call(call.Heartbeat())
            check(r.current_time, f"{r}")
            await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.preparing))
            r = await station.call(call.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000, timestamp=now()))
            check(r.transaction_id > 0 and r.id_tag_info["status"] == "Accepted", f"{r}")
            await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging))
            await station.call(call.MeterValues(connector_id=1, transaction_id=r.transaction_id, meter_value=[{
                "timestamp": now(), "sampled_value": [
                    {"value": "15.8", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "15.9", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
                    {"value": "16.0", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
                    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
            r = await station.call(call.DataTransfer(vendor_id="com.example", message_id="hello"))
            check(r.status in ("Accepted", "UnknownVendorId", "UnknownMessageId", "Rejected"), f"{r}")
            print("OK " + step, flush=True)

            step = "bad frames answered with OCPP errors"
            async with websockets.connect(url + "/cp2", subprotocols=["ocpp1.6"]) as raw:
                for text, code in [("{{{ not json", "FormationViolation"), ('[2,"u1","Reset",{"type":"Hard"}]', "NotImplemented"),
                                   ('[2,"u2","StatusNotification",{"connectorId":"1","errorCode":"NoError","status":"Charging"}]', "TypeConstraintViolation"),
                                   ('[2,"u3","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]', "PropertyConstraintViolation"),
                                   ('[2,"u4","BootNotification",{}]', "OccurenceConstraintViolation")]:
                    answer = await raw_answer(raw, text)
                    check(answer[0] == 4 and answer[2] == code, f"{text}: {answer}")
                print("OK " + step, flush=True)

                step = "a flood of 1000 calls: each answered, nothing stops"
                for n in range(1000):
                    await raw.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
                answered = 0
                while answered < 1000:
                    a = json.loads(await asyncio.wait_for(raw.recv(), 10))
                    check(a[0] == 3, f"{a}")
                    answered += 1
                r = await station.call(call.Heartbeat())
                check(r.current_time, "cp1 answered after cp2's flood")
                print("OK " + step, flush=True)

            step = "a 1 MB frame closes that connection, and only that one"
            async with websockets.connect(url + "/cp2", subprotocols=["ocpp1.6"], max_size=None) as big:
                await big.send("x" * 1048576)
                try:
                    await asyncio.wait_for(big.recv(), 10)
                    raise Failed("answered a 1 MB frame")
                except websockets.ConnectionClosed:
                    pass
            r = await station.call(call.Heartbeat())
            check(r.current_time, "cp1 answered after the 1 MB frame")
            print("OK " + step, flush=True)

            step = "a second connection with the same id takes the station over"
            async with websockets.connect(url + "/cp1", subprotocols=["ocpp1.6"]) as second:
                answer = await raw_answer(second, '[2,"s1","Heartbeat",{}]')
                check(answer[0] == 3, f"{answer}")
                try:
                    await station.call(call.Heartbeat())
                    raise Failed("the first connection was still answered")
                except (websockets.ConnectionClosed, asyncio.TimeoutError):
                    pass
                answer = await raw_answer(second, '[2,"s2","Heartbeat",{}]')
                check(answer[0] == 3, f"the second connection after the first was closed: {answer}")
            runner.cancel()
            print("OK " + step, flush=True)

        step = "refused: no ocpp1.6 subprotocol, an unknown station, another path"
        for path, protocols in [("/cp1", None), ("/cp1", ["ocpp2.0.1"]), ("/intruder", ["ocpp1.6"]), ("/a/b", ["ocpp1.6"])]:
            try:
                async with websockets.connect(url + path, subprotocols=protocols):
                    raise Failed(f"{path} {protocols}: connected")
            except websockets.InvalidStatus as e:
                check(e.response.status_code in (400, 404), f"{path}: {e.response.status_code}")
        print("OK " + step, flush=True)

        step = "security profile 1: cp3 with its key; without it, or with another, refused"
        def basic(user, key):
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}
        async with websockets.connect(url + "/cp3", subprotocols=["ocpp1.6"], additional_headers=basic("cp3", "s3cret-key")) as keyed:
            answer = await raw_answer(keyed, '[2,"k1","Heartbeat",{}]')
            check(answer[0] == 3, f"{answer}")
        for headers in [None, basic("cp3", "guess"), basic("cp1", "s3cret-key"), {"Authorization": "Basic !!!"}]:
            try:
                async with websockets.connect(url + "/cp3", subprotocols=["ocpp1.6"], additional_headers=headers):
                    raise Failed(f"{headers}: connected")
            except websockets.InvalidStatus as e:
                check(e.response.status_code in (400, 401, 404), f"{headers}: {e.response.status_code}")
        print("OK " + step, flush=True)
    except Failed as e:
        print(f"FAIL {step}: {e}", flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any other error fails the step too
        print(f"FAIL {step}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


asyncio.run(main())
