#!/usr/bin/env python3
"""An independent Modbus TCP peer for Fusebox's tests: pymodbus (pinned to
3.16.1 in the Makefile) serving register maps from a JSON file, so that our
client is never tested only against our own server.

    modbus_peer.py MAP.json

MAP.json:
    {"devices": [{"unit": 1,
                  "hr": [{"address": 16384, "values": [0, 1]}],   # holding registers
                  "ir": [...], "co": [{"address": 400, "values": [true]}], "di": [...],
                  "exceptions": {"3": 6}}],                        # FC03 answered with exception 6
     "silent": false,                                              # accept, never answer
     "serial": "/dev/pts/7", "baud": 9600}                         # RTU on a serial line instead of TCP

Prints "READY <port>" once it listens on 127.0.0.1 (or "READY <path>" on a
serial line), then one line per write:
"WRITE <unit> <function code> <address> <value> <value> ...". It exits when
its standard input closes, so a test that dies leaves no peer behind.

Known quirk of pymodbus 3.16.1's SimDevice: a read that runs past the end of a
block, close to it, wraps around to the block's start (a block at 0x4000 of 4
registers answers 0x4003+2 with [r3, r0]) instead of an illegal data address.
Maps should cover what a driver reads; tests of the exception use addresses
well outside any block (below it, or 0x100 past it). It also refuses a second
block in the same table as "overlapping", so this script merges a table's
ranges into one block with zeros in the gaps (gaps answer 0, not an exception).
"""
import asyncio
import functools
import json
import os
import socket
import sys

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(ranges, bits):
    # pymodbus wants every block non-empty: a lone register at the top of the
    # address space stands in for a block the map does not use.
    if not ranges:
        ranges = [{"address": 65535, "values": [0]}]
    # pymodbus 3.16.1 calls a second block in the same table "overlapping" even
    # when it is not: merge the ranges into one block, zeros in the gaps.
    if len(ranges) > 1:
        start = min(r["address"] for r in ranges)
        end = max(r["address"] + len(r["values"]) for r in ranges)
        merged = [0] * (end - start)
        for r in ranges:
            for k, v in enumerate(r["values"]):
                merged[r["address"] - start + k] = v
        ranges = [{"address": start, "values": merged}]
    out = []
    for r in ranges or []:
        values = [bool(v) for v in r["values"]] if bits else [int(v) & 0xFFFF for v in r["values"]]
        out.append(SimData(r["address"], count=len(values), values=values,
                           datatype=DataType.BITS if bits else DataType.REGISTERS))
    return out


async def action(unit, exceptions, function_code, start_address, address, count, current_registers, set_values):
    if str(function_code) in exceptions:
        return ExcCodes(exceptions[str(function_code)])
    if set_values is not None:
        shown = " ".join(str(int(v)) for v in set_values)
        print(f"WRITE {unit} {function_code} {address} {shown}", flush=True)
    return None


async def silent_server(port):
    async def hold(reader, writer):
        await reader.read(-1)   # read everything, answer nothing
    server = await asyncio.start_server(hold, "127.0.0.1", port)
    await server.start_serving()
    return server


async def wait_listening(port):
    for _ in range(500):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.01)
    raise SystemExit(f"peer did not start listening on {port}")


def drain(stream):
    while stream.read(65536):   # discard, in constant memory, until end of file
        pass


async def exit_when_stdin_closes():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, drain, sys.stdin.buffer)
    os._exit(0)


async def main():
    spec = json.load(open(sys.argv[1]))
    asyncio.create_task(exit_when_stdin_closes())
    port = free_port()
    if spec.get("silent"):
        server = await silent_server(port)
        await wait_listening(port)
        print(f"READY {port}", flush=True)
        await server.serve_forever()
        return
    devices = []
    for d in spec["devices"]:
        simdata = (blocks(d.get("co"), True), blocks(d.get("di"), True), blocks(d.get("hr"), False), blocks(d.get("ir"), False))
        act = functools.partial(action, d["unit"], d.get("exceptions", {}))
        devices.append(SimDevice(d["unit"], simdata=simdata, action=act))
    if spec.get("serial"):
        opened = asyncio.Event()
        server = ModbusSerialServer(devices, port=spec["serial"], baudrate=spec.get("baud", 9600),
                                    trace_connect=lambda up: opened.set() if up else None)
        task = asyncio.create_task(server.serve_forever())
        await asyncio.wait_for(opened.wait(), 20)
        print(f"READY {spec['serial']}", flush=True)
        await task
        return
    server = ModbusTcpServer(devices, address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever())
    await wait_listening(port)
    print(f"READY {port}", flush=True)
    await task


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
