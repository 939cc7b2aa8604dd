#!/usr/bin/env python3
"""A Modbus TCP peer that answers with given bytes, for the client's checks of
broken answers (a wrong transaction id, unit, protocol id or length, short
data, an unknown exception, a closed connection): what pymodbus, being a
correct server, never sends.

    raw_modbus_peer.py ANSWER

ANSWER is hex; "TTTT" in it is replaced by the request's transaction id, and
"close" closes the connection instead of answering. Prints "READY <port>",
"CONNECT" for each connection and "REQUEST <hex>" for each request. Exits when its standard input closes.
"""
import socket
import sys
import threading

answer = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(8)


def serve(conn):
    with conn:
        while True:
            head = b""
            while len(head) < 7:
                chunk = conn.recv(7 - len(head))
                if not chunk:
                    return
                head += chunk
            rest = b""
            while len(rest) < int.from_bytes(head[4:6], "big") - 1:
                chunk = conn.recv(256)
                if not chunk:
                    return
                rest += chunk
            print("REQUEST " + (head + rest).hex(), flush=True)
            if answer == "close":
                return
            conn.sendall(bytes.fromhex(answer.replace("TTTT", head[0:2].hex())))


def accept():
    while True:
        conn, _ = server.accept()
        print("CONNECT", flush=True)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


threading.Thread(target=accept, daemon=True).start()
print(f"READY {server.getsockname()[1]}", flush=True)
sys.stdin.read()
