"""One authenticated call to a running controller's REST API, as a site
owner's script or a utility's portal would make it (Python's urllib, not our
HTTP stack): logs in with user and password, then sends the request with the
session cookie and the CSRF token.

    python3 api_call.py URL USER PASSWORD METHOD PATH [JSON-BODY]

Prints the status on the first line and the body after it.
"""
import json
import sys
import urllib.error
import urllib.request


def main():
    url, user, password, method, path = sys.argv[1:6]
    body = sys.argv[6].encode() if len(sys.argv) > 6 else None
    url = url.rstrip("/")
    login = urllib.request.Request(url + "/api/login", data=json.dumps({"user": user, "password": password}).encode(),
                                   headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(login, timeout=10) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
        csrf = json.load(r)["csrf"]
    headers = {"Cookie": cookie, "X-CSRF-Token": csrf}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(status)
    print(text)


if __name__ == "__main__":
    main()
