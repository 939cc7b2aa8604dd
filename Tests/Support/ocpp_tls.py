"""Security profile 2 from the station's side: OCPP 1.6J over TLS with HTTP
Basic, as an independent charge point (the `ocpp` package, 2.1.0, with
`websockets`) connects. Prints "OK <step>" per step; at the first failure
"FAIL <step>: <why>" and exits 1.

usage: ocpp_tls.py HOST:PORT CA_FILE STATION KEY
"""
import asyncio
import base64
import ssl
import sys

import websockets
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import RegistrationStatus

address, ca_file, station_id, key = sys.argv[1:5]


def basic(user, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


async def refused(url, **kwargs):
    try:
        async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5, **kwargs):
            return False
    except Exception:  # noqa: BLE001 (any refusal: TLS, HTTP status, a closed socket)
        return True


async def main():
    trusted = ssl.create_default_context(cafile=ca_file)
    url = f"wss://{address}/{station_id}"
    async with websockets.connect(url, subprotocols=["ocpp1.6"], ssl=trusted, additional_headers=basic(station_id, key)) as ws:
        station = ChargePoint(station_id, ws)
        runner = asyncio.create_task(station.start())
        answer = await station.call(call.BootNotification(charge_point_vendor="Test", charge_point_model="TLS station"))
        runner.cancel()
        if answer.status != RegistrationStatus.accepted:
            raise SystemExit(f"FAIL boot over wss: {answer}")
    print("OK boot over wss with its key", flush=True)
    steps = [
        ("a wrong key refused", refused(url, ssl=trusted, additional_headers=basic(station_id, "guess"))),
        ("no key refused", refused(url, ssl=trusted)),
        ("a server certificate not trusted refused", refused(url, ssl=ssl.create_default_context(), additional_headers=basic(station_id, key))),
        ("plain ws on the wss port refused", refused(f"ws://{address}/{station_id}", additional_headers=basic(station_id, key))),
    ]
    for name, check in steps:
        if not await check:
            raise SystemExit(f"FAIL {name}")
        print(f"OK {name}", flush=True)


asyncio.run(main())
