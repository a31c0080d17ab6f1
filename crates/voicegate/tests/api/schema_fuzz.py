# schemathesis against the server's own /openapi.json, with a valid credential of every kind the
# document names (and the VocaliD HMAC signature, which no OpenAPI scheme can describe): checks that
# no answer is a 5xx and that every answer is documented (status code, content type, headers, body
# schema). Records every (operation, status) it saw, for the test to compare with the documented
# ones.
#
#   python schema_fuzz.py BASE CREDENTIALS_JSON SEEN_JSON MAX_EXAMPLES SEED
#
# MAX_EXAMPLES 0 runs the coverage phase alone; more adds that many fuzzed cases per operation.
#
# CREDENTIALS_JSON holds what the test made: the login's access token, a named token, one named
# token per scope (for the 403 a token without the route's scope gets), an API key and its secret,
# an OAuth client, the password user, the server's clock, and real ids to try in paths and queries.
# Exits with schemathesis' own exit code (0: no failure), or 1 when a credential probe failed a
# check. SCHEMA_FUZZ_PATHS=<regex> narrows the run to some paths; SCHEMA_FUZZ_DEBUG=1 prints every
# answer.
import base64
import hashlib
import hmac
import itertools
import json
import os
import sys
import threading
import urllib.parse
from datetime import datetime, timezone

import requests
from hypothesis.internal import lambda_sources
import schemathesis
from schemathesis.cli import schemathesis as cli
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import ServerError
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

base, credentials_path, seen_path, max_examples, seed = sys.argv[1:6]
with open(credentials_path) as f:
    creds = json.load(f)

lock = threading.Lock()
turns = {}  # operation -> how many cases it has had: each cycles through the credentials in turn
seen = {}  # "METHOD /path" -> set of statuses
nonces = itertools.count(1)


def security(operation):
    """(scheme, scopes) of an operation's first security requirement, or (None, [])."""
    requirements = operation.definition.raw.get("security") or []
    for requirement in requirements:
        for scheme, scopes in requirement.items():
            return scheme, scopes
    return None, []


def foreign_scope_token(scopes):
    """A named token with none of `scopes`, so the route answers 403; on a route that takes any
    token, one without `admin` (which may act on other users: without it, another user's id is a
    403)."""
    if not scopes:
        return creds["scoped_tokens"]["ovos"]
    for scope, token in creds["scoped_tokens"].items():
        if scope not in scopes:
            return token
    return None


class Signer(requests.auth.AuthBase):
    """Signs the request as sent (method, path, query, body), the VocaliD way, after adding the
    `api_key` parameter to its query."""

    def __call__(self, request):
        parts = urllib.parse.urlsplit(request.url)
        key = "api_key=" + urllib.parse.quote(creds["api_key"], safe="")
        query = key if not parts.query else parts.query + "&" + key
        request.url = urllib.parse.urlunsplit(parts._replace(query=query))
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        with lock:
            nonce = "%d%08d" % (creds["clock"], next(nonces))
        moment = datetime.fromtimestamp(creds["clock"], timezone.utc).replace(tzinfo=None)
        timestamp = moment.isoformat()
        data = "\n".join([request.method, parts.path, query, nonce,
                          hashlib.sha256(body).hexdigest(), timestamp])
        digest = hashlib.sha256(data.encode("latin-1")).hexdigest()
        signature = hmac.new(creds["api_secret"].encode("latin-1"), digest.encode("latin-1"),
                             hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            "signature={}, nonce={}, timestamp={}".format(signature, nonce, timestamp))
        return request


def fresh_refresh_token():
    """A refresh token of its own login: a refresh token is single use, and a spent one presented
    again revokes its whole family."""
    answer = requests.post(base + "/v1/auth/tokens", timeout=30,
                           json={"user": creds["user"], "password": creds["password"]})
    answer.raise_for_status()
    return answer.json()["refresh_token"]


VALID_KINDS = 4


@schemathesis.auth()
class Credentials:
    """Per operation, the credential its security names; on a bearer route each case takes the
    next of the kinds it accepts: the login's access token as `Bearer` and as `JWT` (the Snips
    scheme), a named token, an HMAC signature (made in `before_call`, on the request as sent)."""

    def get(self, case, ctx):
        return True

    def set(self, case, data, ctx):
        scheme, scopes = security(case.operation)
        headers = case.headers if case.headers is not None else {}
        case.headers = headers
        if scheme == "client":
            pair = "{}:{}".format(creds["client_id"], creds["client_secret"])
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif scheme == "refresh_token":
            headers["Authorization"] = "Bearer " + fresh_refresh_token()
        elif scheme == "bearer":
            label = case.operation.label
            with lock:
                turn = turns.get(label, 0)
                turns[label] = turn + 1
            turn %= VALID_KINDS
            if turn == 0:
                headers["Authorization"] = "Bearer " + creds["access_token"]
            elif turn == 1:
                headers["Authorization"] = "JWT " + creds["access_token"]
            elif turn == 2:
                headers["Authorization"] = "Bearer " + creds["named_token"]
            else:
                headers.pop("Authorization", None)
                headers["X-Fuzz-Sign"] = "1"


# Every bearer route's first case is sent twice more, checked as schemathesis checks its own:
# with a token that is no token (401), and with a token without the route's scope (403; on a
# route that takes any token, one without `admin`, for which another user's id is a 403).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
probing = threading.local()
probed = set()
probe_failures = []


def probe(case):
    scheme, scopes = security(case.operation)
    label = case.operation.label
    with lock:
        if scheme != "bearer" or label in probed:
            return
        probed.add(label)
    saved = dict(case.headers or {})
    probing.active = True
    try:
        for credential in ["not-a-token", foreign_scope_token(scopes)]:
            case.headers = {**saved, "Authorization": "Bearer " + credential}
            try:
                case.call_and_validate(checks=CHECKS, timeout=20, allow_redirects=False)
            except Exception as failure:  # a check failed: reported with the others at the end
                with lock:
                    probe_failures.append("{} with {}: {}".format(label, credential[:12], failure))
    finally:
        case.headers = saved
        probing.active = False


@schemathesis.serializer("audio/wav")
def wav(ctx, value):
    """The recognize route's body: bytes as generated (a WAV file or not)."""
    if isinstance(value, bytes):
        return {"data": value}
    return {"data": str(value).encode("utf-8")}


@schemathesis.hook
def before_call(context, case, kwargs):
    if not getattr(probing, "active", False):
        with_real_ids(case)
    if case.headers and case.headers.pop("X-Fuzz-Sign", None):
        kwargs["auth"] = Signer()
        if os.environ.get("SCHEMA_FUZZ_DEBUG"):
            print("signing", case.operation.path, kwargs, file=sys.stderr)


real_ids = {}  # (operation, parameter) -> how many values it has had


def destroys(operation):
    """Whether the operation removes what it names: DELETE, and the console's GET of an alias
    token (its logout)."""
    return operation.method.upper() == "DELETE" or operation.path.endswith("{alias}")


def real(operation, name, value):
    """Every other value of a parameter that names a thing becomes a thing that exists (each of
    them in turn), so the answers past the lookup are reached too. Operations that remove what
    they name get things of their own (`spare_ids`), so that the others keep theirs."""
    ids = creds["ids"].get(name)
    if destroys(operation):
        ids = creds["spare_ids"].get(name, ids)
    if not ids:
        return value
    key = (operation.label, name)
    with lock:
        n = real_ids.get(key, 0)
        real_ids[key] = n + 1
    if n % 2:
        return value
    return ids[(n // 2) % len(ids)]


# Addresses the server would fetch from or upload to: never anywhere but a closed loopback port.
FETCHED = {"put_url", "MediaUrl"}
NOWHERE = "http://127.0.0.1:9/fuzz"


def with_real_ids(case):
    """Applied to every case as it is sent (the coverage phase skips the map hooks)."""
    operation = case.operation
    for name, value in list((case.path_parameters or {}).items()):
        case.path_parameters[name] = real(operation, name, value)
    for name, value in list((case.query or {}).items()):
        if name in FETCHED and "//" in str(value):
            case.query[name] = NOWHERE
        else:
            case.query[name] = real(operation, name, value)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """The peers (the message bus, snapserver) are absent: a 502/503/504 that the operation
    documents is its answer for that, not a failure. A 500, or a 5xx it does not document, is."""
    if isinstance(failure, ServerError):
        status = failure.status_code
        return status == 500 or str(status) not in case.operation.definition.raw.get("responses", {})
    return True


@schemathesis.hook
def after_call(context, case, response):
    key = "{} {}".format(case.operation.method.upper(), case.operation.path)
    if response.request.method != case.operation.method.upper():
        return  # a method the route does not take (405): not the operation's answer
    with lock:
        seen.setdefault(key, set()).add(response.status_code)
    if not getattr(probing, "active", False) and response.status_code < 500:
        probe(case)
    if os.environ.get("SCHEMA_FUZZ_DEBUG"):
        print("answer", key, response.request.method, response.status_code, "%.3f" % response.elapsed, response.request.headers, response.request.url, response.content[:200], file=sys.stderr)


# Python 3.11's `ast` is not safe to use from two threads at once, and Hypothesis parses the
# source of lambdas to describe them: one at a time.
_describe = lambda_sources._lambda_description
_describing = threading.Lock()


def _lambda_description(*args, **kwargs):
    with _describing:
        return _describe(*args, **kwargs)


lambda_sources._lambda_description = _lambda_description

# The coverage phase tries each operation with one method it does not take (PATCH: a 405), not
# every method there is, and no duplicated query parameters: the budget goes to the values.
with open("schemathesis.toml", "w") as f:
    f.write('[phases.coverage]\nunexpected-methods = ["patch"]\n'
            'generate-duplicate-query-parameters = false\n')

args = [
    "--no-color", "--config-file", "schemathesis.toml", "run", base + "/openapi.json",
    "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_headers_conformance,response_schema_conformance",
    # The coverage phase is deterministic (every parameter's boundaries, types and absence), so
    # what it reaches is the same every run; fuzzing adds random cases when examples are asked for.
    "--phases", "coverage" if max_examples == "0" else "coverage,fuzzing",
    "--max-examples", max(max_examples, "1", key=int),
    "--seed", seed,
    "--workers", "2",
    "--request-timeout", "20",
    "--max-redirects", "0",
    "--continue-on-failure",
    "--suppress-health-check", "all",
    "--generation-database", "none",
]
# A narrower run while fixing one route: SCHEMA_FUZZ_PATHS=<regex of paths>.
if os.environ.get("SCHEMA_FUZZ_PATHS"):
    args += ["--include-path-regex", os.environ["SCHEMA_FUZZ_PATHS"]]
code = 0
try:
    cli.main(args=args, standalone_mode=False)
except SystemExit as exit:
    code = exit.code or 0
finally:
    with open(seen_path, "w") as f:
        json.dump({k: sorted(v) for k, v in sorted(seen.items())}, f, indent=1)
if probe_failures:
    print("\nCredential probes that failed a check:\n" + "\n\n".join(probe_failures))
    code = code or 1
sys.exit(code)
