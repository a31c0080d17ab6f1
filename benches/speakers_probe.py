#!/usr/bin/env python3
"""benches/speakers_probe.py: the measuring side of benches/speakers-load.sh (standard library only).

It talks to a running voicegate (HK Omni speakers routes, a Bearer token) and to the snapserver it
drives (JSON-RPC on the control port, and one spare TCP stream source written directly), and reads
the raw PCM files the snapclients' file players write (48000 Hz, 16-bit, stereo; silence while
idle, in real time). Every wait is bounded; a broken step exits non-zero with a line on stderr.

    speakers_probe.py --base URL --login FILE --control HOST:PORT --pcm-dir DIR
        --speakers spk1,spk2 --baseline-client base --baseline-stream S2 --baseline-port PORT
        --repeat N --volume-repeat M [--web-media FILE --web-media-type TYPE] --out FILE

Set-up: waits until snapserver lists every client connected, names each client after its id
(Client.SetName, so that a DeviceName says which file is which), moves the baseline client's group
onto the spare stream (Group.SetStream), opens a session (init_session), waits until device_list
shows every client active, and adds the speakers to the session (add_device_to_session).

First audio: the time from sending a play request to the first sample louder than --threshold in
a speaker's file, polled every --poll-ms (default 2). Per request and speaker it records
  - file_ms: when the sample was seen in the file (the file player writes blocks of about 50 ms
    about every 50 ms, so this is quantized to that grid);
  - sample_ms: when the sample plays: the block's arrival (the first poll that saw the block's
    first bytes), plus the 10 ms the player asks ahead, plus the sample's place in the block
    (frames / 48000); this takes the grid out.
Kinds, alternating request by request so that a drift of the machine touches all alike:
  - baseline: --baseline-ms of a 440 Hz tone written at once into the spare stream source over a
    connection kept open (as voicegate's feeder keeps its own), heard at the baseline client:
    Snapcast alone (its buffer, the client, the file player);
  - tts: GET /api/v1/play_tts?SessionToken=…&Text=--text (the session's speakers);
  - web: GET /api/v1/play_web_media?SessionToken=…&MediaUrl=<the --web-media file, served by a
    small HTTP server on 127.0.0.1 in this process>. Skipped, said so, when the route answers
    404 or 405 (not served by this build).
The first request of each kind is made once before the loop and reported apart ("cold": the
first connection to the stream source, the first group change, the engine's first use). Each
clip plays to its end; before the next request playback_status must say Stopped and every file
must have been silent for --quiet-ms.

Volume: --volume-repeat sequential GET /api/v1/set_volume_device (the first speaker, Volume
alternating 20 and 30) on one kept-alive connection after 20 unmeasured ones; each answer must be
200 {"Result":"true"}, and snapserver must then hold the last volume asked (2 x Volume %).

Snapserver alone: 200 sequential Server.GetStatus on the probe's own control connection (after
20 unmeasured): what every device list voicegate makes costs at least; then 2000 with 50 in flight
on that one connection (as voicegate pipelines the device lists of wrk's 50 connections on its
one): the device_list ceiling snapserver sets, in requests/s.

Also: the leading silence of the spoken clip (the synthesis route, same text and voice, 48 kHz
WAV) and that route's total time (median of 5), to tell the parts of the tts figure apart.

--out gets a JSON object with every measurement; --out-wrk gets "SESSION DEVICE_ID" for the
device_list load run.
"""

import argparse
import http.client
import http.server
import json
import math
import os
import random
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.parse

RATE = 48000
FRAME = 4  # bytes per frame: 16-bit stereo
BLOCK_GAP_S = 0.010  # polls this far apart with no new bytes between them: the next bytes start a block
# snapclient's file player writes a block of 50 ms every 50 ms, asking its stream for the audio
# due to play 10 ms after the write (getPlayerChunkOrSilence(…, 10ms, …) in file_player.cpp).
PLAYER_DELAY_S = 0.010
CONTROL_REPEAT = 200
PIPELINED_REPEAT, PIPELINED_IN_FLIGHT = 2000, 50


def die(message):
    print("error: " + message, file=sys.stderr)
    sys.exit(1)


def log(message):
    print("==> " + message, file=sys.stderr, flush=True)


# --- snapserver JSON-RPC ------------------------------------------------------------------------
class Control:
    """One JSON-RPC connection to snapserver's control port (newline-delimited)."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.file = self.sock.makefile("rb")
        self.next_id = 1

    def call(self, method, params=None):
        request = {"id": self.next_id, "jsonrpc": "2.0", "method": method}
        if params is not None:
            request["params"] = params
        self.next_id += 1
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = self.file.readline()
            if not line:
                die("snapserver closed the control connection")
            message = json.loads(line)
            # Notifications (of other connections' changes) come on this connection too.
            if isinstance(message, dict) and message.get("id") == request["id"]:
                if "error" in message:
                    die("snapserver %s: %s" % (method, message["error"]))
                return message["result"]
        die("snapserver did not answer %s within 5 s" % method)

    def groups(self):
        return self.call("Server.GetStatus")["server"]["groups"]

    def pipelined(self, count, in_flight):
        """Answers per second of `count` Server.GetStatus with `in_flight` outstanding."""
        request = lambda n: json.dumps({"id": n, "jsonrpc": "2.0", "method": "Server.GetStatus"}).encode() + b"\n"
        first = self.next_id
        self.next_id += count
        started = time.monotonic()
        sent = min(in_flight, count)
        self.sock.sendall(b"".join(request(first + n) for n in range(sent)))
        answered = 0
        while answered < count:
            line = self.file.readline()
            if not line:
                die("snapserver closed the control connection")
            if time.monotonic() - started > 60:
                die("snapserver did not answer %d requests within 60 s" % count)
            message = json.loads(line)
            if not (isinstance(message, dict) and first <= message.get("id", -1) < first + count):
                continue
            if "error" in message:
                die("snapserver Server.GetStatus: %s" % message["error"])
            answered += 1
            if sent < count:
                self.sock.sendall(request(first + sent))
                sent += 1
        return count / (time.monotonic() - started)

    def close(self):
        self.file.close()
        self.sock.close()


def snapcast_setup(control, clients, baseline_client, baseline_stream):
    deadline = time.monotonic() + 20
    while True:
        groups = control.groups()
        connected = {c["id"] for g in groups for c in g["clients"] if c["connected"]}
        if all(c in connected for c in clients):
            break
        if time.monotonic() > deadline:
            die("snapclients not connected within 20 s (connected: %s)" % sorted(connected))
        time.sleep(0.1)
    for client in clients:
        control.call("Client.SetName", {"id": client, "name": client})
    group = [g for g in control.groups() if any(c["id"] == baseline_client for c in g["clients"])][0]
    if len(group["clients"]) != 1:
        die("the baseline client shares its group: %s" % [c["id"] for c in group["clients"]])
    control.call("Group.SetStream", {"id": group["id"], "stream_id": baseline_stream})


# --- voicegate HTTP -----------------------------------------------------------------------------
class Api:
    """A kept-alive HTTP connection to voicegate with the Bearer token."""

    def __init__(self, base, token):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.auth = "Bearer " + token
        self.conn = None

    def get(self, verb, **params):
        """(status, parsed JSON or None, raw body) of GET /api/v1/<verb>?<params>."""
        path = "/api/v1/%s?%s" % (verb, urllib.parse.urlencode(params))
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.conn.request("GET", path, headers={"Authorization": self.auth})
                response = self.conn.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, OSError):
                # A kept-alive connection the server closed while idle: one new try.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        return response.status, parsed, body

    def ok(self, verb, **params):
        status, parsed, body = self.get(verb, **params)
        if status != 200 or parsed is None:
            die("%s answered %d: %s" % (verb, status, body[:300]))
        return parsed


def session_setup(api, clients, speakers):
    session = api.ok("init_session")["SessionToken"]
    deadline = time.monotonic() + 20
    while True:
        devices = api.ok("device_list", SessionToken=session)["DeviceList"]
        by_name = {d["DeviceName"]: d for d in devices}
        if all(c in by_name and by_name[c]["Active"] for c in clients):
            break
        if time.monotonic() > deadline:
            die("device_list did not show %s active within 20 s: %s" % (clients, devices))
        time.sleep(0.1)
    ids = {c: by_name[c]["DeviceID"] for c in clients}
    for speaker in speakers:
        api.ok("add_device_to_session", SessionToken=session, DeviceID=ids[speaker])
    return session, ids


# --- the PCM files ------------------------------------------------------------------------------
class PcmFile:
    """A snapclient's output file, read as it grows."""

    def __init__(self, path, threshold):
        self.file = open(path, "rb")
        self.threshold = threshold
        self.pos = os.fstat(self.file.fileno()).st_size // FRAME * FRAME
        self.last_loud = 0  # byte position just past the last loud frame seen
        self.block_pos, self.block_time, self.last_new = self.pos, 0.0, 0.0

    def size(self):
        return os.fstat(self.file.fileno()).st_size // FRAME * FRAME

    def read_new(self, now):
        """The frames written since the last read: (first loud byte position or None, its time
        by the block estimate or None)."""
        size = self.size()
        if size <= self.pos:
            return None, None
        if now - self.last_new > BLOCK_GAP_S:
            self.block_pos, self.block_time = self.pos, now
        self.last_new = now
        self.file.seek(self.pos)
        data = self.file.read(size - self.pos)
        data = data[: len(data) // FRAME * FRAME]
        start = self.pos
        self.pos += len(data)
        samples = struct.unpack("<%dh" % (len(data) // 2), data)
        first = None
        for index, value in enumerate(samples):
            if value > self.threshold or value < -self.threshold:
                first = start + index // 2 * FRAME
                break
        if first is None:
            return None, None
        for index in range(len(samples) - 1, -1, -1):
            if samples[index] > self.threshold or samples[index] < -self.threshold:
                self.last_loud = start + (index // 2 + 1) * FRAME
                break
        return first, self.block_time + PLAYER_DELAY_S + (first - self.block_pos) / FRAME / RATE

    def skip_to_end(self):
        """Forgets what was written so far (a measurement starts at the end of the file)."""
        self.pos = self.size()
        self.last_new = 0.0

    def silent_for(self):
        """Seconds of silence at the end of what has been read."""
        return (self.pos - max(self.last_loud, 0)) / FRAME / RATE


def first_audio(files, started, deadline_s, poll_s):
    """Per file: (file_ms, sample_ms) of the first loud frame written after `started`."""
    found = {}
    deadline = started + deadline_s
    while len(found) < len(files):
        now = time.monotonic()
        for name, pcm in files.items():
            if name in found:
                pcm.read_new(now)
                continue
            position, sample_time = pcm.read_new(now)
            if position is not None:
                found[name] = ((now - started) * 1000, (sample_time - started) * 1000)
        if now > deadline:
            missing = sorted(set(files) - set(found))
            die("no audio at %s within %.0f s of the request" % (", ".join(missing), deadline_s))
        time.sleep(poll_s)
    return found


def wait_quiet(files, quiet_s, limit_s, poll_s, api=None, session=None):
    """Until playback_status says Stopped (with api) and every file has been silent for
    quiet_s."""
    deadline = time.monotonic() + limit_s
    stopped = api is None
    next_status = 0.0
    while True:
        now = time.monotonic()
        for pcm in files.values():
            pcm.read_new(now)
        if not stopped and now >= next_status:
            status = api.ok("playback_status", SessionToken=session)
            stopped = status.get("PlaybackState") == "PlayerStateStopped"
            next_status = now + 0.1
        if stopped and all(p.silent_for() >= quiet_s for p in files.values()):
            return
        if now > deadline:
            die("the speakers did not fall silent (and playback stop) within %.0f s" % limit_s)
        time.sleep(poll_s)


# --- the web media server -----------------------------------------------------------------------
def serve_media(path, content_type):
    """Serves `path` at http://127.0.0.1:PORT/<name> from a thread; returns the URL."""
    body = open(path, "rb").read()
    name = "/" + os.path.basename(path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != name:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d%s" % (server.server_address[1], name)


# --- the parts of the tts figure ----------------------------------------------------------------
def synthesis_facts(api, text, voice, threshold):
    """(leading silence ms, median total ms of 5) of the synthesis route for `text`, or Nones
    with the reason when the route does not answer."""
    path = "/api/v1/external/synthesis/?" + urllib.parse.urlencode(
        {"download_token": voice, "script": text, "sample_rate": RATE})
    totals, body = [], b""
    for _ in range(6):
        conn = http.client.HTTPConnection(api.host, api.port, timeout=30)
        started = time.monotonic()
        conn.request("GET", path, headers={"Authorization": api.auth})
        response = conn.getresponse()
        body = response.read()
        totals.append((time.monotonic() - started) * 1000)
        conn.close()
        if response.status != 200:
            return None, None, "the synthesis route answered %d" % response.status
    # A 48 kHz mono 16-bit WAV: find the "data" chunk.
    at = 12
    while at + 8 <= len(body) and body[at:at + 4] != b"data":
        at += 8 + struct.unpack("<I", body[at + 4:at + 8])[0]
    pcm = body[at + 8:]
    samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm[: len(pcm) // 2 * 2])
    lead = next((i for i, v in enumerate(samples) if abs(v) > threshold), None)
    if lead is None:
        return None, None, "the synthesized clip is silent"
    return lead * 1000 / RATE, statistics.median(totals[1:]), None


# --- main ---------------------------------------------------------------------------------------
def tone(ms, hz=440.0, amplitude=8000):
    frames = RATE * ms // 1000
    out = bytearray()
    for n in range(frames):
        value = int(round(amplitude * math.sin(2 * math.pi * hz * n / RATE)))
        out += struct.pack("<hh", value, value)
    return bytes(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--login", required=True, help="the login answer (access_token)")
    p.add_argument("--control", required=True)
    p.add_argument("--pcm-dir", required=True)
    p.add_argument("--speakers", required=True)
    p.add_argument("--baseline-client", required=True)
    p.add_argument("--baseline-stream", required=True)
    p.add_argument("--baseline-port", type=int, required=True)
    p.add_argument("--baseline-ms", type=int, default=300)
    p.add_argument("--repeat", type=int, required=True)
    p.add_argument("--volume-repeat", type=int, required=True)
    p.add_argument("--text", default="Dinner is ready.")
    p.add_argument("--voice", default="espeak:en-us")
    p.add_argument("--web-media")
    p.add_argument("--web-media-type", default="audio/wav")
    p.add_argument("--threshold", type=int, default=16)
    p.add_argument("--poll-ms", type=float, default=2.0)
    p.add_argument("--quiet-ms", type=float, default=500.0)
    p.add_argument("--out", required=True)
    p.add_argument("--out-wrk", required=True)
    a = p.parse_args()
    if not 1 <= a.repeat <= 1000 or not 1 <= a.volume_repeat <= 100000:
        die("--repeat must be 1 to 1000, --volume-repeat 1 to 100000")
    poll = a.poll_ms / 1000

    token = json.load(open(a.login))["access_token"]
    speakers = a.speakers.split(",")
    clients = speakers + [a.baseline_client]
    control = Control(a.control)
    log("snapserver: clients named, %s on stream %s" % (a.baseline_client, a.baseline_stream))
    snapcast_setup(control, clients, a.baseline_client, a.baseline_stream)
    # Closed while voicegate works: snapserver would queue every notification for it meanwhile.
    control.close()
    api = Api(a.base, token)
    session, ids = session_setup(api, clients, speakers)
    log("session open, speakers %s in it" % ", ".join("%s=%s" % (s, ids[s]) for s in speakers))
    with open(a.out_wrk, "w") as f:
        f.write("%s %s\n" % (session, ids[speakers[0]]))

    files = {c: PcmFile(os.path.join(a.pcm_dir, c + ".pcm"), a.threshold) for c in clients}
    speaker_files = {s: files[s] for s in speakers}
    base_files = {a.baseline_client: files[a.baseline_client]}
    source = socket.create_connection(("127.0.0.1", a.baseline_port), timeout=5)
    source.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    beep = tone(a.baseline_ms)
    web_url = serve_media(a.web_media, a.web_media_type) if a.web_media else None

    results = {"speakers": speakers, "repeat": a.repeat, "text": a.text, "voice": a.voice,
               "threshold": a.threshold, "poll_ms": a.poll_ms, "quiet_ms": a.quiet_ms,
               "baseline_ms": a.baseline_ms, "kinds": {}, "skipped": {}}

    def play(kind):
        """One request of `kind`: {"answer_ms", "audio": {file: (file_ms, sample_ms)}}, or a
        (status, body) pair when the route refused."""
        watched = base_files if kind == "baseline" else speaker_files
        wait_quiet(files, a.quiet_ms / 1000, 20, poll, api if kind != "baseline" else None, session)
        # The quiet check ends just after a block arrived: a random wait puts the request
        # anywhere on the file player's 50 ms grid.
        time.sleep(random.uniform(0, 0.05))
        for pcm in files.values():
            pcm.read_new(time.monotonic())
            pcm.skip_to_end()
        started = time.monotonic()
        if kind == "baseline":
            source.sendall(beep)
            answered = time.monotonic()
        else:
            if kind == "tts":
                status, _, body = api.get("play_tts", SessionToken=session, Text=a.text)
            else:
                status, _, body = api.get("play_web_media", SessionToken=session, MediaUrl=web_url)
            answered = time.monotonic()
            if status != 200:
                return status, body
        audio = first_audio(watched, started, 10, poll)
        return {"answer_ms": (answered - started) * 1000, "audio": audio}

    kinds = ["baseline", "tts"] + (["web"] if web_url else [])
    for kind in kinds:
        results["kinds"][kind] = {"cold": None, "runs": []}
    for kind in list(kinds):
        log("first (cold) request: %s" % kind)
        outcome = play(kind)
        if isinstance(outcome, tuple):
            status, body = outcome
            if kind == "web" and status in (404, 405):
                reason = "play_web_media answered %d: the route is not served by this build" % status
                log("skipping web media: " + reason)
                results["skipped"]["web"] = reason
                del results["kinds"]["web"]
                kinds.remove("web")
                continue
            die("%s answered %d: %s (for web media: is %s allowed by the server's web media"
                " allowlist?)" % (kind, status, body[:300], web_url))
        results["kinds"][kind]["cold"] = outcome
    log("%d rounds of %s, one request of each per round" % (a.repeat, ", ".join(kinds)))
    for round_no in range(a.repeat):
        for kind in kinds:
            outcome = play(kind)
            if isinstance(outcome, tuple):
                die("%s answered %d: %s" % (kind, outcome[0], outcome[1][:300]))
            results["kinds"][kind]["runs"].append(outcome)
        if (round_no + 1) % 5 == 0:
            log("round %d/%d" % (round_no + 1, a.repeat))
    wait_quiet(files, a.quiet_ms / 1000, 20, poll, api, session)

    lead, synth_ms, why = synthesis_facts(api, a.text, a.voice, a.threshold)
    results["tts_leading_silence_ms"], results["tts_synthesis_ms"] = lead, synth_ms
    results["synthesis_note"] = why

    log("%d set_volume_device round trips (after 20 unmeasured)" % a.volume_repeat)
    device = ids[speakers[0]]
    times = []
    for n in range(20 + a.volume_repeat):
        volume = "20" if n % 2 else "30"
        started = time.perf_counter()
        status, parsed, body = api.get("set_volume_device", SessionToken=session, DeviceID=device,
                                       Volume=volume)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or parsed != {"Result": "true"}:
            die("set_volume_device answered %d: %s" % (status, body[:300]))
        if n >= 20:
            times.append(elapsed)
    results["volume_ms"] = times
    control = Control(a.control)
    percent = [c["config"]["volume"]["percent"] for g in control.groups() for c in g["clients"]
               if c["id"] == speakers[0]]
    if percent != [2 * int(volume)]:
        die("after set_volume_device %s snapserver has %s at %s %%, not %d %%"
            % (volume, speakers[0], percent, 2 * int(volume)))

    log("%d Server.GetStatus round trips straight to snapserver (the floor under a device list)"
        % CONTROL_REPEAT)
    times = []
    for n in range(20 + CONTROL_REPEAT):
        started = time.perf_counter()
        control.groups()
        if n >= 20:
            times.append((time.perf_counter() - started) * 1000)
    results["control_ms"] = times

    log("%d Server.GetStatus straight to snapserver, %d in flight on one connection (as"
        " voicegate sends wrk's)" % (PIPELINED_REPEAT, PIPELINED_IN_FLIGHT))
    results["control_pipelined_per_s"] = control.pipelined(PIPELINED_REPEAT, PIPELINED_IN_FLIGHT)
    cpu = os.times()
    results["probe_cpu_s"] = cpu.user + cpu.system

    with open(a.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
