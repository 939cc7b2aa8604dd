"""Fusebox as a proxy between a station and its billing backend, both played
by the `ocpp` package (2.1.0, with `websockets`), written without Fusebox's
code: the backend is a central system on BACKEND_PORT, the station connects
to Fusebox, whose site names the backend as the station's upstream.

Prints "OK <step>" per step; at the first failure "FAIL <step>: <why>" and
exits 1.

usage: ocpp_proxy.py FUSEBOX_WS_URL BACKEND_PORT STATION
"""
import asyncio
import json
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (Action, AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, ChargingProfileStatus,
                            RegistrationStatus)

fusebox, backend_port, station_id = sys.argv[1].rstrip("/"), int(sys.argv[2]), sys.argv[3]
received = []          # every frame the backend got, as parsed JSON, in order
backend_cp = {}        # the backend's side of the station's connection
arrived = asyncio.Event()
next_transaction = [5000]


class Failed(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failed(why)


def now():
    return datetime.now(timezone.utc).isoformat()


class Backend(ChargePoint):
    async def route_message(self, raw):
        received.append(json.loads(raw))
        arrived.set()
        await super().route_message(raw)

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor, charge_point_model, **kwargs):
        return call_result.BootNotification(current_time=now(), interval=77, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kwargs):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag, **kwargs):
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        next_transaction[0] += 1
        return call_result.StartTransaction(transaction_id=next_transaction[0], id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **kwargs):
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs):
        return call_result.MeterValues()


async def serve_backend(websocket):
    cp = Backend(websocket.request.path.strip("/").split("/")[-1], websocket)
    backend_cp["cp"] = cp
    try:
        await cp.start()
    except websockets.ConnectionClosed:
        pass


profiles = []          # (stack level, limit, purpose) as the station got them
profile_arrived = asyncio.Event()


class Station(ChargePoint):
    @on(Action.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **kwargs):
        p = cs_charging_profiles
        profiles.append((int(p["stack_level"]), float(p["charging_schedule"]["charging_schedule_period"][0]["limit"]),
                         p["charging_profile_purpose"]))
        profile_arrived.set()
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)


def in_force():
    """The default profile in force: the one with the highest stack level (OCPP 1.6, 3.13.2), the
    latest of that level (a profile with the same id replaces the one before)."""
    defaults = [p for p in profiles if p[2] == "TxDefaultProfile"]
    return max(reversed(defaults), key=lambda p: p[0]) if defaults else None


async def until(condition, seconds, why):
    """Waits for `condition`; `why()` says what was seen if it does not come."""
    end = asyncio.get_running_loop().time() + seconds
    while not condition():
        left = end - asyncio.get_running_loop().time()
        check(left > 0, why())
        arrived.clear()
        profile_arrived.clear()
        waiters = [asyncio.create_task(arrived.wait()), asyncio.create_task(profile_arrived.wait())]
        await asyncio.wait(waiters, timeout=min(left, 0.5), return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()


async def main():
    step = "start"
    try:
        server = await websockets.serve(serve_backend, "127.0.0.1", backend_port, subprotocols=["ocpp1.6"])
        ws = await websockets.connect(f"{fusebox}/{station_id}", subprotocols=["ocpp1.6"])
        station = Station(station_id, ws)
        runner = asyncio.create_task(station.start())

        async def send(uid, payload):
            return await station.call(payload, unique_id=uid)

        step = "forwarded both ways, unchanged and in order"
        boot = await send("st-1", call.BootNotification(charge_point_vendor="Proxied", charge_point_model="Station"))
        check(boot.interval == 77, f"the station's boot answer came from the backend (interval 77), got {boot}")
        await send("st-2", call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.preparing))
        await send("st-3", call.Authorize(id_tag="CARD-7"))
        started = await send("st-4", call.StartTransaction(connector_id=1, id_tag="CARD-7", meter_start=1000, timestamp=now()))
        check(started.transaction_id == 5001, f"the backend's transaction id reached the station: {started}")
        tx = started.transaction_id
        await send("st-5", call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging))
        for k, wh in ((6, 1500), (7, 2000)):
            await send(f"st-{k}", call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{"timestamp": now(), "sampled_value": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "10.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"}]}]))
        ids = [f[1] for f in received if f[0] == 2]
        check(ids == [f"st-{k}" for k in range(1, 8)], f"the backend got the station's calls in order with their ids: {ids}")
        actions = [f[2] for f in received if f[0] == 2]
        check(actions == ["BootNotification", "StatusNotification", "Authorize", "StartTransaction", "StatusNotification", "MeterValues",
                          "MeterValues"], f"{actions}")
        mv = [f for f in received if f[0] == 2 and f[1] == "st-7"][0][3]
        check(mv["transactionId"] == tx and mv["meterValue"][0]["sampledValue"][0]["value"] == "2000", f"payload unchanged: {mv}")
        print(f"OK {step}", flush=True)

        step = "Fusebox's own limit reaches the station above stack level 0"
        await until(lambda: in_force() is not None and in_force()[0] >= 1 and in_force()[1] == 12, 20,
                    lambda: f"Fusebox's profile with the station's 12 A: {profiles}")
        print(f"OK {step}: {in_force()}", flush=True)

        step = "the backend's lower profile is forwarded, and Fusebox's above it allows no more"
        cp = backend_cp["cp"]
        answer = await cp.call(call.SetChargingProfile(connector_id=0, cs_charging_profiles={
            "charging_profile_id": 9, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 8}]}}), unique_id="be-1")
        check(answer.status == "Accepted", f"the station's answer reached the backend: {answer}")
        check((0, 8.0, "TxDefaultProfile") in profiles, f"the backend's profile reached the station unchanged: {profiles}")
        await until(lambda: in_force()[0] >= 1 and in_force()[1] == 8, 15, lambda: f"in force the backend's 8 A, from Fusebox's profile: {profiles}")
        print(f"OK {step}: {in_force()}", flush=True)

        step = "a higher backend profile: Fusebox's lower limit is in force"
        await cp.call(call.SetChargingProfile(connector_id=0, cs_charging_profiles={
            "charging_profile_id": 9, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 32}]}}), unique_id="be-2")
        await until(lambda: in_force()[0] >= 1 and in_force()[1] == 12, 15, lambda: f"Fusebox's 12 A in force again: {profiles}")
        print(f"OK {step}: {in_force()}", flush=True)

        step = "the backend goes away: the station is answered by Fusebox and keeps its limit"
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1.5)
        before = len(received)
        for k, wh in ((8, 2500), (9, 3000)):
            mv_answer = await send(f"st-{k}", call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{"timestamp": now(), "sampled_value": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
            check(mv_answer is not None, "answered")
        await send("st-10", call.StopTransaction(transaction_id=tx, meter_stop=3200, timestamp=now()))
        second = await send("st-11", call.StartTransaction(connector_id=1, id_tag="CARD-8", meter_start=3200, timestamp=now()))
        local_tx = second.transaction_id
        await send("st-12", call.MeterValues(connector_id=1, transaction_id=local_tx, meter_value=[{"timestamp": now(), "sampled_value": [
            {"value": "3300", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        check(len(received) == before, "nothing reached the backend while it was away")
        print(f"OK {step}", flush=True)

        step = "the backend is back: what waited arrives in order, unchanged but for the transaction it numbered"
        server = await websockets.serve(serve_backend, "127.0.0.1", backend_port, subprotocols=["ocpp1.6"])
        await until(lambda: sum(1 for f in received if f[0] == 2 and f[1] == "st-12") == 1, 20,
                    lambda: f"the queued calls reached the backend: {[f[1] for f in received if f[0] == 2][-6:]}")
        late = [f for f in received[before:] if f[0] == 2]
        check([f[1] for f in late] == ["st-8", "st-9", "st-10", "st-11", "st-12"], f"in order: {[f[1] for f in late]}")
        check(late[2][3] == {"transactionId": tx, "meterStop": 3200, "timestamp": late[2][3]["timestamp"]}, f"{late[2]}")
        check(late[4][3]["transactionId"] == 5002, f"the new transaction as the backend numbered it (5002, Fusebox's was {local_tx}): {late[4]}")
        print(f"OK {step}", flush=True)

        runner.cancel()
        await ws.close()
        server.close()
    except Failed as e:
        print(f"FAIL {step}: {e}", flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {step}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


asyncio.run(asyncio.wait_for(main(), 120))
