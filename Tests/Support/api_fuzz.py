#!/usr/bin/env python3
"""Schemathesis against a running Fusebox, authenticated with a bearer token.

usage: api_fuzz.py URL PASSWORD SPEC SEED MAX_EXAMPLES

Logs in as admin, creates an API token, then lets schemathesis (PyPI) call every
operation of SPEC (docs/openapi.yaml) with generated input: no 5xx, responses
that match the spec (status codes, content types, bodies). /api/login is left
out: its lockout slows every later attempt by design (Cases/api.json tests it).
The ignored_auth check is left out: it sends a made-up session cookie beside
the bearer token, which the server rightly accepts for the token (Cases/api.json
tests made-up and revoked credentials alone).
Prints schemathesis' report; exits non-zero when it found something.
"""
import json
import os
import subprocess
import sys
import urllib.request


def main():
    url, password, spec, seed, examples = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    url = url.rstrip("/")
    login = urllib.request.Request(url + "/api/login", data=json.dumps({"user": "admin", "password": password}).encode(),
                                   headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(login, timeout=10) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
        csrf = json.load(r)["csrf"]
    create = urllib.request.Request(url + "/api/tokens", data=json.dumps({"name": "schemathesis", "scope": "admin"}).encode(),
                                    headers={"Content-Type": "application/json", "Cookie": cookie, "X-CSRF-Token": csrf},
                                    method="POST")
    with urllib.request.urlopen(create, timeout=10) as r:
        token = json.load(r)["token"]
    command = ["st", "run", spec, "--base-url", url, "-H", "Authorization: Bearer " + token,
               "--checks", "all", "--exclude-checks", "ignored_auth", "--hypothesis-seed", seed, "--hypothesis-max-examples", examples,
               "--exclude-path", "/api/login", "--request-timeout", "10000", "--no-color",
               "--hypothesis-suppress-health-check", "all"]
    print(" ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in command), flush=True)
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks",
               PYTHONPATH=os.path.dirname(os.path.abspath(__file__)) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sys.exit(subprocess.run(command, env=env).returncode)


if __name__ == "__main__":
    main()
