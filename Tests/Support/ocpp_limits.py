"""An independent OCPP 1.6J charge point (the `ocpp` package, 2.1.0) that
charges and takes Fusebox's limits: boots, reports Charging and its current,
accepts every SetChargingProfile and prints "LIMIT <A> <purpose> <stack level>".

Prints READY after the first limit above 0, LOWERED when a limit below an earlier one
comes, then reconnects and prints AGAIN when the limit comes again on the new
connection. Exits 0 then, 1 after SECONDS.

With --watts it is a station that takes only watts: it refuses a profile in
amperes (Rejected) and accepts one in W.

usage: ocpp_limits.py WS_URL STATION SECONDS [--watts]
"""
import asyncio
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, ChargePointErrorCode, ChargePointStatus, ChargingProfileStatus

url, name, seconds = sys.argv[1].rstrip("/"), sys.argv[2], float(sys.argv[3])
watts_only = "--watts" in sys.argv[4:]
limits = []
arrived = asyncio.Event()


class Station(ChargePoint):
    @on(Action.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **kwargs):
        schedule = cs_charging_profiles["charging_schedule"]
        limit = schedule["charging_schedule_period"][0]["limit"]
        if watts_only and schedule["charging_rate_unit"] != "W":
            print(f"REFUSED {limit} {schedule['charging_rate_unit']}", flush=True)
            return call_result.SetChargingProfile(status=ChargingProfileStatus.rejected)
        limits.append(limit)
        print(f"LIMIT {limit} {cs_charging_profiles['charging_profile_purpose']} {cs_charging_profiles['stack_level']} "
              f"{schedule['charging_rate_unit']} connector {connector_id}", flush=True)
        arrived.set()
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)


async def session():
    # Open until closed below (not `async with`, which would close it on return).
    ws = await websockets.connect(f"{url}/{name}", subprotocols=["ocpp1.6"])
    station = Station(name, ws)
    runner = asyncio.create_task(station.start())
    await station.call(call.BootNotification(charge_point_vendor="Test", charge_point_model="OCPP station"))
    await station.call(call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging))
    await station.call(call.MeterValues(connector_id=1, meter_value=[{
        "timestamp": datetime.now(timezone.utc).isoformat(), "sampled_value": [
            {"value": "10.0", "measurand": "Current.Import", "phase": p, "unit": "A"} for p in ("L1", "L2", "L3")]}]))
    return ws, runner


async def wait_for(condition):
    while not condition():
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), seconds)


async def main():
    ws, runner = await session()
    await wait_for(lambda: any(limit > 0 for limit in limits))
    print("READY", flush=True)
    await wait_for(lambda: any(b < a for a, b in zip(limits, limits[1:])))
    print("LOWERED", flush=True)
    runner.cancel()
    await ws.close()
    before = len(limits)
    ws, runner = await session()
    await wait_for(lambda: len(limits) > before)
    print("AGAIN", flush=True)
    runner.cancel()
    await ws.close()


try:
    asyncio.run(asyncio.wait_for(main(), seconds))
except Exception as e:  # noqa: BLE001
    print(f"FAIL {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
