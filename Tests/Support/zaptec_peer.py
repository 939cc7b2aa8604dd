#!/usr/bin/env python3
"""An independent stand-in for Zaptec's cloud API (as the header of drivers/zaptec.lua describes it), for
the zaptec driver's tests: Python's own http.server, so that our HTTP client
and driver are not tested only against the simulator's stand-in.

    zaptec_peer.py SETUP.json

SETUP.json:
    {"chargers": {"ZAP-1": {"710": "3", "507": "16.0", ...}},  # observations by StateId
     "username": "fusebox", "password": "secret",                # the one account
     "expires_in": 3600,                                         # token lifetime, s
     "update_status": 200,      # what POST .../update answers (403: a read-only account)
     "command_status": 200,     # what POST .../sendCommand/N answers (528: nothing to do)
     "state_status": 200, "state_body": null,   # override GET .../state (a 500, garbage)
     "token_host": null,        # discovery names this host for the token endpoint
     "delay": 0}                # seconds before each API answer

Prints "READY <port>", then one line per request:
"REQ <METHOD> <path> <body>". The test drives it over HTTP too:
POST /_test/set {"ZAP-1": {"710": "1"}} merges observations, POST
/_test/revoke forgets every token (the next call gets 401), POST
/_test/mark?n=3 prints "MARK 3" after every earlier request's line. Exits
when its standard input closes.
"""
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

setup = json.load(open(sys.argv[1]))
chargers = {cid: dict(obs) for cid, obs in setup.get("chargers", {}).items()}
tokens = set()
lock = threading.Lock()
out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", kind="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        with lock:
            return auth.startswith("Bearer ") and auth[7:] in tokens

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        say(f"REQ GET {path}")
        host, port = self.server.server_address[:2]
        if path == "/.well-known/openid-configuration":
            token_host = setup.get("token_host") or host
            return self.answer(200, {"issuer": f"http://{host}:{port}",
                                     "token_endpoint": f"http://{token_host}:{port}/oauth/token"})
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["api", "chargers"] and parts[3] == "state":
            time.sleep(setup.get("delay", 0))
            if not self.authorized():
                return self.answer(401, {"Message": "Unauthorized"})
            if setup.get("state_status", 200) != 200 or setup.get("state_body") is not None:
                return self.answer(setup.get("state_status", 200), setup.get("state_body") or "")
            with lock:
                obs = chargers.get(parts[2])
                if obs is None:
                    return self.answer(404, {"Message": "no such charger"})
                listing = [{"ChargerId": parts[2], "StateId": int(k), "ValueAsString": v} for k, v in obs.items()]
            return self.answer(200, listing)
        return self.answer(404, {"Message": "not found"})

    def do_POST(self):
        split = urllib.parse.urlsplit(self.path)
        path, body = split.path, self.body()
        if path.startswith("/_test/"):
            if path == "/_test/set":
                with lock:
                    for cid, obs in json.loads(body).items():
                        chargers.setdefault(cid, {}).update(obs)
            elif path == "/_test/revoke":
                with lock:
                    tokens.clear()
            elif path == "/_test/mark":
                say("MARK " + urllib.parse.parse_qs(split.query)["n"][0])
            return self.answer(200, {})
        say(f"REQ POST {path} {body}".rstrip())
        if path == "/oauth/token":
            form = urllib.parse.parse_qs(body)
            if (form.get("grant_type") != ["password"] or form.get("username") != [setup.get("username")]
                    or form.get("password") != [setup.get("password")]):
                return self.answer(400, {"error": "invalid_grant"})
            token = secrets.token_hex(16)
            with lock:
                tokens.add(token)
            return self.answer(200, {"access_token": token, "token_type": "Bearer",
                                     "expires_in": setup.get("expires_in", 3600)})
        parts = path.strip("/").split("/")
        if len(parts) >= 4 and parts[:2] == ["api", "chargers"]:
            time.sleep(setup.get("delay", 0))
            if not self.authorized():
                return self.answer(401, {"Message": "Unauthorized"})
            if parts[2] not in chargers:
                return self.answer(404, {"Message": "no such charger"})
            if parts[3] == "update" and len(parts) == 4:
                try:
                    update = json.loads(body)
                except ValueError:
                    return self.answer(400, {"Message": "not JSON"})
                status = setup.get("update_status", 200)
                if status == 200 and "maxChargeCurrent" in update:
                    with lock:
                        chargers[parts[2]]["510"] = str(update["maxChargeCurrent"])
                return self.answer(status, "")
            if parts[3] == "sendCommand" and len(parts) == 5:
                return self.answer(setup.get("command_status", 200), "")
        return self.answer(404, {"Message": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
say(f"READY {server.server_address[1]}")
sys.stdin.read()
