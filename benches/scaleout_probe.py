#!/usr/bin/env python3
"""benches/scaleout_probe.py: the request sequences of benches/scaleout.sh that wrk cannot make.

Standard library only; every request is bounded in time and every loop in count.

  revocation --a URL --b URL --basic B64 --count N [--poll-ms MS] [--limit-s S]
      N times: a client_credentials access token from instance A (POST /oauth/token), checked
      200 on instance B (GET /api/v1/external/user/info/), revoked through A (POST /oauth/revoke),
      then B polled every MS ms (one keep-alive connection) until it answers 401, at most S s.
      Prints one delay in ms a line (from A's 200 to the revocation to B's first 401), or
      "timeout".
  prepare --base URL --user U --password P --accounts N --wav F [--wav F...] --out FILE
      logs in, makes N voice accounts with every WAV uploaded to each (a sentence each), writes
      "TOKEN" then the account ids, a line each, to FILE.
  submit --base URL --accounts FILE
      POST build/new for every account of FILE at once (8 threads); prints the number accepted.
  refresh --base URL --user U --password P --count N
      logs in, then N refreshes, each with the refresh token the previous one answered.
"""

import argparse
import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse
import uuid

TIMEOUT = 10


def connect(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)


def call(conn, method, path, body=None, headers=None):
    """One request on a keep-alive connection: (status, body bytes)."""
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def expect(status, body, wanted, what):
    if status != wanted:
        sys.exit("%s answered %d, not %d: %s" % (what, status, wanted, body[:300]))


def revocation(args):
    a, b = connect(args.a), connect(args.b)
    basic = {"Authorization": "Basic " + args.basic,
             "Content-Type": "application/x-www-form-urlencoded"}
    info = "/api/v1/external/user/info/"
    for _ in range(args.count):
        status, body = call(a, "POST", "/oauth/token", "grant_type=client_credentials", basic)
        expect(status, body, 200, "POST /oauth/token on A")
        token = json.loads(body)["access_token"]
        bearer = {"Authorization": "Bearer " + token}
        status, body = call(b, "GET", info, headers=bearer)
        expect(status, body, 200, "user info on B before the revocation")
        form = urllib.parse.urlencode({"token": token})
        status, body = call(a, "POST", "/oauth/revoke", form, basic)
        expect(status, body, 200, "POST /oauth/revoke on A")
        revoked = time.monotonic()
        deadline = revoked + args.limit_s
        while True:
            status, body = call(b, "GET", info, headers=bearer)
            now = time.monotonic()
            if status == 401:
                print("%.2f" % ((now - revoked) * 1000), flush=True)
                break
            expect(status, body, 200, "user info on B after the revocation")
            if now > deadline:
                print("timeout", flush=True)
                break
            time.sleep(args.poll_ms / 1000)


def login(conn, user, password):
    status, body = call(conn, "POST", "/v1/auth/tokens",
                        json.dumps({"user": user, "password": password}),
                        {"Content-Type": "application/json"})
    expect(status, body, 200, "login")
    return json.loads(body)


def multipart(fields, file_bytes):
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (boundary, name, value)).encode())
    out.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.wav\"\r\n"
                "Content-Type: audio/wav\r\n\r\n" % boundary).encode())
    out.append(file_bytes)
    out.append(("\r\n--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def prepare(args):
    conn = connect(args.base)
    token = login(conn, args.user, args.password)["access_token"]
    auth = {"Authorization": "Bearer " + token}
    wavs = [(open(path, "rb").read(), sentence) for path, sentence in
            zip(args.wav, args.sentence)]
    accounts = []
    for _ in range(args.accounts):
        status, body = call(conn, "POST", "/api/v1/external/account/register/",
                            json.dumps({"gender": "male", "age": "30"}),
                            dict(auth, **{"Content-Type": "application/json"}))
        expect(status, body, 200, "account register")
        account = json.loads(body)["account_id"]
        for data, sentence in wavs:
            payload, kind = multipart(
                {"data": json.dumps({"account_id": account, "sentence": sentence})}, data)
            status, body = call(conn, "POST", "/api/v1/external/recording/save/", payload,
                                dict(auth, **{"Content-Type": kind}))
            expect(status, body, 200, "recording save")
        accounts.append(account)
    with open(args.out, "w") as f:
        f.write(token + "\n" + "\n".join(accounts) + "\n")


def submit(args):
    lines = open(args.accounts).read().split()
    token, accounts = lines[0], lines[1:]
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def one(account):
        conn = connect(args.base)
        try:
            status, body = call(conn, "POST", "/api/v1/external/build/new/",
                                json.dumps({"account_id": account}), headers)
            return status == 200
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(one, accounts))
    print(accepted)


def refresh(args):
    conn = connect(args.base)
    answer = login(conn, args.user, args.password)
    for _ in range(args.count):
        status, body = call(conn, "GET", "/v1/auth/refresh",
                            headers={"Authorization": "Bearer " + answer["refresh_token"]})
        expect(status, body, 200, "refresh")
        answer = json.loads(body)
    print(args.count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("revocation")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--basic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--poll-ms", type=float, default=2.0)
    p.add_argument("--limit-s", type=float, default=5.0)
    p = sub.add_parser("prepare")
    p.add_argument("--base", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--accounts", type=int, required=True)
    p.add_argument("--wav", action="append", required=True)
    p.add_argument("--sentence", action="append", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("submit")
    p.add_argument("--base", required=True)
    p.add_argument("--accounts", required=True)
    p = sub.add_parser("refresh")
    p.add_argument("--base", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    for bound in ("count", "accounts"):
        value = getattr(args, bound, 1)
        if isinstance(value, int) and not 0 < value <= 10000:
            sys.exit("--%s must be from 1 to 10000" % bound)
    {"revocation": revocation, "prepare": prepare, "submit": submit, "refresh": refresh}[
        args.command](args)


if __name__ == "__main__":
    main()
