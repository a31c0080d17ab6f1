"""scripts/soak.py: the soak test that scripts/soak runs (see its header for the command); the
traffic is scripts/soak_traffic.py.

It starts, all on 127.0.0.1 with free ports and in a private temp dir: the Open Voice OS message
bus (`ovos-messagebus` from the venv) with the test stand-in for ovos-core and skill-rest-api on
it (crates/testkit/python/ovos_responder.py), Debian's snapserver with two TCP sources (S1 for
voicegate's sessions, S2 where the speakers outside a session wait) and two snapclients playing
into /dev/null, and the given voicegate binary (a user with an e-mail, an API key and an OAuth2
client made by its CLI). Then, for the given number of minutes:

  * LOAD: CLIENTS threads (default 6), each with its own connection, pick actions at random by
    weight: ovos-api (speech, stop, microphone, info, skills, volume), vocalid (voice list,
    synthesis with espeak and flite, recordings uploaded, accounts read, builds started and
    polled, licences), OAuth2 (client_credentials token, introspection, user info with it), HMAC
    (signed voice lists, each with its own nonce), HK speakers (device list, volumes, spoken
    announcements, playback status, on one shared session), Snips console (parse, status, the
    small assistant's dataset replaced and trained again at most once a minute); one more
    thread keeps a `/v1/events` stream open and opens it again every 30 s.
  * FAULTS: every INTERVAL seconds (180 for 30 minutes; shorter runs: a quarter of the run, at
    least 40 s) one of, in turn: the bus killed (SIGKILL) and started again after 5 s with a new
    ovos-core stand-in; snapserver killed and started again after 5 s; with --kill-server also
    voicegate itself, started again on the same data. A fault's window runs from the kill until
    the peer is back and GRACE (15 s) more.
  * SAMPLES: every SAMPLE seconds (5; 2 for runs under 10 minutes) voicegate's RSS, threads, open
    descriptors (/proc/PID/fd), the database's size (voicegate.db and its -wal) and the blobs'
    size go into soak.csv (in --out, default the current directory).

At the end it prints a summary and exits 1 when:
  * any answer was a 5xx, or none came (30 s), outside the windows of the faults its route
    depends on (bus routes: the bus; speaker routes: snapserver; every route: voicegate); inside
    them only 503 and 504 (the stand-in not yet reconnected), or no answer while voicegate itself
    was down, are excused;
  * RSS: the median of the last quarter of the samples (after the first 10 %, the warm-up) is
    above 1.2 x the first quarter's median + 5 MiB;
  * descriptors: the last quarter's largest count is above the first quarter's largest + 10;
  * the database (with its WAL) grew by more than 2 KiB per write the server acknowledged
    (recordings, builds, devices, trainings, tokens, signed nonces...) + 8 MiB, or the blobs by
    more than 256 KiB per build or training + 4 MiB (recordings repeat the same files, which
    are stored once).
With --kill-server the growth bounds are judged on the longest-lived voicegate process.
"""

import argparse
import collections
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

from soak_traffic import (DATASET, EMAIL, PASSWORD, REQUEST_TIMEOUT, USER, Recorder, Shared, events_thread,
                          load_thread)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESPONDER = os.path.join(ROOT, "crates", "testkit", "python", "ovos_responder.py")
API_KEY = "soak-shared-with-the-skill"
GRACE = 15.0
MIB = 1024 * 1024


def log(text):
    print("==> %s" % text, file=sys.stderr, flush=True)


def die(text):
    print("error: %s" % text, file=sys.stderr, flush=True)
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    die("%s did not listen on %d within %d s" % (what, port, seconds))


class Processes:
    """The helper processes, by name; all killed at the end."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.running = {}
        self.lock = threading.Lock()

    def start(self, name, argv, env=None, stdout=None):
        log_file = open(os.path.join(self.tmp, name + ".log"), "ab")
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=stdout or log_file, stderr=log_file, cwd=self.tmp)
        with self.lock:
            self.running[name] = proc
        return proc

    def kill9(self, name):
        with self.lock:
            proc = self.running.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self):
        with self.lock:
            procs = list(self.running.items())
            self.running.clear()
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


class Stack:
    """The peers and voicegate."""

    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.procs = Processes(tmp)
        self.venv_bin = os.path.dirname(args.python)
        self.bus_port, self.control_port, self.stream_port = free_port(), free_port(), free_port()
        self.s1_port, self.s2_port, self.port = free_port(), free_port(), free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.data = os.path.join(tmp, "data")
        self.bus_home = os.path.join(tmp, "bus")
        os.makedirs(os.path.join(self.bus_home, "mycroft"))
        with open(os.path.join(self.bus_home, "mycroft", "mycroft.conf"), "w") as f:
            json.dump({"websocket": {"host": "127.0.0.1", "port": self.bus_port}}, f)
        self.config = os.path.join(tmp, "voicegate.toml")
        self.server_pid = None

    # --- the bus and the ovos-core stand-in ---------------------------------------------------
    def bus_env(self):
        env = dict(os.environ)
        env.update(XDG_CONFIG_HOME=self.bus_home, XDG_STATE_HOME=self.bus_home, XDG_DATA_HOME=self.bus_home)
        return env

    def start_bus(self):
        self.procs.start("bus", [os.path.join(self.venv_bin, "ovos-messagebus")], env=self.bus_env())
        wait_port(self.bus_port, 30, "ovos-messagebus")

    def start_responder(self):
        proc = self.procs.start("responder", [self.args.python, RESPONDER, "--port", str(self.bus_port),
                                              "--api-key", API_KEY], env=self.bus_env(), stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.strip() == b"ready":
                break
            if time.monotonic() > deadline:
                die("the ovos-core stand-in did not get ready")
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()

    def kill_bus(self):
        self.procs.kill9("responder")
        self.procs.kill9("bus")

    # --- snapserver and its speakers ------------------------------------------------------------
    def write_snapserver_config(self):
        snap = os.path.join(self.tmp, "snap")
        os.makedirs(os.path.join(snap, "data"), exist_ok=True)
        with open(os.path.join(snap, "snapserver.conf"), "w") as f:
            f.write("[server]\nthreads = 2\ndatadir = %s/data\n\n[http]\nenabled = false\n\n"
                    "[tcp]\nenabled = true\nbind_to_address = 127.0.0.1\nport = %d\n\n"
                    "[stream]\nbind_to_address = 127.0.0.1\nport = %d\n"
                    "source = tcp://127.0.0.1:%d?name=S1&mode=server&sampleformat=48000:16:2\n"
                    "source = tcp://127.0.0.1:%d?name=S2&mode=server&sampleformat=48000:16:2\n"
                    "sampleformat = 48000:16:2\ncodec = pcm\nchunk_ms = 20\nbuffer = 300\n"
                    "send_to_muted = true\n\n[logging]\nfilter = *:warning\n"
                    % (snap, self.control_port, self.stream_port, self.s1_port, self.s2_port))
        return os.path.join(snap, "snapserver.conf")

    def start_snapserver(self):
        self.procs.start("snapserver", ["snapserver", "-c", os.path.join(self.tmp, "snap", "snapserver.conf")])
        wait_port(self.control_port, 30, "snapserver")

    def start_speakers(self):
        for n in (1, 2):
            self.procs.start("snapclient-%d" % n, [
                "snapclient", "-h", "127.0.0.1", "-p", str(self.stream_port), "--hostID", "soak-%d" % n,
                "--logsink", "null", "--player", "file:filename=/dev/null"])

    def kill_snapserver(self):
        self.procs.kill9("snapserver")

    # --- voicegate ------------------------------------------------------------------------------
    def write_config(self):
        with open(self.config, "w") as f:
            f.write('data_dir = "%s"\n\n[ovos]\nws_port = %d\napi_key = "%s"\nreconnect_max_ms = 1000\n\n'
                    '[speakers]\nbackend = "snapcast"\nsnapcast_control = "127.0.0.1:%d"\n'
                    'snapcast_streams = ["S1=tcp://127.0.0.1:%d"]\nbuffer_ms = 300\n'
                    'snapcast_reconnect_max_ms = 1000\nmedia_dir = ""\n'
                    % (self.data, self.bus_port, API_KEY, self.control_port, self.s1_port))

    def cli(self, *argv, stdin=None):
        out = subprocess.run([self.args.bin, "--config", self.config, *argv], input=stdin,
                             capture_output=True, text=True, timeout=120, cwd=self.tmp)
        if out.returncode != 0:
            die("voicegate %s: %s" % (" ".join(argv), out.stderr.strip()))
        return out.stdout

    def start_server(self):
        proc = self.procs.start("voicegate", [self.args.bin, "--config", self.config, "serve", "--listen",
                                              "127.0.0.1:%d" % self.port])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                die("voicegate exited during start (see voicegate.log in %s)" % self.tmp)
            try:
                if requests.get(self.base + "/v1/network/ping", timeout=1).status_code == 200:
                    self.server_pid = proc.pid
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        die("voicegate did not answer within 30 s")

    def kill_server(self):
        self.procs.kill9("voicegate")

    def wait_bus_connected(self, token, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                r = requests.get(self.base + "/v1/network/websocket", timeout=2,
                                 headers={"Authorization": "Bearer " + token})
                if r.status_code == 200 and r.json().get("listening"):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        die("voicegate did not connect to the bus within %d s" % seconds)


# --- faults and samples ---------------------------------------------------------------------------
class Faults:
    def __init__(self, stack, shared, kinds, interval, stop):
        self.stack, self.shared, self.kinds, self.interval, self.stop = stack, shared, kinds, interval, stop
        # (start, end, kind, back after s, voicegate connected to the new bus after s)
        self.windows = []
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            self.inject()
        except (Exception, SystemExit) as e:  # a peer that did not come back
            self.error = "fault injection stopped: %s" % (e,)
            log(self.error)

    def inject(self):
        n = 0
        if self.stop.wait(self.interval / 2):
            return
        while True:
            kind = self.kinds[n % len(self.kinds)]
            n += 1
            start = time.monotonic()
            log("fault %d: killing %s (SIGKILL)" % (n, kind))
            reconnected = None
            if kind == "bus":
                self.stack.kill_bus()
                time.sleep(5)
                self.stack.start_bus()
                listening = time.monotonic()
                self.stack.wait_bus_connected(self.shared.token())
                reconnected = time.monotonic() - listening
                self.stack.start_responder()
            elif kind == "snap":
                self.stack.kill_snapserver()
                time.sleep(5)
                self.stack.start_snapserver()
            else:
                self.stack.kill_server()
                time.sleep(2)
                self.stack.start_server()
                self.stack.wait_bus_connected(self.shared.token())
            back = time.monotonic()
            log("fault %d: %s back after %.1f s%s" % (
                n, kind, back - start,
                "" if reconnected is None else " (voicegate connected %.2f s after the bus listened again; "
                "then the ovos-core stand-in)" % reconnected))
            with self.lock:
                self.windows.append((start, back + GRACE, kind, back - start, reconnected))
            if self.stop.wait(self.interval):
                return

    def excused(self, row):
        t0, t1, peer, _, status = row
        with self.lock:
            windows = list(self.windows)
        for start, end, kind, _, _ in windows:
            if t1 < start or t0 > end:
                continue
            if kind == "server":
                return True
            if kind == peer and status in (503, 504):
                return True
        return False


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def sample_thread(stack, recorder, every, out_path, samples, stop):
    started = time.monotonic()
    with open(out_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seconds", "pid", "rss_kib", "threads", "fds", "db_bytes", "wal_bytes",
                         "blobs_bytes", "requests", "writes"])
        while not stop.wait(every):
            pid = stack.server_pid
            try:
                with open("/proc/%d/status" % pid) as s:
                    fields = dict(line.split(":", 1) for line in s if ":" in line)
                rss = int(fields["VmRSS"].split()[0])
                threads = int(fields["Threads"].strip())
                fds = len(os.listdir("/proc/%d/fd" % pid))
            except (OSError, KeyError, ValueError, TypeError):
                continue
            db = os.path.join(stack.data, "voicegate.db")
            db_bytes = os.path.getsize(db) if os.path.exists(db) else 0
            wal_bytes = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
            blobs = dir_size(os.path.join(stack.data, "blobs"))
            with recorder.lock:
                requests_so_far, writes = len(recorder.rows), recorder.writes
            row = (round(time.monotonic() - started, 1), pid, rss, threads, fds, db_bytes, wal_bytes, blobs,
                   requests_so_far, writes)
            samples.append(row)
            writer.writerow(row)
            f.flush()


# --- setup, run, judge ----------------------------------------------------------------------------
def setup(stack, shared):
    wav = os.path.join(stack.tmp, "sample.wav")
    subprocess.run(["espeak-ng", "-w", wav, "this is a sample of my voice"], check=True, timeout=60)
    shared.wav = wav
    stack.cli("user", "add", USER, "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    key = json.loads(stack.cli("apikey", "add", "--user", USER, "--json"))
    shared.api_key, shared.api_secret = key["api_key"], key["secret"]
    client = json.loads(stack.cli("client", "add", "--name", "soak", "--owner", USER,
                                  "--grant", "client_credentials", "--scope", "user:info", "--json"))
    shared.client_id, shared.client_secret = client["client_id"], client["client_secret"]
    stack.start_server()
    token = shared.token()
    stack.wait_bus_connected(token)
    auth = {"Authorization": "Bearer " + token}
    r = requests.post(stack.base + "/api/v1/external/account/register/", headers=auth,
                      json={"gender": "male", "age": "25"}, timeout=REQUEST_TIMEOUT)
    r.ok or die("account/register: %d %s" % (r.status_code, r.text))
    shared.account = r.json()["account_id"]
    r = requests.post(stack.base + "/api/v1/external/device/register/", headers=auth, timeout=REQUEST_TIMEOUT)
    r.ok or die("device/register: %d %s" % (r.status_code, r.text))
    shared.device = r.json()["device_id"]
    r = requests.post(stack.base + "/v1/user/auth", json={"email": EMAIL, "password": PASSWORD},
                      timeout=REQUEST_TIMEOUT)
    r.ok or die("console login: %d %s" % (r.status_code, r.text))
    console_headers = {"Authorization": r.headers["authorization"]}
    user_id = r.json()["user"]["id"]
    r = requests.post(stack.base + "/v1/user/%s/accesstoken" % user_id, headers=console_headers,
                      json={"alias": "soak"}, timeout=REQUEST_TIMEOUT)
    r.status_code == 201 or die("alias token: %d %s" % (r.status_code, r.text))
    shared.alias_token = r.json()["token"]["token"]
    jwt = {"Authorization": "JWT " + shared.alias_token}
    r = requests.post(stack.base + "/v3/assistant", headers=jwt, json={"title": "Soak", "dataset": DATASET},
                      timeout=REQUEST_TIMEOUT)
    r.status_code == 201 or die("assistant: %d %s" % (r.status_code, r.text))
    shared.assistant = r.json()["id"]
    r = requests.post(stack.base + "/v1/training", headers=jwt, json={"assistantId": shared.assistant},
                      timeout=REQUEST_TIMEOUT)
    r.ok or die("training: %d %s" % (r.status_code, r.text))
    deadline = time.monotonic() + 120
    while requests.get(stack.base + "/v3/assistant/%s/status" % shared.assistant, headers=jwt,
                       timeout=REQUEST_TIMEOUT).json()["nluStatus"]["inProgress"]:
        time.monotonic() < deadline or die("the first training did not end within 120 s")
        time.sleep(0.2)


def quarters(values):
    """The first and last quarter of the samples after the first 10 % (the warm-up)."""
    values = values[len(values) // 10:]
    q = max(1, len(values) // 4)
    return values[:q], values[-q:]


def judge(recorder, faults, samples, started, ended):
    failures = []
    rows = recorder.rows
    by_route = {}
    for row in rows:
        stats = by_route.setdefault(row[3], {"n": 0, "ok": 0, "4xx": 0, "5xx": 0, "none": 0, "lat": []})
        stats["n"] += 1
        status = row[4]
        stats["lat"].append(row[1] - row[0])
        if status == 0:
            stats["none"] += 1
        elif status >= 500:
            stats["5xx"] += 1
        elif status >= 400:
            stats["4xx"] += 1
        else:
            stats["ok"] += 1
    print("\n## Soak summary: %.1f minutes, %d requests (%.1f/s)\n" % (
        (ended - started) / 60, len(rows), len(rows) / max(ended - started, 1)))
    print("| route | requests | 2xx/3xx | 4xx | 5xx | no answer | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for route in sorted(by_route):
        s = by_route[route]
        lat = sorted(s["lat"])
        pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
        print("| %s | %d | %d | %d | %d | %d | %.0f | %.0f | %.0f |" % (
            route, s["n"], s["ok"], s["4xx"], s["5xx"], s["none"], pct(0.5), pct(0.99), lat[-1] * 1000))
    unexcused = [r for r in rows if (r[4] == 0 or r[4] >= 500) and not faults.excused(r)]
    excused = [r for r in rows if (r[4] == 0 or r[4] >= 500) and faults.excused(r)]
    print("\nFaults injected (window: kill until back + %d s):" % GRACE)
    for start, end, kind, back, reconnected in faults.windows:
        peer = {"bus": "bus", "snap": "snap"}.get(kind)
        mine = [r for r in rows if r[2] == peer or kind == "server"]
        # Recovered: the first success answered once the peer was back (and voicegate told so).
        first_ok = min((r[1] for r in mine if r[1] >= start + back and 0 < r[4] < 500), default=None)
        in_window = [r for r in mine if r[0] <= end and r[1] >= start]
        failed = collections.Counter(r[4] or "no answer" for r in in_window if r[4] == 0 or r[4] >= 500)
        waits = [r[1] - max(r[0], start) for r in in_window if r[4] == 503]
        if reconnected is not None:
            print("  at %6.1f s: voicegate connected to the new bus %.2f s after it listened" % (
                start - started, reconnected))
        print("  at %6.1f s: %-6s back after %.1f s; first success %s after that; %d requests of its routes "
              "in the window, failed: %s; longest wait for a 503 after the kill: %.0f ms" % (
                  start - started, kind, back,
                  "%.2f s" % (first_ok - (start + back)) if first_ok else "never", len(in_window),
                  dict(failed) or "none", max(waits, default=0) * 1000))
    print("5xx or no answer inside fault windows (excused): %d; outside: %d" % (len(excused), len(unexcused)))
    for r in unexcused[:20]:
        print("  UNEXCUSED at %.1f s: %s -> %s after %.0f ms" % (r[0] - started, r[3], r[4] or "no answer",
                                                                 (r[1] - r[0]) * 1000))
    if unexcused:
        failures.append("%d 5xx or unanswered requests outside the fault windows" % len(unexcused))
    if faults.error:
        failures.append(faults.error)

    # Growth: within the longest-lived process.
    segments = {}
    for s in samples:
        segments.setdefault(s[1], []).append(s)
    if not segments:
        failures.append("no samples")
        return failures
    longest = max(segments.values(), key=len)
    if len(longest) < 8:
        failures.append("too few samples (%d) to judge growth" % len(longest))
        return failures
    first, last = quarters(longest)
    med = lambda rows, i: statistics.median(r[i] for r in rows)
    rss0, rss1 = med(first, 2) / 1024, med(last, 2) / 1024
    rss_bound = 1.2 * rss0 + 5
    fd0, fd1 = max(r[4] for r in first), max(r[4] for r in last)
    db = lambda r: r[5] + r[6]
    db0, db1 = med(first, 5) + med(first, 6), db(longest[-1])
    writes = longest[-1][9] - first[len(first) // 2][9]
    db_bound = db0 + 2048 * max(writes, 0) + 8 * MIB
    blobs0, blobs1 = med(first, 7), longest[-1][7]
    heavy = recorder.heavy_writes
    blobs_bound = blobs0 + 256 * 1024 * heavy + 4 * MIB
    print("\nSamples: %d (pid %d: %d); RSS first-quarter median %.1f MiB, last-quarter median %.1f MiB "
          "(bound %.1f); fds first-quarter max %d, last-quarter max %d (bound %d); threads %d -> %d" % (
              len(samples), longest[0][1], len(longest), rss0, rss1, rss_bound, fd0, fd1, fd0 + 10,
              first[0][3], longest[-1][3]))
    print("database+WAL %.2f MiB -> %.2f MiB over %d acknowledged writes (bound %.2f MiB); blobs %.2f MiB -> "
          "%.2f MiB (bound %.2f MiB, %d builds/trainings)" % (
              db0 / MIB, db1 / MIB, writes, db_bound / MIB, blobs0 / MIB, blobs1 / MIB, blobs_bound / MIB, heavy))
    if rss1 > rss_bound:
        failures.append("RSS grew: %.1f MiB > %.1f MiB" % (rss1, rss_bound))
    if fd1 > fd0 + 10:
        failures.append("open descriptors grew: %d > %d" % (fd1, fd0 + 10))
    if db1 > db_bound:
        failures.append("the database grew beyond its bound: %.2f MiB > %.2f MiB" % (db1 / MIB, db_bound / MIB))
    if blobs1 > blobs_bound:
        failures.append("the blobs grew beyond their bound: %.2f MiB > %.2f MiB" % (blobs1 / MIB, blobs_bound / MIB))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--bin", required=True, help="the voicegate binary")
    parser.add_argument("--python", default=sys.executable, help="the venv's python (ovos-messagebus beside it)")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--kill-server", action="store_true", help="also SIGKILL voicegate among the faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=".", help="where soak.csv goes")
    args = parser.parse_args()
    if not 1 <= args.clients <= 32:
        die("--clients must be from 1 to 32")
    if not 0.5 <= args.minutes <= 1440:
        die("MINUTES must be from 0.5 to 1440")
    for tool in ("snapserver", "snapclient", "espeak-ng"):
        shutil.which(tool) or die("%s is required (scripts/test installs it)" % tool)
    os.path.exists(os.path.join(os.path.dirname(args.python), "ovos-messagebus")) or \
        die("no ovos-messagebus beside %s: run scripts/test once (it makes .venv)" % args.python)
    total = args.minutes * 60
    interval = 180.0 if total >= 1800 else max(40.0, total / 4)
    every = 5.0 if total >= 600 else 2.0

    tmp = tempfile.mkdtemp(prefix="voicegate-soak.")
    stack = Stack(args, tmp)
    stop = threading.Event()
    failures = ["did not finish"]
    try:
        log("starting the bus, snapserver, two speakers (temp dir %s)" % tmp)
        stack.start_bus()
        stack.start_responder()
        stack.write_snapserver_config()
        stack.start_snapserver()
        stack.start_speakers()
        stack.write_config()
        shared = Shared(stack)
        log("starting voicegate, setting up a user, an API key, an OAuth2 client, a voice account, "
            "an assistant (trained once)")
        setup(stack, shared)
        recorder = Recorder()
        kinds = ["bus", "snap"] + (["server"] if args.kill_server else [])
        faults = Faults(stack, shared, kinds, interval, stop)
        samples = []
        csv_path = os.path.join(os.path.abspath(args.out), "soak.csv")
        log("soaking for %.1f minutes: %d clients, a fault every %.0f s (%s), a sample every %.0f s into %s" % (
            args.minutes, args.clients, interval, ", ".join(kinds), every, csv_path))
        threads = [threading.Thread(target=load_thread, args=(n, shared, recorder, stop, args.seed), daemon=True)
                   for n in range(args.clients)]
        threads.append(threading.Thread(target=events_thread, args=(shared, recorder, stop), daemon=True))
        threads.append(threading.Thread(target=sample_thread,
                                        args=(stack, recorder, every, csv_path, samples, stop), daemon=True))
        fault_thread = threading.Thread(target=faults.run, daemon=True)
        started = time.monotonic()
        for t in threads:
            t.start()
        fault_thread.start()
        stop.wait(total)
        stop.set()
        ended = time.monotonic()
        # A fault under way finishes first (its peer comes back).
        fault_thread.join(timeout=90)
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
        failures = judge(recorder, faults, samples, started, ended)
    finally:
        stop.set()
        stack.procs.stop_all()
        if failures:
            for name in ("voicegate", "snapserver", "bus", "responder"):
                path = os.path.join(tmp, name + ".log")
                if os.path.exists(path):
                    shutil.copy(path, os.path.join(os.path.abspath(args.out), "soak-%s.log" % name))
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("\nFAIL:\n  " + "\n  ".join(failures))
        print("(the processes' logs: soak-*.log beside soak.csv)")
        return 1
    print("\nPASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
