#!/usr/bin/env python3
"""benches/sign_requests.py: pre-signs VocaliD HMAC requests for benches/auth-load.sh.

wrk's Lua cannot compute HMAC-SHA256, so the signed `Authorization` values are made here, each with
its own nonce (the server accepts a nonce once per key), and wrk's `request()` reads them one per
request. The scheme, as the server checks it (crates/voicegate/src/identity/signatures.rs):

    digest    = hex SHA-256 of "METHOD\\nPATH\\nQUERY\\nNONCE\\nhex SHA-256(body)\\nTIMESTAMP"
    signature = hex HMAC-SHA256(secret, digest)       (both as latin-1 bytes)
    Authorization: signature=<hex>, nonce=<nonce>, timestamp=<ISO 8601 UTC>

Usage:
    sign_requests.py --secret-file F --query 'api_key=K' --path P --count N --files T --out PREFIX
        writes PREFIX.1 .. PREFIX.T, N values split evenly, one `Authorization` value per line;
        prints "<lines written> <seconds taken>" on stdout.
    sign_requests.py --secret-file F --query 'api_key=K' --path P --count 1 --out -
        prints one value (for a curl check).
Each value is stamped with the time it is made (within the server's +-300 s window for as long as
the load run that follows is short); nonces are "<random prefix>.<file>.<counter in hex>".
"""

import argparse
import datetime
import hashlib
import hmac
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret-file", required=True, help="file holding the API key's secret")
    parser.add_argument("--query", required=True, help="query string exactly as sent")
    parser.add_argument("--path", required=True, help="request path, without the query")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--count", type=int, required=True, help="values to make in all")
    parser.add_argument("--files", type=int, default=1, help="output files (one per wrk thread)")
    parser.add_argument("--out", required=True, help="output prefix, or - for stdout")
    args = parser.parse_args()
    if args.count < 1 or args.files < 1:
        parser.error("--count and --files must be >= 1")

    with open(args.secret_file, encoding="latin-1") as f:
        secret = f.read().strip().encode("latin-1")
    # The parts of the signed string that do not change from one request to the next.
    head = "%s\n%s\n%s\n" % (args.method, args.path, args.query)
    body_digest = hashlib.sha256(b"").hexdigest()
    prefix = os.urandom(6).hex()
    sha256 = hashlib.sha256
    digest = hmac.digest

    def now_iso() -> str:
        # datetime.datetime.utcnow().isoformat(), without its deprecation warning.
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()

    def values(file_no: int, n: int):
        timestamp = now_iso()
        for i in range(n):
            if i % 1000 == 0:
                timestamp = now_iso()  # fresh every 1,000 values: cheap, and never stale
            nonce = "%s.%d.%x" % (prefix, file_no, i)
            signed = sha256(
                ("%s%s\n%s\n%s" % (head, nonce, body_digest, timestamp)).encode("latin-1")
            ).hexdigest()
            signature = digest(secret, signed.encode("latin-1"), "sha256").hex()
            yield "signature=%s, nonce=%s, timestamp=%s\n" % (signature, nonce, timestamp)

    start = time.monotonic()
    if args.out == "-":
        sys.stdout.writelines(values(0, args.count))
        return 0
    written = 0
    per_file, extra = divmod(args.count, args.files)
    for file_no in range(1, args.files + 1):
        n = per_file + (1 if file_no <= extra else 0)
        with open("%s.%d" % (args.out, file_no), "w", encoding="latin-1", buffering=1 << 20) as out:
            out.writelines(values(file_no, n))
        written += n
    print("%d %.3f" % (written, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
