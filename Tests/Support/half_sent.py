#!/usr/bin/env python3
"""Opens many connections to a web server, sends each only part of a request
head, and watches until the server has closed them all or time runs out.

    half_sent.py PORT COUNT SECONDS

Prints one JSON line: how many were opened, how many the server closed, how
many of those it first answered 503 (over its connection limit), and the
seconds from the last one opened until the last one closed. The clients live
in this process, so that the test process keeps its own descriptors low.
"""
import json
import resource
import selectors
import socket
import sys
import time

port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 100)), hard))

selector = selectors.DefaultSelector()
opened, failed = 0, 0
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: fusebox\r\nX-Slow: ")
    except OSError:
        failed += 1
        s.close()
        continue
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ, b"")
    opened += 1

started = time.monotonic()
closed, refused, last = 0, 0, 0.0
while selector.get_map() and time.monotonic() - started < seconds:
    for key, _ in selector.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if data:
            selector.modify(s, selectors.EVENT_READ, key.data + data)
            continue
        if key.data.startswith(b"HTTP/1.1 503"):
            refused += 1
        closed += 1
        last = time.monotonic() - started
        selector.unregister(s)
        s.close()

print(json.dumps({"opened": opened, "failed": failed, "closed": closed, "refused": refused,
                  "seconds": round(last, 3), "still_open": len(selector.get_map())}), flush=True)
