#!/usr/bin/env python3
"""pymodbus (pinned 3.16.1) as an independent Modbus TCP client for Fusebox's
tests of its own server and simulator.

    modbus_client.py PORT OPS.json

OPS.json is a list of {"op": "read_holding"|"read_input"|"read_coils"|"read_discrete"|
"write_register"|"write_registers"|"write_coil", "unit": 1, "address": 0, "count": 2,
"value": 7, "values": [1, 2]}. Prints one JSON list: per op the registers or bits
read, "ok" for a write, {"exception": code} or {"error": "..."}.
"""
import json
import sys

from pymodbus.client import ModbusTcpClient


def run(client, op):
    kw = {"device_id": op["unit"]}
    kind = op["op"]
    if kind == "read_holding":
        r = client.read_holding_registers(op["address"], count=op["count"], **kw)
    elif kind == "read_input":
        r = client.read_input_registers(op["address"], count=op["count"], **kw)
    elif kind == "read_coils":
        r = client.read_coils(op["address"], count=op["count"], **kw)
    elif kind == "read_discrete":
        r = client.read_discrete_inputs(op["address"], count=op["count"], **kw)
    elif kind == "write_register":
        r = client.write_register(op["address"], op["value"], **kw)
    elif kind == "write_registers":
        r = client.write_registers(op["address"], op["values"], **kw)
    elif kind == "write_coil":
        r = client.write_coil(op["address"], bool(op["value"]), **kw)
    else:
        return {"error": f"unknown op {kind}"}
    if r.isError():
        return {"exception": getattr(r, "exception_code", None)}
    if kind.startswith("read_coils") or kind.startswith("read_discrete"):
        return [bool(b) for b in r.bits[: op["count"]]]
    if kind.startswith("read"):
        return list(r.registers)
    return "ok"


def main():
    port, ops = int(sys.argv[1]), json.load(open(sys.argv[2]))
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    if not client.connect():
        print(json.dumps([{"error": "cannot connect"}]))
        return
    out = []
    for op in ops:
        try:
            out.append(run(client, op))
        except Exception as e:  # a timeout from a silent unit, a broken connection
            out.append({"error": type(e).__name__})
            client.close()
            client.connect()
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
