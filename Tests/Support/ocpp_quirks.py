"""Independent OCPP 1.6J charge points (the `ocpp` package, 2.1.0) that each
behave as one kind of real station, for `fusebox run` to cope with. Each boots,
reports Charging and its current, prints a line per call it gets
(LIMIT <limit> <unit> stack <level>, REFUSED ..., CONFIG <key>=<value>,
TRIGGER <message>, SCHEDULE, IGNORED <action>) and runs for SECONDS, then exits 0.

  stack0   refuses a profile above stack level 0 (as ABB Terra AC does)
  silent   never answers a call of the central system
  ignore   accepts every profile and goes on drawing 16 A
  drop     starts a transaction, draws its limit, and drops the connection
           (no close frame) once it has a limit above 0: prints DROPPED
  freevend a car plugged in, waiting for the central system to start the
           transaction (RemoteStartTransaction): prints REMOTE START <id tag>
           and starts it with that tag
  flood    1,000 Heartbeats in a burst, raw, each with its own id: prints
           FLOOD answered <n> of 1000 in <s> s
  session  a whole transaction: Preparing, StartTransaction at 1000 Wh,
           Charging with the energy register rising, StopTransaction at
           4500 Wh, Finishing, Available: prints STOPPED

usage: ocpp_quirks.py WS_URL STATION MODE SECONDS
"""
import asyncio
import sys
from datetime import datetime, timezone

import websockets
from ocpp.messages import MessageType, unpack
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (Action, ChargePointErrorCode, ChargePointStatus, ChargingProfileStatus, ConfigurationStatus,
                            GetCompositeScheduleStatus, TriggerMessageStatus)

url, name, mode, seconds = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], float(sys.argv[4])
limit_now = {"value": 16.0 if mode != "drop" else 10.0, "unit": "A"}
got_limit = asyncio.Event()


def say(line):
    print(line, flush=True)


class Station(ChargePoint):
    async def route_message(self, raw):
        if mode == "silent":
            message = unpack(raw)
            if message.message_type_id == MessageType.Call:
                say(f"IGNORED {message.action}")
                return
        await super().route_message(raw)

    @on(Action.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **kwargs):
        schedule = cs_charging_profiles["charging_schedule"]
        limit = float(schedule["charging_schedule_period"][0]["limit"])  # the package reads numbers as Decimal
        stack = cs_charging_profiles["stack_level"]
        if mode == "stack0" and stack > 0:
            say(f"REFUSED {limit} {schedule['charging_rate_unit']} stack {stack}")
            return call_result.SetChargingProfile(status=ChargingProfileStatus.rejected)
        say(f"LIMIT {limit} {schedule['charging_rate_unit']} stack {stack}")
        limit_now.update(value=limit, unit=schedule["charging_rate_unit"])
        if limit > 0:
            got_limit.set()
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)

    @on(Action.get_composite_schedule)
    def on_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        say("SCHEDULE")
        # What it will draw: the limit it took, or 16 A if it ignores limits.
        planned = 16.0 if mode == "ignore" else limit_now["value"]
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted, connector_id=connector_id,
            charging_schedule={"charging_rate_unit": limit_now["unit"], "charging_schedule_period": [{"start_period": 0, "limit": planned}]})

    @on(Action.clear_charging_profile)
    def on_clear(self, **kwargs):
        say(f"CLEAR {kwargs.get('charging_profile_purpose', '')}")
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        say(f"GETCONFIG {','.join(key or [])}")
        # It claims more than it takes, as stations do: Fusebox learns stack level 0 from its refusal.
        known = [{"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"},
                 {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]
        return call_result.GetConfiguration(configuration_key=[k for k in known if not key or k["key"] in key],
                                            unknown_key=[k for k in (key or []) if k not in [c["key"] for c in known]])

    @on(Action.change_configuration)
    def on_configuration(self, key, value, **kwargs):
        say(f"CONFIG {key}={value}")
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, **kwargs):
        say(f"REMOTE START {id_tag}")
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    async def started_remotely(self, id_tag, connector_id=None, **kwargs):
        started = await self.call(call.StartTransaction(connector_id=connector_id or 1, id_tag=id_tag, meter_start=0,
                                                        timestamp=datetime.now(timezone.utc).isoformat()))
        say(f"TRANSACTION {started.transaction_id}")
        await self.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **kwargs):
        say(f"REMOTE STOP {transaction_id}")
        return call_result.RemoteStopTransaction(status="Accepted")

    @after(Action.remote_stop_transaction)
    async def stopped_remotely(self, transaction_id, **kwargs):
        await self.call(call.StopTransaction(transaction_id=transaction_id, meter_stop=100, timestamp=datetime.now(timezone.utc).isoformat()))
        await self.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.finishing))

    @on(Action.change_availability)
    def on_availability(self, connector_id, type, **kwargs):
        say(f"AVAILABILITY {type}")
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.trigger_message)
    async def on_trigger(self, requested_message, **kwargs):
        say(f"TRIGGER {requested_message}")
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)


def amps():
    if mode == "session" and limit_now["value"] == 0:
        return 0.0
    if mode == "ignore":
        return 16.0
    return limit_now["value"] if limit_now["unit"] == "A" else limit_now["value"] / 690


async def report(station):
    await station.call(call.MeterValues(connector_id=1, meter_value=[{
        "timestamp": datetime.now(timezone.utc).isoformat(), "sampled_value": [
            {"value": f"{amps():.1f}", "measurand": "Current.Import", "phase": p, "unit": "A"} for p in ("L1", "L2", "L3")]}]))


async def flood():
    """1,000 calls at once, beside the other stations: every one must be answered."""
    import json
    import time
    ws = await websockets.connect(f"{url}/{name}", subprotocols=["ocpp1.6"])
    await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "Test", "chargePointModel": "OCPP flood"}]))
    began = time.monotonic()
    for n in range(1000):
        await ws.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
    answered = set()
    end = began + seconds
    while len(answered) < 1000 and time.monotonic() < end:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, end - time.monotonic())))
        except asyncio.TimeoutError:
            break
        if message[0] == 2:   # Fusebox's own calls: taken
            await ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))
        elif message[0] == 3 and str(message[1]).startswith("f"):
            answered.add(message[1])
    say(f"FLOOD answered {len(answered)} of 1000 in {time.monotonic() - began:.1f} s")
    await ws.close()


async def main():
    if mode == "flood":
        return await flood()
    ws = await websockets.connect(f"{url}/{name}", subprotocols=["ocpp1.6"])
    station = Station(name, ws)
    runner = asyncio.create_task(station.start())
    await station.call(call.BootNotification(charge_point_vendor="Test", charge_point_model=f"OCPP {mode}"))
    first = ChargePointStatus.preparing if mode == "freevend" else ChargePointStatus.charging
    await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=first))
    if mode == "session":
        await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.preparing))
    if mode in ("drop", "session"):
        started = await station.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000,
                                                           timestamp=datetime.now(timezone.utc).isoformat()))
        say(f"TRANSACTION {started.transaction_id}")
    if mode == "session":
        # Its first reading comes a sample interval after the start, as a real station's does.
        await asyncio.sleep(2)
        await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging))
        for wh in (1500, 2500, 3500, 4500):
            await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[{
                "timestamp": datetime.now(timezone.utc).isoformat(), "sampled_value": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
            await report(station)
            await asyncio.sleep(1.5)
        await station.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=4500,
                                                timestamp=datetime.now(timezone.utc).isoformat()))
        limit_now["value"] = 0
        for status in (ChargePointStatus.finishing, ChargePointStatus.available):
            await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=status))
            await asyncio.sleep(1.5)
        say("STOPPED")
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        await report(station)
        if mode == "drop" and limit_now["value"] > 0 and got_limit.is_set():
            await asyncio.sleep(2)   # its limit has been drawn for a while
            if limit_now["value"] > 0:
                await report(station)
                ws.transport.abort()     # the cable pulled: no close frame
                say(f"DROPPED at {limit_now['value']} {limit_now['unit']}")
                break
        await asyncio.sleep(1)
    runner.cancel()


try:
    asyncio.run(main())
except Exception as e:  # noqa: BLE001
    say(f"FAIL {type(e).__name__}: {e}")
    sys.exit(1)
