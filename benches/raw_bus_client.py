"""benches/raw_bus_client.py: the Python side of benches/ovos-load.sh (run it with the repo's .venv
python: it needs websocket-client, which ovos-bus-client pulls in).

Modes (each prints one JSON object on stdout and is bounded in time):

  bench --port N --api-key KEY --kind info|speech --concurrency C --duration S [--warmup S]
      The baseline: a raw websocket client doing voicegate's bus exchange itself, over ONE
      connection (as voicegate has one) with C requests in flight (as wrk -cC puts C HTTP
      requests in flight): C requests go out at the start and every matched reply sends the
      next one, from one thread. Replies are matched as voicegate matches them:
        info:   {"type":"ovos.api.info","data":{"app_key":base64(KEY)}} answered by a fresh
                "ovos.api.info.answer", matched by type, oldest pending request first; every
                answer's core_version ("0.0.8-N") is recorded, so a duplicate (one answer
                delivered twice) would show;
        speech: {"type":"speak",...} answered by its own echo (the bus relays every message to
                every client, the sender included), matched by an id in the context.
      Exchanges completed in the measured window (after the warm-up) give the rate and the
      latency percentiles (send to reply, nearest rank): p50_ms/p99_ms corrected for coordinated
      omission exactly as wrk corrects its own (so that both sides compare), and the plain ones.

  http-distinct --url BASE --token T --count N
      N concurrent GET /v1/system/info (N threads released together): every answer must be 200
      with a core_version no other answer has.

  speech-check --port N --url BASE --token T --count N
      Listens on the bus, sends N concurrent POST /v1/voice/speech with distinct utterances and
      waits (at most 10 s) until each one has appeared on the bus, exactly once.

  tap --port N --status FILE [--max-seconds S]
      Counts the speak messages the bus relays (to every client: the count is what the bus
      delivered), per 0.1 s of wall-clock time, until SIGTERM; FILE holds "TOTAL LAST_SEEN": the
      running total and when the last one was seen (wall clock). It counts raw bytes (both JSON
      spellings of "type": "speak") without parsing frames, so it costs little CPU. Also used,
      with nothing to count, as an idle bus client.

  settle --port N [--max-seconds S] [--echo]
      mycroft.mic.get_status round trips (the responder answers them natively) until one takes
      under 100 ms: waits out any backlog a previous run left in the bus or the responder (the
      responder reads every message on the bus, speech included) before the next run starts.
      With --echo, round trips of a message to its own echo: the bus alone.
"""

import argparse
import base64
import collections
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import websocket  # websocket-client

SETTLED_MS = 100.0


def connect(port, timeout=10):
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/core",
        timeout=timeout,
        sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        enable_multithread=True,
    )
    ws.settimeout(None)
    return ws


def recv(ws):
    """One frame; then re-arms quick ACK (Linux clears it), as voicegate does, so that the bus's
    next small message is not held back by Nagle's algorithm waiting for our ACK."""
    text = ws.recv()
    try:
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    except (OSError, AttributeError):
        pass
    return text


def wrk_percentiles(latencies_s, duration_s, connections, ps):
    """Percentiles (ms) the way wrk reports them: wrk corrects its latency histogram for
    coordinated omission (stats_correct: every sample n >= 2 x interval adds samples n - interval,
    n - 2 x interval, ... while above interval, with interval = run time / (requests per
    connection)), so a stall of one request weighs as if requests had kept arriving."""
    counts = collections.Counter(int(round(v * 1e6)) for v in latencies_s)  # microseconds
    if not counts:
        return [0.0 for _ in ps]
    per_connection = len(latencies_s) // connections
    if per_connection > 0:
        interval = int(duration_s * 1e6) // per_connection
        if interval > 0:
            for n, count in list(counts.items()):
                if n < 2 * interval:
                    continue
                m = n - interval
                while m > interval:
                    counts[m] += count
                    m -= interval
    values = sorted(counts.items())
    total = sum(c for _, c in values)
    out = []
    for p in ps:
        rank = max(1, math.ceil(p / 100.0 * total))
        seen = 0
        for v, c in values:
            seen += c
            if seen >= rank:
                out.append(v / 1000.0)
                break
    return out


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def stop_socket(ws):
    """Unblocks a thread stuck in ws.recv()."""
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass
    try:
        ws.close(timeout=0.2)
    except Exception:
        pass


# --- bench -------------------------------------------------------------------------------------
def bench(args):
    """One thread, closed loop: C requests go out at the start, and each reply matched sends the
    next request at once (until the end of the window), so C are always in flight."""
    app_key = base64.b64encode(args.api_key.encode()).decode()
    ws = connect(args.port)
    fifo = collections.deque()  # info: send times, oldest first
    by_id = {}                  # speech: request id -> send time
    latencies = []              # seconds, exchanges completed in the measured window
    versions = collections.Counter()
    stats = {"completed": 0, "unauthenticated": 0, "unmatched": 0, "sent": 0}
    errors = []
    finished = threading.Event()

    start = time.perf_counter()
    epoch = time.time() - start  # perf_counter -> wall clock
    t_measure = start + args.warmup
    t_end = t_measure + args.duration
    info_request = {"type": "ovos.api.info", "data": {"app_key": app_key}}
    speak_request = {"type": "speak", "data": {"utterance": "hello", "lang": "en-us"}}

    def send():
        stats["sent"] += 1
        n = stats["sent"]
        message = dict(info_request if args.kind == "info" else speak_request)
        message["context"] = {"source": "raw-bench", "destination": ["skills"], "bench_request": n}
        now = time.perf_counter()
        if args.kind == "info":
            fifo.append(now)
        else:
            by_id[n] = now
        ws.send(json.dumps(message))

    def pending():
        return len(fifo) if args.kind == "info" else len(by_id)

    def loop():
        try:
            for _ in range(args.concurrency):
                send()
            while pending():
                text = recv(ws)
                now = time.perf_counter()
                try:
                    message = json.loads(text)
                except ValueError:
                    continue
                msg_type = message.get("type")
                sent = None
                if args.kind == "info" and msg_type == "ovos.api.info.answer":
                    sent = fifo.popleft() if fifo else None
                    if message.get("context", {}).get("authenticated") is not True:
                        stats["unauthenticated"] += 1
                    if sent is not None and t_measure <= now < t_end:
                        versions[message.get("data", {}).get("core_version")] += 1
                elif args.kind == "speech" and msg_type == "speak":
                    sent = by_id.pop((message.get("context") or {}).get("bench_request"), None)
                else:
                    continue
                if sent is None:
                    stats["unmatched"] += 1
                    continue
                if t_measure <= now < t_end:
                    stats["completed"] += 1
                    latencies.append(now - sent)
                if now < t_end:
                    send()
        except Exception as e:  # the socket was shut down, or the bus went away
            if not finished.is_set():
                errors.append(repr(e))

    cpu0 = time.process_time()
    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    # Replies still owed after the window get 5 s; then the socket is shut, which ends the loop.
    worker.join(args.warmup + args.duration + 5)
    finished.set()
    left = pending()
    stop_socket(ws)
    worker.join(2)
    cpu1 = time.process_time()

    latencies.sort()
    duplicates = sum(c - 1 for v, c in versions.items() if c > 1)
    result = {
        "kind": args.kind,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "window": [epoch + t_measure, epoch + t_end],
        "exchanges": stats["completed"],
        "rate": stats["completed"] / args.duration,
        # p50_ms/p99_ms as wrk computes them (coordinated-omission corrected), to compare with
        # wrk; the plain percentiles of the samples too.
        "p50_ms": wrk_percentiles(latencies, args.duration, args.concurrency, [50])[0],
        "p99_ms": wrk_percentiles(latencies, args.duration, args.concurrency, [99])[0],
        "p50_plain_ms": percentile(latencies, 50) * 1000,
        "p99_plain_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "unanswered": left,
        "unmatched": stats["unmatched"],
        "unauthenticated": stats["unauthenticated"],
        "duplicates": duplicates,
        "errors": len(errors),
        "error_text": errors[:1],
        "client_cpu_s": cpu1 - cpu0,
    }
    print(json.dumps(result))
    return 0 if result["exchanges"] > 0 and not errors else 1


# --- HTTP helpers -------------------------------------------------------------------------------
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never a proxy


def http(method, url, token, body=None, timeout=15):
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:
        return 0, repr(e).encode()


def concurrently(count, job):
    """Runs job(i) in count threads released together; returns the results in order."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        results[i] = job(i)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def http_distinct(args):
    url = args.url.rstrip("/") + "/v1/system/info"
    results = concurrently(args.count, lambda i: http("GET", url, args.token))
    statuses = collections.Counter()
    versions = collections.Counter()
    missing = 0
    numbers = []
    for result in results:
        status, body = result if result else (0, b"")
        statuses[str(status)] += 1
        if status != 200:
            continue
        try:
            version = json.loads(body)["results"]["core_version"]
        except (ValueError, KeyError, TypeError):
            missing += 1
            continue
        versions[version] += 1
        try:
            numbers.append(int(str(version).rsplit("-", 1)[1]))
        except (IndexError, ValueError):
            pass
    duplicates = sum(c - 1 for c in versions.values() if c > 1)
    gaps = (max(numbers) - min(numbers) + 1 - len(set(numbers))) if numbers else 0
    result = {
        "requests": args.count,
        "ok": statuses.get("200", 0),
        "statuses": dict(statuses),
        "distinct": len(versions),
        "duplicates": duplicates,
        "missing_core_version": missing,
        "mismatches": duplicates + missing,
        "counter_gaps": gaps,
    }
    print(json.dumps(result))
    return 0


def speech_check(args):
    nonce = uuid.uuid4().hex[:12]
    ws = connect(args.port)
    seen = collections.Counter()
    lock = threading.Lock()
    all_seen = threading.Event()
    wanted = {f"bench-check-{nonce}-{i}" for i in range(args.count)}

    def listen():
        try:
            while True:
                message = json.loads(recv(ws))
                if message.get("type") != "speak":
                    continue
                utterance = (message.get("data") or {}).get("utterance")
                if utterance in wanted:
                    with lock:
                        seen[utterance] += 1
                        if len(seen) == len(wanted):
                            all_seen.set()
        except Exception:
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.2)  # the listener is connected (create_connection returned); let it settle
    url = args.url.rstrip("/") + "/v1/voice/speech"
    results = concurrently(
        args.count,
        lambda i: http("POST", url, args.token, {"utterance": f"bench-check-{nonce}-{i}", "lang": "en-us"}),
    )
    all_seen.wait(10)
    time.sleep(0.3)  # a late duplicate would arrive now
    stop_socket(ws)
    statuses = collections.Counter(str(r[0]) if r else "0" for r in results)
    with lock:
        delivered = len(seen)
        duplicates = sum(c - 1 for c in seen.values() if c > 1)
    result = {
        "requests": args.count,
        "ok": statuses.get("200", 0),
        "statuses": dict(statuses),
        "delivered": delivered,
        "duplicates": duplicates,
    }
    print(json.dumps(result))
    return 0


def settle(args):
    deadline = time.monotonic() + args.max_seconds
    start = time.monotonic()
    last_ms = None
    n = 0
    ws = None
    try:
        while time.monotonic() < deadline:
            if ws is None:
                try:
                    ws = connect(args.port, timeout=max(0.5, min(10.0, deadline - time.monotonic())))
                except Exception:  # a busy bus may not even finish the handshake in time
                    time.sleep(0.2)
                    continue
            n += 1
            marker = f"settle-{uuid.uuid4().hex}"
            t0 = time.perf_counter()
            # The responder answers this natively (message.response() keeps the context), after
            # whatever it still has to read: a quick answer means bus and responder are idle.
            # With --echo the message's own echo is awaited: the bus alone is idle.
            try:
                ws.send(json.dumps({"type": "bench.settle" if args.echo else "mycroft.mic.get_status", "data": {},
                                    "context": {"source": "raw-bench", "marker": marker}}))
                ws.settimeout(max(0.1, min(5.0, deadline - time.monotonic())))
                while True:
                    message = json.loads(recv(ws))
                    wanted = "bench.settle" if args.echo else "mycroft.mic.get_status.response"
                    if message.get("type") == wanted and (message.get("context") or {}).get("marker") == marker:
                        break
            except Exception:
                # Still busy (or the connection went); a timeout may cut a frame, so the next try
                # uses a new connection.
                stop_socket(ws)
                ws = None
                last_ms = None
                continue
            last_ms = (time.perf_counter() - t0) * 1000
            if last_ms < SETTLED_MS:
                break
            time.sleep(0.1)
    finally:
        if ws is not None:
            stop_socket(ws)
    settled = last_ms is not None and last_ms < SETTLED_MS
    print(json.dumps({"settled": settled, "waited_s": time.monotonic() - start, "round_trips": n, "last_ms": last_ms}))
    return 0 if settled else 1


def tap(args):
    """Counts the speak messages the bus relays, in 0.1 s slots of wall-clock time."""
    ws = connect(args.port)
    sock = ws.sock  # the handshake was read line by line: the socket is at a frame boundary
    sock.settimeout(0.1)
    patterns = (b'"type":"speak"', b'"type": "speak"')
    keep = max(len(p) for p in patterns) - 1  # shorter than a pattern: no match is counted twice
    tail = b""
    slots = collections.Counter()
    total = 0
    last_seen = 0.0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + args.max_seconds
    next_status = 0.0

    def write_status():  # "TOTAL LAST_SEEN" (wall clock, 0 before the first), for the shell
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %.3f\n" % (total, last_seen))
        os.replace(tmp, args.status)

    write_status()
    draining = False
    while True:
        if (stop.is_set() or time.monotonic() > deadline) and not draining:
            draining = True  # read what is already there, then stop
            sock.setblocking(False)
        try:
            chunk = sock.recv(1 << 16)
        except (socket.timeout, BlockingIOError):
            chunk = None
            if draining:
                break
        except OSError:
            break
        if chunk == b"":
            break
        now = time.time()
        if chunk:
            data = tail + chunk
            n = sum(data.count(p) for p in patterns)
            tail = data[-keep:]
            if n:
                total += n
                slots[int(now * 10)] += n
                last_seen = now
        if now >= next_status:
            write_status()
            next_status = now + 0.2
    write_status()
    print(json.dumps({"total": total, "last_seen": last_seen, "slots": {str(k): v for k, v in sorted(slots.items())}}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("bench")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--kind", choices=["info", "speech"], required=True)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p = sub.add_parser("http-distinct")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--count", type=int, default=200)
    p = sub.add_parser("speech-check")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--count", type=int, default=200)
    p = sub.add_parser("tap")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--status", required=True)
    p.add_argument("--max-seconds", type=float, default=300.0)
    p = sub.add_parser("settle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--echo", action="store_true", help="only the bus: await the message's own echo")
    args = parser.parse_args()
    handler = {"bench": bench, "http-distinct": http_distinct, "speech-check": speech_check, "tap": tap,
               "settle": settle}[args.mode]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
