"""scripts/soak_traffic.py: the soak test's traffic (scripts/soak.py runs it): the clients, what
they share, and the actions they pick by weight on every surface."""

import datetime
import hashlib
import hmac
import json
import os
import random
import threading
import time

import requests

USER, EMAIL, PASSWORD = "soak", "soak@example.org", "soak-password-%d" % os.getpid()
REQUEST_TIMEOUT = 30.0

DATASET = {
    "language": "en",
    "intents": {
        "turnLightOn": {"utterances": [
            {"data": [{"text": "turn on the lights in the "},
                      {"text": "kitchen", "entity": "room", "slot_name": "room"}]},
            {"data": [{"text": "switch the "}, {"text": "bedroom", "entity": "room", "slot_name": "room"},
                      {"text": " lights on"}]},
            {"data": [{"text": "lights on in the "},
                      {"text": "living room", "entity": "room", "slot_name": "room"}, {"text": " please"}]},
        ]},
        "setTemperature": {"utterances": [
            {"data": [{"text": "set the temperature to "},
                      {"text": "twenty", "entity": "snips/number", "slot_name": "degrees"},
                      {"text": " degrees"}]},
            {"data": [{"text": "make it "}, {"text": "18", "entity": "snips/number", "slot_name": "degrees"},
                      {"text": " degrees in here"}]},
        ]},
    },
    "entities": {
        "room": {"data": [{"value": "kitchen", "synonyms": []}, {"value": "bedroom", "synonyms": []},
                          {"value": "living room", "synonyms": []}],
                 "use_synonyms": True, "automatically_extensible": True, "matching_strictness": 1.0},
        "snips/number": {},
    },
}


class Recorder:
    """Every answer: (start, end, peer, route, status); status 0 when none came."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []
        self.writes = 0
        self.heavy_writes = 0

    def add(self, row):
        with self.lock:
            self.rows.append(row)

    def wrote(self, heavy=False):
        with self.lock:
            self.writes += 1
            self.heavy_writes += 1 if heavy else 0


class Client:
    """One load thread's view of the server: its connection, the shared credentials."""

    def __init__(self, shared, recorder, rng):
        self.shared, self.rec, self.rng = shared, recorder, rng
        self.http = requests.Session()

    def call(self, peer, route, method, path, cred="bearer", **kw):
        """One request (`cred` "bearer": with the login token; None: with what `kw` carries),
        recorded with its route's peer."""
        headers = kw.pop("headers", {})
        if cred == "bearer":
            headers["Authorization"] = "Bearer " + self.shared.token()
        t0 = time.monotonic()
        try:
            r = self.http.request(method, self.shared.base + path, headers=headers, timeout=REQUEST_TIMEOUT, **kw)
            status = r.status_code
            if status == 401 and cred == "bearer":
                self.shared.relogin()
        except requests.RequestException:
            r, status = None, 0
        self.rec.add((t0, time.monotonic(), peer, route, status))
        return r

    def ok(self, r):
        return r is not None and r.status_code < 300


class Shared:
    """What the load threads share: the server's address, the login, the HK session, the
    assistant, the voice account."""

    def __init__(self, stack):
        self.stack = stack
        self.base = stack.base
        self.lock = threading.Lock()
        self._token = None
        self.hk_session = None
        self.account_full = None
        self.last_training = 0.0
        self.last_build = 0.0
        self.oauth_token, self.oauth_at = None, 0.0

    def relogin(self):
        for _ in range(10):
            try:
                r = requests.post(self.base + "/v1/auth/tokens", json={"user": USER, "password": PASSWORD},
                                  timeout=REQUEST_TIMEOUT)
                if r.status_code == 200:
                    with self.lock:
                        self._token = r.json()["access_token"]
                    return
            except requests.RequestException:
                pass
            time.sleep(1)

    def token(self):
        with self.lock:
            token = self._token
        if token is None:
            self.relogin()
            with self.lock:
                token = self._token
        return token or ""


def sign(secret, method, path, query, body=b""):
    nonce = os.urandom(12).hex()
    timestamp = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()
    digest = hashlib.sha256(("%s\n%s\n%s\n%s\n%s\n%s" % (
        method, path, query, nonce, hashlib.sha256(body).hexdigest(), timestamp)).encode("latin-1")).hexdigest()
    signature = hmac.new(secret.encode("latin-1"), digest.encode("latin-1"), "sha256").hexdigest()
    return "signature=%s, nonce=%s, timestamp=%s" % (signature, nonce, timestamp)


# --- the actions ----------------------------------------------------------------------------------
def ovos(c):
    choice = c.rng.randrange(6)
    if choice == 0:
        c.call("bus", "ovos speak", "POST", "/v1/voice/speech", json={"utterance": "soak test"})
    elif choice == 1:
        c.call("bus", "ovos stop", "DELETE", "/v1/voice/speech")
    elif choice == 2:
        c.call("bus", "ovos mic", "GET", "/v1/voice/microphone")
    elif choice == 3:
        c.call("bus", "ovos info", "GET", "/v1/system/info")
    elif choice == 4:
        c.call("bus", "ovos skills", "GET", "/v1/skills")
    else:
        c.call("bus", "ovos volume", "GET", "/v1/voice/volume")


def hk(c):
    s = c.shared
    with s.lock:
        session = s.hk_session
    if session is None:
        r = c.call("snap", "hk init_session", "GET", "/api/v1/init_session")
        if c.ok(r):
            with s.lock:
                s.hk_session = session = r.json()["SessionToken"]
        return
    verb, more = c.rng.choice([
        ("device_list", {}), ("get_volume", {}), ("set_volume", {"Volume": str(c.rng.randrange(5, 30))}),
        ("play_tts_party_mode", {"Text": "Soak test."}), ("playback_status", {}), ("is_playing", {})])
    params = {"SessionToken": session}
    params.update(more)
    r = c.call("snap", "hk " + verb, "GET", "/api/v1/" + verb, params=params)
    if r is not None and r.status_code == 404:
        with s.lock:
            if s.hk_session == session:
                s.hk_session = None


def voices(c):
    s = c.shared
    choice = c.rng.randrange(10)
    if choice < 3:
        c.call(None, "voices list", "GET", "/api/v1/external/voices/list/")
    elif choice < 5:
        voice = c.rng.choice(["espeak:en-us", "flite:slt"])
        c.call(None, "voices synthesis", "GET", "/api/v1/external/synthesis/",
               params={"download_token": voice, "script": "This is a soak test sentence.", "pitch": "1", "rate": "1"})
    elif choice < 7:
        with open(s.wav, "rb") as f:
            r = c.call(None, "voices recording", "POST", "/api/v1/external/recording/save/",
                       files={"file": ("sample.wav", f, "audio/wav")},
                       data={"data": json.dumps({"account_id": s.account, "sentence": "this is a sample"})})
        if c.ok(r):
            c.rec.wrote()
        elif r is not None and r.status_code == 429:
            # The account holds its quota of recordings (quotas.recordings_per_account): the next
            # ones go to a new account.
            with s.lock:
                full, due = s.account, s.account_full != s.account
                s.account_full = s.account
            if due:
                r = c.call(None, "voices account register", "POST", "/api/v1/external/account/register/",
                           json={"gender": "female", "age": "30"})
                with s.lock:
                    if c.ok(r) and s.account == full:
                        c.rec.wrote()
                        s.account = r.json()["account_id"]
                    elif not c.ok(r):
                        s.account_full = None  # asked again by the next refusal
    elif choice == 7:
        c.call(None, "voices account", "GET", "/api/v1/external/account/info/", params={"account_id": s.account})
    elif choice == 8:
        c.call(None, "voices build status", "GET", "/api/v1/external/build/status/")
        with s.lock:
            due = time.monotonic() - s.last_build > 60
            if due:
                s.last_build = time.monotonic()
        if due:
            r = c.call(None, "voices build", "POST", "/api/v1/external/build/new/", json={"account_id": s.account})
            if c.ok(r):
                c.rec.wrote(heavy=True)
    else:
        c.call(None, "voices licence", "GET", "/api/v1/external/licenses/espeak:en-us",
               params={"device_id": s.device})


def oauth(c):
    s = c.shared
    with s.lock:
        token = s.oauth_token if time.monotonic() - s.oauth_at < 20 else None
        if token is None:
            s.oauth_at = time.monotonic()
    if token is None:
        r = c.call(None, "oauth token", "POST", "/oauth/token", cred=None, auth=(s.client_id, s.client_secret),
                   data={"grant_type": "client_credentials", "scope": "user:info"})
        if c.ok(r):
            c.rec.wrote()
            with s.lock:
                s.oauth_token = token = r.json()["access_token"]
        return
    if c.rng.randrange(4) == 0:
        c.call(None, "oauth introspect", "POST", "/oauth/introspect", cred=None,
               auth=(s.client_id, s.client_secret), data={"token": token})
    else:
        c.call(None, "oauth user info", "GET", "/api/v1/external/user/info/", cred=None,
               headers={"Authorization": "Bearer " + token})


def signed(c):
    s = c.shared
    path, query = "/api/v1/external/voices/list/", "api_key=" + s.api_key
    r = c.call(None, "hmac voices list", "GET", path + "?" + query, cred=None,
               headers={"Authorization": sign(s.api_secret, "GET", path, query)})
    if c.ok(r):
        c.rec.wrote()


def console(c):
    s = c.shared
    headers = {"Authorization": "JWT " + s.alias_token}
    choice = c.rng.randrange(10)
    if choice < 6:
        c.call(None, "snips parse", "POST", "/v3/assistant/%s/parse" % s.assistant, cred=None, headers=headers,
               json={"text": c.rng.choice(["turn on the lights in the kitchen", "make it 20 degrees in here"])})
    elif choice < 9:
        c.call(None, "snips status", "GET", "/v3/assistant/%s/status" % s.assistant, cred=None, headers=headers)
    else:
        with s.lock:
            due = time.monotonic() - s.last_training > 60
            if due:
                s.last_training = time.monotonic()
        if not due:
            return
        dataset = json.loads(json.dumps(DATASET))
        if c.rng.randrange(2):
            dataset["intents"]["turnLightOn"]["utterances"].append({"data": [{"text": "lights on please"}]})
        r = c.call(None, "snips replace", "PUT", "/v3/assistant/%s" % s.assistant, cred=None, headers=headers,
                   json={"dataset": dataset})
        if c.ok(r):
            c.rec.wrote()
        r = c.call(None, "snips training", "POST", "/v1/training", cred=None, headers=headers,
                   json={"assistantId": s.assistant})
        if c.ok(r):
            c.rec.wrote(heavy=True)


ACTIONS = [(ovos, 5), (hk, 5), (voices, 4), (oauth, 1), (signed, 2), (console, 3)]


def load_thread(n, shared, recorder, stop, seed):
    c = Client(shared, recorder, random.Random(seed * 1000 + n))
    actions = [a for a, weight in ACTIONS for _ in range(weight)]
    while not stop.is_set():
        c.rng.choice(actions)(c)
        stop.wait(0.01)


def events_thread(shared, recorder, stop):
    http = requests.Session()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            with http.get(shared.base + "/v1/events", stream=True, timeout=(5, 35),
                          headers={"Authorization": "Bearer " + shared.token()}) as r:
                recorder.add((t0, time.monotonic(), None, "events stream", r.status_code))
                until = time.monotonic() + 30
                for _ in r.iter_lines(chunk_size=1):
                    if stop.is_set() or time.monotonic() > until:
                        break
        except requests.RequestException:
            pass
        stop.wait(0.5)
