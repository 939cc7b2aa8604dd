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

Only what the map defines exists: the action hook answers "illegal data
address" for every access that is not inside one of the map's own ranges, as
a real device does. (Note for pymodbus 3.16: SimData's `count` repeats its
values; a block is given by its values alone.)

Values in a range are registers, or typed: {"type": "float32", "value": 230.5,
"order": "low_first"} spans the registers of its type; {"ascii": "C2",
"registers": 5} is text, two characters a register. Unit 247 (HR 0) is added
as a sentinel: a test writes to it after a step, and every write of that step
is printed before the sentinel's line.
"""
import asyncio
import functools
import json
import os
import socket
import struct
import sys

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f",
           "float64": ">d", "int64": ">q", "uint64": ">Q"}
TABLE_OF = {1: "co", 5: "co", 15: "co", 2: "di", 3: "hr", 6: "hr", 16: "hr", 4: "ir"}


def expand(values):
    out = []
    for v in values:
        if isinstance(v, dict) and "ascii" in v:
            raw = v["ascii"].encode("ascii").ljust(2 * v["registers"], b"\0")
            out += [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]
        elif isinstance(v, dict):
            raw = struct.pack(FORMATS[v["type"]], v["value"])
            words = [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]
            out += words[::-1] if v.get("order") == "low_first" else words
        else:
            out.append(v)
    return out


def normalized(ranges):
    return [{"address": r["address"], "values": expand(r["values"])} for r in ranges or []]


def blocks(ranges, bits):
    # pymodbus wants every block non-empty: a lone register at the top of the
    # address space stands in for a block the map does not use.
    ranges = normalized(ranges) or [{"address": 65535, "values": [0]}]
    out = []
    for r in sorted(ranges, key=lambda r: r["address"]):
        values = [bool(v) for v in r["values"]] if bits else [int(v) & 0xFFFF for v in r["values"]]
        out.append(SimData(r["address"], values=values, datatype=DataType.BITS if bits else DataType.REGISTERS))
    return out


def inside(ranges, address, count):
    return any(r["address"] <= address and address + count <= r["address"] + len(r["values"]) for r in ranges)


async def action(unit, exceptions, tables, function_code, start_address, address, count, current_registers, set_values):
    if str(function_code) in exceptions:
        return ExcCodes(exceptions[str(function_code)])
    table = TABLE_OF.get(function_code)
    if table is not None and not inside(tables.get(table, []), address, count):
        return ExcCodes.ILLEGAL_ADDRESS
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
    if not any(d["unit"] == 247 for d in spec["devices"]):
        spec["devices"].append({"unit": 247, "hr": [{"address": 0, "values": [0]}]})
    for d in spec["devices"]:
        simdata = (blocks(d.get("co"), True), blocks(d.get("di"), True), blocks(d.get("hr"), False), blocks(d.get("ir"), False))
        tables = {t: normalized(d.get(t)) for t in ("co", "di", "hr", "ir")}
        act = functools.partial(action, d["unit"], d.get("exceptions", {}), tables)
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
