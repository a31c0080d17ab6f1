#!/usr/bin/env bash
# benches/ovos-load.sh: load benchmark of voicegate's bridge to the Open Voice OS message bus,
# against a raw websocket client doing the same bus exchange.
#
# Setup, all on 127.0.0.1 with free ports and temp dirs: the real bus (`ovos-messagebus` from
# PyPI, in the repo's .venv), the test responder (crates/testkit/python/ovos_responder.py, which
# answers like ovos-core and the skill-rest-api skill), and a fresh release voicegate with
# WS_HOST/WS_PORT/API_KEY pointing at that bus. Two exchanges are measured:
#   info:   GET /v1/system/info: voicegate sends `ovos.api.info` and waits for the responder's
#           fresh `ovos.api.info.answer` (one info exchange at a time, queued in arrival order);
#   speech: POST /v1/voice/speech: voicegate emits `speak` and answers 200 without a reply from
#           ovos-core (builds since a528ece wait for the bus to echo the message back; earlier
#           ones answered as soon as it was queued).
# At each concurrency level C (default 50, 10 and 1):
#   - raw: benches/raw_bus_client.py does the bus exchange itself over ONE websocket connection
#     (voicegate has one) with C requests in flight: info `ovos.api.info` -> `.answer`, speech
#     `speak` -> its own echo (the bus relays every message to every client, the sender too);
#     1 s warm-up + 10 s; exchanges/s, p50, p99 (corrected for coordinated omission exactly as wrk
#     corrects its own, so that both sides compare), max;
#   - voicegate: `wrk -t2 -cC -d10s --latency` (C = 1: -t1; the POST through a wrk lua script);
#     2xx requests/s, p50, p99, non-2xx.
# Info runs alternate raw and voicegate, INFO_REPEAT (3) times per level, and the report takes
# medians: the Python responder sets the pace and varies by about 15 % from run to run. The bus
# relays each message to three clients in both: in raw runs voicegate is connected and idle, in
# voicegate runs an idle tap takes its place.
# Speech: the raw runs happen before voicegate starts. A 200 from voicegate may only mean
# "queued", so in both speech runs a tap (raw_bus_client.py tap) counts the `speak` messages the bus
# relays: the relayed rate inside the 10 s window is compared too, and what the bus still relayed
# after the window (voicegate's queue draining) is reported. The responder reads every message at
# about 1,000/s and falls far behind in speech runs, so afterwards it is restarted (its backlog
# dropped) once the tap has seen the bus go quiet; before each run a request through bus and
# responder must take < 100 ms (the time that took is reported as "drain").
# skill-rest-api answers each request several times without correlation, so voicegate sends one
# skill request per answer type at a time and, after it, drops that type's trailing answers until
# they have been quiet for `ovos.skill_drain_ms`. Here the responder answers once (--answers 1)
# and voicegate drains nothing (VOICEGATE_OVOS__SKILL_DRAIN_MS=0): info measures one exchange at
# a time over the bus. With the published skill's three answers and the default 150 ms drain,
# skill requests of one type pass at about 6 per second.
# Reply checks: after the info runs, 200 concurrent GET /v1/system/info must get 200 answers with
# 200 distinct core_version values (the responder numbers its answers "0.0.8-N"; a duplicate means
# one answer was delivered to two requests); at the end, 200 concurrent POST /v1/voice/speech
# with distinct utterances must each appear on the bus exactly once.
# CPU time of bus, responder, server, tap and load generator is sampled for each run.
# It prints markdown tables and PASS/FAIL against the targets, at every concurrency level:
#   voicegate's rate >= 80% of the raw client's (info; speech as 2xx rate and as bus-relayed
#   rate); voicegate p99 <= 50 ms; no reply mismatches. Extra rows: no non-2xx, no speech lost,
#   speech relayed within 1 s of the run's end, bus connection never lost.
#
# Run from anywhere (needs cargo, curl, python3, wrk; installs the Debian `wrk` package when
# missing and running as root; creates .venv from scripts/test-requirements.txt when missing):
#     benches/ovos-load.sh                      # the release build, then about 7 minutes
# Optional environment: WRK_DURATION (default 10s, also the raw runs' duration),
# OVOS_CONCURRENCY (default "50 10 1"), INFO_REPEAT (default 3), KEEP_TMP=1 (keep the temp dir:
# logs and raw outputs).
#
# Exit status: 0 when the report was produced (whatever PASS/FAIL says); non-zero when something
# broke (build failed, bus/responder/server did not start, login failed, a run produced no
# successful exchange, bus and responder did not drain, the server or the bus died).
# Notes: everything (wrk, server, bus, responder, tap, raw client) shares the machine's cores; the
# bus and the responder are single Python processes and set the ceiling for both sides. The
# numbers compare voicegate with a raw client on one machine; they are not absolute capacity.
# Each run waits (at most 60 s) for the machine to be idle; other work during a run shows in the
# CPU table ("rest of the machine") and in a note. The bus log in the temp dir grows to ~200 MB
# (tracebacks for the writes dropped with each restarted responder).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRK_DURATION="${WRK_DURATION:-10s}"
OVOS_CONCURRENCY="${OVOS_CONCURRENCY:-50 10 1}"
INFO_REPEAT="${INFO_REPEAT:-3}"
CHECK_REQUESTS=200
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"
API_KEY="bench-api-key-$$-$RANDOM"
HELPER="$ROOT/benches/raw_bus_client.py"
RESPONDER="$ROOT/crates/testkit/python/ovos_responder.py"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools --------------------------------------------------------------------------------------
require_tools cargo curl python3
require_wrk
[[ "$WRK_DURATION" =~ ^([1-9][0-9]*)s$ ]] || die "WRK_DURATION must be whole seconds, e.g. 10s"
DURATION_S="${BASH_REMATCH[1]}"
for c in $OVOS_CONCURRENCY; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "OVOS_CONCURRENCY must list positive integers"
done
[[ "$INFO_REPEAT" =~ ^[1-9][0-9]*$ ]] || die "INFO_REPEAT must be a positive integer"

# The Python peers (the venv scripts/test builds).
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/ovos-messagebus" || ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV (pip install -r scripts/test-requirements.txt)"
    timeout 120 python3 -m venv "$VENV" || die "could not create $VENV"
    timeout 600 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$ROOT/scripts/test-requirements.txt" || die "pip install failed"
fi
PY="$VENV/bin/python"
"$PY" -c 'import websocket, ovos_bus_client' 2>/dev/null || die "$VENV lacks websocket-client/ovos-bus-client"

# --- build --------------------------------------------------------------------------------------
log "building the release binary (cargo build --release -p voicegate)"
(cd "$ROOT" && timeout 1800 cargo build --release -p voicegate) || die "cargo build failed"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/voicegate"
[[ -x "$BIN" ]] || die "no binary at $BIN"

# --- temp dir, cleanup ----------------------------------------------------------------------------
TMP="$(mktemp -d -t voicegate-ovos-bench.XXXXXX)"
WORKDIR="$TMP/cwd"     # empty working directory: no voicegate.toml, no .env
DATA="$TMP/data"
XDG="$TMP/xdg"         # config/state/data home of the bus and the responder
RES="$TMP/results"
mkdir -p "$WORKDIR" "$DATA" "$XDG/mycroft" "$RES"
SERVER_PID=""
BUS_PID=""
RESPONDER_PID=""
TAP_PID=""

stop_pid() {   # stop_pid PID: TERM, up to 5 s, then KILL
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    set +e
    stop_pid "$TAP_PID"
    stop_pid "$SERVER_PID"
    stop_pid "$RESPONDER_PID"
    stop_pid "$BUS_PID"
    wait 2>/dev/null
    if [[ -n "${KEEP_TMP:-}" ]]; then
        printf 'kept %s (logs, raw outputs)\n' "$TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Every process gets a clean environment: nothing inherited (proxies, ovos config, the ovos-api
# names SECRET, API_KEY, WS_HOST, WS_PORT, USERS_DB) can change what is measured.
PY_ENV=(PATH="$PATH" HOME="$TMP" XDG_CONFIG_HOME="$XDG" XDG_STATE_HOME="$XDG" XDG_DATA_HOME="$XDG" XDG_CACHE_HOME="$XDG")

# --- bus, responder -------------------------------------------------------------------------------
BUS_PORT="$(free_port)"
printf '{"websocket": {"host": "127.0.0.1", "port": %s}}\n' "$BUS_PORT" >"$XDG/mycroft/mycroft.conf"

log "starting ovos-messagebus on 127.0.0.1:$BUS_PORT"
(cd "$WORKDIR" && exec env -i "${PY_ENV[@]}" "$VENV/bin/ovos-messagebus") >"$TMP/bus.log" 2>&1 &
BUS_PID=$!
for i in $(seq 200); do
    kill -0 "$BUS_PID" 2>/dev/null || { cat "$TMP/bus.log" >&2; die "ovos-messagebus exited during start"; }
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' \
        "$BUS_PORT" 2>/dev/null && break
    [[ $i -eq 200 ]] && { cat "$TMP/bus.log" >&2; die "ovos-messagebus did not listen within 20 s"; }
    sleep 0.1
done

# start_responder: the responder gives up when it cannot connect within 10 s, which a bus busy
# with a dropped backlog can make it do: up to 3 tries.
RESPONDER_STARTS=0
start_responder() {
    local try i logfile
    for try in 1 2 3; do
        RESPONDER_STARTS=$((RESPONDER_STARTS + 1))
        logfile="$TMP/responder.$RESPONDER_STARTS.log"
        (cd "$WORKDIR" && exec env -i "${PY_ENV[@]}" "$PY" "$RESPONDER" --port "$BUS_PORT" --api-key "$API_KEY" --answers 1) \
            >"$logfile" 2>&1 &
        RESPONDER_PID=$!
        for i in $(seq 300); do
            grep -qx ready "$logfile" 2>/dev/null && return 0
            kill -0 "$RESPONDER_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_pid "$RESPONDER_PID"
        log "the responder did not get ready (try $try): $(tail -n 1 "$logfile")"
    done
    cat "$logfile" >&2
    die "the responder did not get ready in 3 tries"
}
log "starting the responder"
start_responder

# --- CPU accounting -----------------------------------------------------------------------------
# cpu_ticks PID: utime + stime of a process (all threads), in clock ticks; 0 when it is gone.
cpu_ticks() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || { echo 0; return; }
    # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
CLK_TCK="$(getconf CLK_TCK)"
# machine_ticks: busy clock ticks of the whole machine (all cores), from /proc/stat.
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# wait_idle NAME: waits (at most 60 s) until the whole machine is under 10 % busy for a second,
# so that a run does not start while other work (another benchmark, a build) holds the cores;
# what other work there still was during the run shows in the report.
wait_idle() {
    python3 - <<'IDLE' || log "the machine was still busy after 60 s; running $1 anyway"
import sys, time
def ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy, busy + v[3] + v[4]
deadline = time.time() + 60
while time.time() < deadline:
    b0, t0 = ticks()
    time.sleep(1.0)
    b1, t1 = ticks()
    if (b1 - b0) < 0.10 * max(1, t1 - t0):
        sys.exit(0)
sys.exit(1)
IDLE
}

# measure NAME command...: runs the command with stdout into $RES/NAME.out (bounded by the
# caller's timeout); writes $RES/NAME.cpu: wall seconds and the CPU seconds of the bus, the
# responder, the server, the tap, the command itself (its children included) and the whole
# machine (other users of the machine show as the difference), and $RES/NAME.start: the
# wall-clock start.
measure() {
    local name="$1"; shift
    local b0 r0 s0 p0 m0 t0 status=0
    wait_idle "$name"
    b0="$(cpu_ticks "$BUS_PID")"; r0="$(cpu_ticks "$RESPONDER_PID")"
    s0="$(cpu_ticks "$SERVER_PID")"; p0="$(cpu_ticks "$TAP_PID")"; m0="$(machine_ticks)"
    t0="$(date +%s.%N)"
    echo "$t0" >"$RES/$name.start"
    python3 -c '
import resource, subprocess, sys
status = subprocess.call(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f" % (usage.ru_utime + usage.ru_stime), file=sys.stderr)
sys.exit(status)' "$RES/$name.out" "$@" 2>"$RES/$name.gen" || status=$?
    local t1 b1 r1 s1 p1 m1
    t1="$(date +%s.%N)"
    b1="$(cpu_ticks "$BUS_PID")"; r1="$(cpu_ticks "$RESPONDER_PID")"
    s1="$(cpu_ticks "$SERVER_PID")"; p1="$(cpu_ticks "$TAP_PID")"; m1="$(machine_ticks)"
    python3 -c '
import sys
t0, t1, tck = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
b, r, s, p, m = (float(x) / tck for x in sys.argv[4:9])
gen = open(sys.argv[9]).read().split()
print("%.3f %.3f %.3f %.3f %.3f %s %.3f" % (t1 - t0, b, r, s, p, gen[-1] if gen else "0", m))' \
        "$t0" "$t1" "$CLK_TCK" "$((b1 - b0))" "$((r1 - r0))" "$((s1 - s0))" "$((p1 - p0))" "$((m1 - m0))" \
        "$RES/$name.gen" >"$RES/$name.cpu"
    return "$status"
}

# check_alive WHEN: dies when the bus, the responder or the server has exited.
check_alive() {
    local what pid
    for what in bus responder server; do
        case "$what" in
            bus) pid="$BUS_PID" ;;
            responder) pid="$RESPONDER_PID" ;;
            server) pid="$SERVER_PID" ;;
        esac
        [[ -z "$pid" ]] || kill -0 "$pid" 2>/dev/null || die "the $what (PID $pid) exited $1"
    done
}

# settle NAME: waits (at most 120 s) until a request through bus and responder is answered in
# under 100 ms, so that a backlog left by one run does not slow the next.
settle() {
    check_alive "before settling after $1"
    timeout 150 "$PY" "$HELPER" settle --port "$BUS_PORT" --max-seconds 120 >"$RES/settle-$1.json" 2>&1 \
        || { cat "$RES/settle-$1.json" >&2; check_alive "while settling after $1"; die "bus and responder did not drain after $1"; }
}

# start_tap NAME: a bus client counting relayed speak messages (bounded: it stops by itself).
start_tap() {
    local name="$1"
    "$PY" "$HELPER" tap --port "$BUS_PORT" --status "$RES/$name.tapstatus" --max-seconds $((DURATION_S + 300)) \
        >"$RES/$name.tap" 2>"$RES/$name.tap.err" &
    TAP_PID=$!
    for i in $(seq 100); do
        [[ -s "$RES/$name.tapstatus" ]] && return 0
        kill -0 "$TAP_PID" 2>/dev/null || { cat "$RES/$name.tap.err" >&2; die "the tap exited during start"; }
        [[ $i -eq 100 ]] && die "the tap did not connect within 10 s"
        sleep 0.1
    done
}

# finish_speech NAME: after a speech run. First the bus must have relayed whatever voicegate still
# had queued (at most 120 s): the tap has seen no speak for 2 s, and no client has unsent data
# for the bus nor the bus unread data from a client (/proc/net/tcp queues). Then the responder,
# which reads every speak at ~1,000 per second and is far behind, is restarted (its backlog
# dropped), and bus and responder must be idle. Not the other way round: ovos-messagebus aborts
# the connection of the client whose message it is relaying when another client has just gone (an
# uncaught WebSocketClosedError in on_message), which would cut voicegate off and lose its queue.
finish_speech() {
    local name="$1"
    python3 - "$RES/$name.tapstatus" "$(cat "$RES/$name.start")" "$BUS_PORT" <<'QUIET' \
        || die "the bus was still relaying speech from $name after 120 s"
import sys, time
status, start, port = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

def queued():
    """Bytes clients have not sent to the bus, plus bytes the bus has not read from them."""
    total = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
            tx, rx = (int(q, 16) for q in fields[4].split(":"))
            if remote == port:
                total += tx
            elif local == port:
                total += rx
    return total

deadline = time.time() + 120
while time.time() < deadline:
    last_seen = float(open(status).read().split()[1])
    if time.time() - max(last_seen, start) >= 2.0 and queued() == 0:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
QUIET
    stop_pid "$TAP_PID"
    wait "$TAP_PID" 2>/dev/null || true
    TAP_PID=""
    [[ -s "$RES/$name.tap" ]] || { cat "$RES/$name.tap.err" >&2; die "the tap of $name printed nothing"; }
    stop_pid "$RESPONDER_PID"
    # The bus now fails (and logs) every write it still held for the responder: wait until it
    # echoes promptly again before the new responder connects.
    timeout 150 "$PY" "$HELPER" settle --echo --port "$BUS_PORT" --max-seconds 120 >"$RES/settle-echo-$name.json" 2>&1 \
        || { cat "$RES/settle-echo-$name.json" >&2; kill -0 "$BUS_PID" 2>/dev/null || die "the bus exited after $name"; die "the bus did not recover after $name"; }
    start_responder
    settle "$name"
}

# --- runs -----------------------------------------------------------------------------------------
# run_raw KIND C NAME: the raw bus client, 1 s warm-up + the measured window.
run_raw() {
    local name="$3"
    log "raw bus client: $1, $2 in flight, 1 s + $WRK_DURATION ($name)"
    measure "$name" timeout $((DURATION_S + 40)) "$PY" "$HELPER" bench --port "$BUS_PORT" --api-key "$API_KEY" \
        --kind "$1" --concurrency "$2" --duration "$DURATION_S" --warmup 1 \
        || { cat "$RES/$name.out" >&2; check_alive "during $name"; die "baseline $name failed"; }
}

# run_wrk NAME C wrk-args...: wrk -t(min 2, C) -cC, output into $RES/NAME.out, CPU in NAME.cpu.
run_wrk() {
    local name="$1" c="$2"; shift 2
    local threads=$((c < 2 ? c : 2))
    measure "$name" timeout $((DURATION_S + 60)) wrk --timeout 5s --latency -t"$threads" -c"$c" "$@" \
        || { cat "$RES/$name.out" >&2; check_alive "during $name"; die "wrk run $name failed"; }
}

# 1. Speech baselines, before voicegate exists: the bus relays to the raw client, the responder
#    and the tap, as it relays to voicegate, the responder and the tap in the voicegate runs.
log "warm-up: raw bus client, 2 s"
timeout 30 "$PY" "$HELPER" bench --port "$BUS_PORT" --api-key "$API_KEY" --kind info --concurrency 10 \
    --duration 2 --warmup 0 >"$RES/warmup-raw.json" 2>&1 || { cat "$RES/warmup-raw.json" >&2; die "raw warm-up failed"; }
settle warmup-raw
for c in $OVOS_CONCURRENCY; do
    start_tap "raw-speech-c$c"
    run_raw speech "$c" "raw-speech-c$c"
    finish_speech "raw-speech-c$c"
done

# --- voicegate ------------------------------------------------------------------------------------
# The login limits are raised so that the bench's own logins are not refused. The responder answers
# each skill request once, so no drain is needed after an exchange (see the header).
VG_ENV=(
    PATH="$PATH" HOME="$TMP"
    WS_HOST=127.0.0.1 WS_PORT="$BUS_PORT" API_KEY="$API_KEY"
    VOICEGATE_OVOS__SKILL_DRAIN_MS=0
    VOICEGATE_AUTH__MAX_ATTEMPTS_PER_IP=100000
    VOICEGATE_AUTH__MAX_FAILURES_PER_IP=100000
    VOICEGATE_AUTH__MAX_FAILURES_PER_USER=100000
)
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"

log "creating user $BENCH_USER"
(cd "$WORKDIR" && printf '%s\n' "$BENCH_PASSWORD" \
    | env -i "${VG_ENV[@]}" timeout 60 "$BIN" --data-dir "$DATA" user add "$BENCH_USER" --password-stdin) \
    >"$TMP/user-add.log" 2>&1 || { cat "$TMP/user-add.log" >&2; die "user add failed"; }

log "starting the server on 127.0.0.1:$PORT (bus 127.0.0.1:$BUS_PORT)"
(cd "$WORKDIR" && exec env -i "${VG_ENV[@]}" "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT") \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$TMP/server.log" >&2
        die "the server exited during start"
    fi
    if curl --noproxy '*' -fsS --max-time 1 -o /dev/null "$BASE/v1/network/ping" 2>/dev/null; then
        break
    fi
    [[ $i -eq 100 ]] && { cat "$TMP/server.log" >&2; die "the server did not answer within 10 s"; }
    sleep 0.1
done
[[ "$(cat "/proc/$SERVER_PID/comm" 2>/dev/null)" == voicegate ]] || die "PID $SERVER_PID is not the server"

LOGIN_BODY="$(python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": sys.argv[2]}))' "$BENCH_USER" "$BENCH_PASSWORD")"
log "logging in"
curl --noproxy '*' -sS --max-time 30 -o "$TMP/login.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data "$LOGIN_BODY" "$BASE/v1/auth/tokens" >"$TMP/login.code" \
    || die "login request failed"
[[ "$(cat "$TMP/login.code")" == 200 ]] || { cat "$TMP/login.json" >&2; die "login answered $(cat "$TMP/login.code")"; }
TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/login.json")" \
    || die "no access_token in the login answer"

# The bus connection comes up in the background: wait (at most 15 s) until info answers 200.
for i in $(seq 150); do
    INFO_CODE="$(curl --noproxy '*' -sS --max-time 6 -o "$TMP/info.json" -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" "$BASE/v1/system/info" || true)"
    [[ "$INFO_CODE" == 200 ]] && break
    [[ $i -eq 150 ]] && { cat "$TMP/info.json" "$TMP/server.log" >&2; die "GET /v1/system/info answered $INFO_CODE"; }
    sleep 0.1
done
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["results"]["core_version"].startswith("0.0.8-")' \
    "$TMP/info.json" || { cat "$TMP/info.json" >&2; die "GET /v1/system/info did not carry the responder's answer"; }

cat >"$TMP/speech.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"utterance":"hello","lang":"en-us"}'
wrk.headers["Content-Type"] = "application/json"
LUA

log "warm-up: wrk GET /v1/system/info, 2 s"
run_wrk warmup-info 10 -d2s -H "Authorization: Bearer $TOKEN" "$BASE/v1/system/info"
settle warmup-info

# 2. Info, raw and voicegate alternately, INFO_REPEAT times per level (the Python responder, which
#    sets the pace, varies by +-15 % from one run to the next; the report takes medians). In the
#    raw runs voicegate is connected and idle; in the voicegate runs an idle tap takes its place,
#    so the bus relays every message to three clients in both.
for c in $OVOS_CONCURRENCY; do
    for rep in $(seq "$INFO_REPEAT"); do
        run_raw info "$c" "raw-info-c$c-r$rep"
        settle "raw-info-c$c-r$rep"
        start_tap "vg-info-c$c-r$rep"
        log "wrk -c$c -d$WRK_DURATION GET /v1/system/info (vg-info-c$c-r$rep)"
        run_wrk "vg-info-c$c-r$rep" "$c" -d"$WRK_DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/v1/system/info"
        # Answers to requests wrk left in flight come first: a client leaving while the bus
        # relays a message makes the bus drop the sender (see finish_speech).
        settle "vg-info-c$c-r$rep"
        stop_pid "$TAP_PID"
        wait "$TAP_PID" 2>/dev/null || true
        TAP_PID=""
        settle "vg-info-c$c-r$rep-tap-gone"
    done
done

# Reply check, right after the info runs.
log "reply check: $CHECK_REQUESTS concurrent GET /v1/system/info, each answer distinct"
timeout 60 "$PY" "$HELPER" http-distinct --url "$BASE" --token "$TOKEN" --count "$CHECK_REQUESTS" \
    >"$RES/check-info.json" 2>&1 || { cat "$RES/check-info.json" >&2; die "the info reply check failed"; }
settle check-info

# 3. Speech through voicegate.
log "warm-up: wrk POST /v1/voice/speech, 2 s"
start_tap warmup-speech
run_wrk warmup-speech 10 -d2s -s "$TMP/speech.lua" -H "Authorization: Bearer $TOKEN" "$BASE/v1/voice/speech"
finish_speech warmup-speech
for c in $OVOS_CONCURRENCY; do
    log "wrk -c$c -d$WRK_DURATION POST /v1/voice/speech"
    start_tap "vg-speech-c$c"
    run_wrk "vg-speech-c$c" "$c" -d"$WRK_DURATION" -s "$TMP/speech.lua" -H "Authorization: Bearer $TOKEN" \
        "$BASE/v1/voice/speech"
    finish_speech "vg-speech-c$c"
done

# --- delivery check -----------------------------------------------------------------------------
log "delivery check: $CHECK_REQUESTS concurrent POST /v1/voice/speech, each on the bus once"
timeout 60 "$PY" "$HELPER" speech-check --port "$BUS_PORT" --url "$BASE" --token "$TOKEN" --count "$CHECK_REQUESTS" \
    >"$RES/check-speech.json" 2>&1 || { cat "$RES/check-speech.json" >&2; die "the speech delivery check failed"; }

kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$TMP/server.log" >&2; die "the server died during the benchmark"; }
kill -0 "$BUS_PID" 2>/dev/null || { tail -n 20 "$TMP/bus.log" >&2; die "the bus died during the benchmark"; }
# "Uncaught exception" in the bus log: the bus aborted the connection of a sending client.
BUS_UNCAUGHT="$(grep -c 'Uncaught exception' "$TMP/bus.log" || true)"
BUS_ERRORS="$(grep -c '^Traceback' "$TMP/bus.log" || true)"
BUS_LOST="$(grep -c 'message bus connection lost' "$TMP/server.log" || true)"
RESPONDER_ERRORS="$(cat "$TMP"/responder.*.log | grep -ciE 'error|exception|traceback' || true)"
SERVER_WARNINGS="$(grep -ciE 'warn|error' "$TMP/server.log" || true)"
BUS_RSS_KB="$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$BUS_PID/status")"
SERVER_RSS_KB="$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$SERVER_PID/status")"

# --- report -------------------------------------------------------------------------------------
export RES WRK_DURATION DURATION_S OVOS_CONCURRENCY INFO_REPEAT BUS_ERRORS BUS_UNCAUGHT BUS_LOST RESPONDER_ERRORS \
    SERVER_WARNINGS BUS_RSS_KB SERVER_RSS_KB RESPONDER_STARTS
python3 - <<'PY'
import json, os, re, statistics, sys

e = os.environ
res = e["RES"]
levels = [int(c) for c in e["OVOS_CONCURRENCY"].split()]
reps = int(e["INFO_REPEAT"])
duration = float(e["DURATION_S"])
units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
verdict = lambda ok: "PASS" if ok else "FAIL"
median = statistics.median
broken = []

def read(name):
    return open(os.path.join(res, name)).read()

def last_json(name):
    return json.loads(read(name).strip().splitlines()[-1])

def cpu(name):
    wall, bus, responder, server, tap, gen, machine = (float(x) for x in read(name + ".cpu").split())
    pct = lambda s: 100.0 * s / wall if wall > 0 else 0.0
    ours = bus + responder + server + tap + gen
    return {"bus": pct(bus), "responder": pct(responder), "server": pct(server), "tap": pct(tap),
            "gen": pct(gen), "total": pct(ours), "machine": pct(machine), "other": max(0.0, pct(machine - ours))}

def parse_wrk(name):
    text = read(name + ".out")
    def pct(p):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s|m|h)\s*$" % p, text, re.M)
        if not m:
            sys.exit("no %s%% latency in wrk output %s" % (p, name))
        return float(m.group(1)) * units[m.group(2)]
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    if not rps or not total:
        sys.exit("no Requests/sec in wrk output %s" % name)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    top = re.search(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)\s", text, re.M)
    n = int(total.group(1))
    bad = int(non2xx.group(1)) if non2xx else 0
    seconds = float(total.group(2)) * units[total.group(3)] / 1000.0
    return {"rate": (n - bad) / seconds if seconds else 0.0, "p50": pct(50), "p99": pct(99), "non2xx": bad,
            "max": float(top.group(1)) * units[top.group(2)] if top else 0.0,
            "sockerr": sum(int(g) for g in sock.groups()) if sock else 0, "total": n, "ok": n - bad}

def raw_run(name):
    r = last_json(name + ".out")
    return {"rate": r["rate"], "p50": r["p50_ms"], "p99": r["p99_ms"], "max": r["max_ms"], "raw": r}

def tapped(name, start, end):
    """Speak messages the bus relayed inside [start, end) and after end, and the last one's time."""
    t = last_json(name + ".tap")
    inside = after = 0
    for slot, n in t["slots"].items():
        at = int(slot) / 10.0
        if at < start - 0.1:
            continue
        if at < end:
            inside += n
        else:
            after += n
    return {"inside": inside, "after": after, "rate": inside / (end - start),
            "drain_s": max(0.0, t["last_seen"] - end) if after else 0.0}

def summary(runs):
    """Median rate, p50 and p99 over repeated runs (and the rate's range)."""
    return {"rate": median(r["rate"] for r in runs), "p50": median(r["p50"] for r in runs),
            "p99": median(r["p99"] for r in runs), "min": min(r["rate"] for r in runs),
            "max": max(r["rate"] for r in runs), "worst": max(r["max"] for r in runs)}

def cpu_mean(names):
    rows = [cpu(n) for n in names]
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}

def drain(names):
    return max(last_json("settle-%s.json" % n)["waited_s"] for n in names)

info = {}
for c in levels:
    raw_names = ["raw-info-c%d-r%d" % (c, i) for i in range(1, reps + 1)]
    vg_names = ["vg-info-c%d-r%d" % (c, i) for i in range(1, reps + 1)]
    raws = [raw_run(n) for n in raw_names]
    vgs = [parse_wrk(n) for n in vg_names]
    info[c] = {"raw": summary(raws), "vg": summary(vgs), "raws": raws, "vgs": vgs,
               "raw_cpu": cpu_mean(raw_names), "vg_cpu": cpu_mean(vg_names),
               "raw_drain": drain(raw_names), "vg_drain": drain(vg_names),
               "non2xx": sum(v["non2xx"] for v in vgs), "sockerr": sum(v["sockerr"] for v in vgs),
               "total": sum(v["total"] for v in vgs)}
    for n, r in zip(raw_names, raws):
        if r["raw"]["exchanges"] == 0:
            broken.append("baseline %s: no exchange completed" % n)
    for n, v in zip(vg_names, vgs):
        if v["ok"] == 0:
            broken.append("wrk %s: no 2xx answer at all" % n)
speech = {}
for c in levels:
    r = raw_run("raw-speech-c%d" % c)
    r["tap"] = tapped("raw-speech-c%d" % c, *r["raw"]["window"])
    w = parse_wrk("vg-speech-c%d" % c)
    start = float(read("vg-speech-c%d.start" % c))
    w["tap"] = tapped("vg-speech-c%d" % c, start, start + duration)
    speech[c] = {"raw": r, "vg": w, "raw_cpu": cpu("raw-speech-c%d" % c), "vg_cpu": cpu("vg-speech-c%d" % c),
                 "raw_drain": drain(["raw-speech-c%d" % c]), "vg_drain": drain(["vg-speech-c%d" % c])}
    if r["raw"]["exchanges"] == 0:
        broken.append("baseline raw-speech-c%d: no exchange completed" % c)
    if w["ok"] == 0:
        broken.append("wrk vg-speech-c%d: no 2xx answer at all" % c)
check = last_json("check-info.json")
speech_check = last_json("check-speech.json")

print()
print("## voicegate OVOS bridge load (%s per run, 127.0.0.1, %d cores shared by all processes)"
      % (e["WRK_DURATION"], os.cpu_count()))
print()
print("raw = raw websocket client, one bus connection, C requests in flight; voicegate ="
      " `wrk -t2 -cC --latency` (C = 1: -t1); voicegate's rate counts 2xx answers only."
      " Info: medians of %d alternating runs (rate range in brackets; max = worst of the runs);"
      " speech: one run each. Percentiles of both sides are corrected for coordinated omission as"
      " wrk corrects its own: one stall of T ms at C = 1 turns into a p99 of about T/2." % reps)
print()
print("| Route | C | raw exch/s | raw p50 | raw p99 | raw max | voicegate 2xx/s | voicegate p50 | voicegate p99 | voicegate max | non-2xx | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in levels:
    r, w = info[c]["raw"], info[c]["vg"]
    print("| GET /v1/system/info | %d | %.0f [%.0f-%.0f] | %.2f ms | %.2f ms | %.0f ms | %.0f [%.0f-%.0f] | %.2f ms | %.2f ms | %.0f ms | %d | %.1f %% |"
          % (c, r["rate"], r["min"], r["max"], r["p50"], r["p99"], r["worst"], w["rate"], w["min"], w["max"],
             w["p50"], w["p99"], w["worst"], info[c]["non2xx"] + info[c]["sockerr"],
             100 * w["rate"] / r["rate"] if r["rate"] else 0))
for c in levels:
    r, w = speech[c]["raw"], speech[c]["vg"]
    print("| POST /v1/voice/speech | %d | %.0f | %.2f ms | %.2f ms | %.0f ms | %.0f | %.2f ms | %.2f ms | %.0f ms | %d | %.1f %% |"
          % (c, r["rate"], r["p50"], r["p99"], r["max"], w["rate"], w["p50"], w["p99"], w["max"],
             w["non2xx"] + w["sockerr"], 100 * w["rate"] / r["rate"] if r["rate"] else 0))
print()
print("Speech as the bus relayed it (a tap on the bus counts `speak` messages; a 200 that does not"
      " wait for the bus leaves speeches to be relayed after the run):")
print()
print("| C | raw: relayed/s | voicegate: relayed/s | ratio | voicegate 2xx | relayed (window + after) | relayed after the window | last one relayed |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in levels:
    rt, vt, w = speech[c]["raw"]["tap"], speech[c]["vg"]["tap"], speech[c]["vg"]
    print("| %d | %.0f | %.0f | %.1f %% | %d | %d | %d | %.1f s after the window |"
          % (c, rt["rate"], vt["rate"], 100 * vt["rate"] / rt["rate"] if rt["rate"] else 0, w["ok"],
             vt["inside"] + vt["after"], vt["after"], vt["drain_s"]))
print()
print("CPU, %% of one core over each run's wall time (%d cores = %d %%; info: mean of the runs)."
      " In raw info runs voicegate is connected and idle, in voicegate info runs an idle tap is:"
      % (os.cpu_count(), 100 * os.cpu_count()))
print()
print("| Run | C | bus | responder | voicegate | load generator | tap | total | rest of the machine | drain before next run |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
rows = []
for c in levels:
    rows.append(("raw info (raw client)", c, info[c]["raw_cpu"], info[c]["raw_drain"]))
    rows.append(("voicegate info (wrk)", c, info[c]["vg_cpu"], info[c]["vg_drain"]))
for c in levels:
    rows.append(("raw speech (raw client)", c, speech[c]["raw_cpu"], speech[c]["raw_drain"]))
    rows.append(("voicegate speech (wrk)", c, speech[c]["vg_cpu"], speech[c]["vg_drain"]))
for name, c, u, d in rows:
    print("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f s |"
          % (name, c, u["bus"], u["responder"], u["server"], u["gen"], u["tap"], u["total"], u["other"], d))
busy = ["%s c%d (%.0f %%)" % (name, c, u["other"]) for name, c, u, _ in rows if u["other"] > 25]
if busy:
    print()
    print("note: other work on the machine took more than 25 %% of a core during: %s. Those rows are"
          " not comparable; run again on a quiet machine." % ", ".join(busy))
print()
print("| Check | Result |")
print("|---|---|")
print("| %d concurrent GET /v1/system/info | %d answered 200, %d distinct core_version, %d duplicates, %d without core_version (counter gaps %d) |"
      % (check["requests"], check["ok"], check["distinct"], check["duplicates"], check["missing_core_version"],
         check["counter_gaps"]))
print("| raw baseline info answers (all runs): duplicates / unauthenticated | %d / %d |"
      % (sum(r["raw"]["duplicates"] for c in levels for r in info[c]["raws"]),
         sum(r["raw"]["unauthenticated"] for c in levels for r in info[c]["raws"])))
print("| %d concurrent POST /v1/voice/speech, distinct utterances | %d answered 200, %d seen on the bus, %d duplicates |"
      % (speech_check["requests"], speech_check["ok"], speech_check["delivered"], speech_check["duplicates"]))
print("| peak RSS (VmHWM): bus, voicegate | %.1f MB, %.1f MB |" % (float(e["BUS_RSS_KB"]) / 1024, float(e["SERVER_RSS_KB"]) / 1024))
print("| bus log: tracebacks (nearly all: writes to a restarted responder); uncaught exceptions (each aborts the sender's connection) | %s; %s |"
      % (e["BUS_ERRORS"], e["BUS_UNCAUGHT"]))
print("| responder (%s starts) error lines; server warn/error lines; voicegate lost its bus connection | %s; %s; %s times |"
      % (e["RESPONDER_STARTS"], e["RESPONDER_ERRORS"], e["SERVER_WARNINGS"], e["BUS_LOST"]))
print()
print("mismatches: %d" % check["mismatches"])
print()
print("| Target | Measured | Result |")
print("|---|---:|:---:|")
rows, extra = [], []
for c in levels:
    r, w = info[c]["raw"], info[c]["vg"]
    ratio = w["rate"] / r["rate"] if r["rate"] else 0.0
    rows.append(("info c%d: voicegate >= 80%% of raw rate (medians)" % c,
                 "%.1f %% (%.0f / %.0f)" % (ratio * 100, w["rate"], r["rate"]), ratio >= 0.80))
    rows.append(("info c%d: voicegate p99 <= 50 ms (median)" % c, "%.2f ms (raw %.2f ms)" % (w["p99"], r["p99"]), w["p99"] <= 50))
for c in levels:
    r, w = speech[c]["raw"], speech[c]["vg"]
    ratio = w["rate"] / r["rate"] if r["rate"] else 0.0
    rows.append(("speech c%d: voicegate 2xx rate >= 80%% of raw rate" % c,
                 "%.1f %% (%.0f / %.0f)" % (ratio * 100, w["rate"], r["rate"]), ratio >= 0.80))
    rt, vt = r["tap"], w["tap"]
    ratio = vt["rate"] / rt["rate"] if rt["rate"] else 0.0
    rows.append(("speech c%d: bus-relayed rate >= 80%% of raw" % c,
                 "%.1f %% (%.0f / %.0f)" % (ratio * 100, vt["rate"], rt["rate"]), ratio >= 0.80))
    rows.append(("speech c%d: voicegate p99 <= 50 ms" % c, "%.2f ms (raw %.2f ms)" % (w["p99"], r["p99"]), w["p99"] <= 50))
rows.append(("no reply mismatches (%d concurrent info)" % check["requests"],
             "mismatches: %d (%d/%d answered 200)" % (check["mismatches"], check["ok"], check["requests"]),
             check["mismatches"] == 0 and check["ok"] == check["requests"]))
for c in levels:
    extra.append(("(extra) info c%d: no non-2xx / socket errors" % c,
                  "%d / %d of %d" % (info[c]["non2xx"], info[c]["sockerr"], info[c]["total"]),
                  info[c]["non2xx"] == 0 and info[c]["sockerr"] == 0))
for c in levels:
    w = speech[c]["vg"]
    extra.append(("(extra) speech c%d: no non-2xx / socket errors" % c,
                  "%d / %d of %d" % (w["non2xx"], w["sockerr"], w["total"]), w["non2xx"] == 0 and w["sockerr"] == 0))
    relayed = w["tap"]["inside"] + w["tap"]["after"]
    extra.append(("(extra) speech c%d: every 2xx speech relayed by the bus" % c,
                  "%d accepted, %d relayed" % (w["ok"], relayed), relayed >= w["ok"]))
    extra.append(("(extra) speech c%d: relayed within 1 s of the run's end" % c,
                  "last one %.1f s after" % w["tap"]["drain_s"], w["tap"]["drain_s"] <= 1.0))
extra.append(("(extra) %d concurrent speeches each relayed once" % speech_check["requests"],
              "%d relayed, %d duplicates, %d answered 200" % (speech_check["delivered"], speech_check["duplicates"], speech_check["ok"]),
              speech_check["delivered"] == speech_check["requests"] and speech_check["duplicates"] == 0
              and speech_check["ok"] == speech_check["requests"]))
extra.append(("(extra) voicegate's bus connection never lost", "lost %s times" % e["BUS_LOST"], e["BUS_LOST"] == "0"))
for name, value, ok in rows + extra:
    print("| %s | %s | %s |" % (name, value, verdict(ok)))
print()
for c in levels:
    if info[c]["raw"]["p99"] > 50:
        print("note: the raw baseline itself has p99 %.1f ms on info at C = %d: bus and responder set that latency."
              % (info[c]["raw"]["p99"], c))
    for r in info[c]["raws"] + [speech[c]["raw"]]:
        x = r["raw"]
        if x["unanswered"] or x["unmatched"] or x["errors"]:
            print("note: baseline %s c%d: %d unanswered, %d unmatched replies, %d errors %s"
                  % (x["kind"], c, x["unanswered"], x["unmatched"], x["errors"], x["error_text"]))
    if speech[c]["vg"]["non2xx"]:
        print("note: speech c%d: the wrk latencies include the %d quick non-2xx answers."
              % (c, speech[c]["vg"]["non2xx"]))
for line in broken:
    print("error: " + line, file=sys.stderr)
sys.exit(1 if broken else 0)
PY
