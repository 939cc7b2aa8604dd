"""A station the site does not know yet, asking to join (the `ocpp` package,
2.1.0): it boots and is told Pending, boots again when asked (TriggerMessage)
or every 2 s, and prints PENDING, then ACCEPTED once the installer has added
it, then LIMIT <A> at its first charging profile. Exits 0 then, 1 after SECONDS.

usage: ocpp_register.py WS_URL STATION SECONDS
"""
import asyncio
import sys

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, ChargingProfileStatus, RegistrationStatus, TriggerMessageStatus

url, name, seconds = sys.argv[1].rstrip("/"), sys.argv[2], float(sys.argv[3])
asked = asyncio.Event()
limited = asyncio.Event()


class Joiner(ChargePoint):
    @on(Action.trigger_message)
    def on_trigger(self, requested_message, **kwargs):
        print(f"TRIGGER {requested_message}", flush=True)
        if requested_message == "BootNotification":
            asked.set()
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @on(Action.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **kwargs):
        print(f"LIMIT {cs_charging_profiles['charging_schedule']['charging_schedule_period'][0]['limit']}", flush=True)
        limited.set()
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)


async def main():
    ws = await websockets.connect(f"{url}/{name}", subprotocols=["ocpp1.6"])
    station = Joiner(name, ws)
    runner = asyncio.create_task(station.start())
    pending_said = False
    while True:
        boot = await station.call(call.BootNotification(charge_point_vendor="Joiner", charge_point_model="New One", firmware_version="1.2.3"))
        if boot.status == RegistrationStatus.accepted:
            print("ACCEPTED", flush=True)
            break
        if boot.status != RegistrationStatus.pending:
            print(f"FAIL boot answered {boot.status}", flush=True)
            sys.exit(1)
        if not pending_said:
            print(f"PENDING interval {boot.interval}", flush=True)
            pending_said = True
        asked.clear()
        try:
            await asyncio.wait_for(asked.wait(), 2)
        except asyncio.TimeoutError:
            pass
    await asyncio.wait_for(limited.wait(), seconds)
    runner.cancel()
    await ws.close()


try:
    asyncio.run(asyncio.wait_for(main(), seconds))
except Exception as e:  # noqa: BLE001
    print(f"FAIL {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
