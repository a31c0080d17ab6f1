#!/usr/bin/env bash
# benches/speakers-load.sh: the HK Omni speakers surface over a real Snapcast: command to first
# audio at a speaker (play_tts, play_web_media), the set_volume_device round trip, and
# device_list requests/s.
#
# Setup, all on 127.0.0.1 with free ports and a temp dir: Debian's snapserver (0.26) with two TCP
# stream sources, S1 (voicegate's pool: speakers.snapcast_streams) and S2 (the baseline's), and
# its buffer at SNAP_BUFFER_MS (default 300; speakers.buffer_ms the same); three snapclients
# with the file player (`--player file:filename=PATH,mode=a`: raw 48000:16:2 PCM, silence while
# idle, in real time): spk1 and spk2, voicegate's speakers, and base, on S2; a fresh release
# voicegate (one user created with the CLI, logged in with POST /v1/auth/tokens).
# benches/speakers_probe.py then measures (its docstring has the details):
#   1. first audio: the time from sending a request to the first sample louder than 16/32767 in a
#      speaker's file, the files polled every 2 ms; SPEAKERS_REPEAT rounds (default 20), each
#      one request of each kind, after one unmeasured "cold" request of each:
#        baseline: a 300 ms tone written straight into S2, heard at base (Snapcast alone);
#        tts:      GET /api/v1/play_tts?SessionToken=…&Text=Dinner is ready. (spk1 and spk2 in
#                  the session; espeak:en-us);
#        web:      GET /api/v1/play_web_media?SessionToken=…&MediaUrl=http://127.0.0.1:PORT/…
#                  (a 1 s 44.1 kHz stereo WAV, or FLAC with WEB_MEDIA_FORMAT=flac, served by
#                  the probe); skipped, said so, when the route answers 404 or 405;
#      each clip plays to its end and every file is silent for 500 ms before the next request.
#      Two figures per request: when the sample plays (the file player writes a 50 ms block every
#      50 ms, 10 ms before its first frame is due: the block's arrival + 10 ms + the sample's
#      place in the block), and when it could first be read in the file (earlier);
#   2. set_volume_device: VOLUME_REPEAT (default 1000) sequential requests on one kept-alive
#      connection (Volume alternating 20 and 30): p50, p99, max;
#   3. device_list: `wrk -t2 -c50 -d$WRK_DURATION --latency` (default 10s): requests/s, p50, p99,
#      and the server's and snapserver's CPU time per request (with the processes they run).
# Before measuring it waits (up to QUIET_WAIT s, default 120) until the machine is less than 15 %
# busy. It prints markdown tables with PASS/FAIL against the targets: first audio <= 500 ms
# (median at spk1, when the sample plays, with a 300 ms buffer); set_volume_device p99 <= 20 ms.
#
# Run from anywhere (needs cargo, curl, python3, snapserver, snapclient, wrk; installs the Debian
# `wrk` package when missing and running as root; sox for WEB_MEDIA_FORMAT=flac):
#     benches/speakers-load.sh                  # the release build, then about 2 minutes
#     SPEAKERS_REPEAT=5 VOLUME_REPEAT=200 WRK_DURATION=5s benches/speakers-load.sh
# Optional environment: SPEAKERS_REPEAT (1 to 200), VOLUME_REPEAT (10 to 100000), WRK_DURATION
# (1 s to 120 s), SNAP_BUFFER_MS (default 300), WEB_MEDIA_FORMAT (wav or flac), QUIET_WAIT, and
# WEB_MEDIA_ALLOW_KEY: the environment name of the server's allowlist for web media targets
# (default VOICEGATE_SPEAKERS__WEB_MEDIA_ALLOW), set to ["127.0.0.1"] when the build knows it
# (checked with `voicegate user list` first: an unknown key is a configuration error).
#
# Exit status: 0 when the report was produced (whatever PASS/FAIL says); non-zero when something
# broke (build failed, snapserver/snapclients/server did not start, a request answered non-200,
# no audio reached a speaker within 10 s, wrk saw non-2xx answers).
# Notes: the server, snapserver, three snapclients, the probe and wrk share the machine's cores
# (2 when the figures in docs/benchmarks.md were taken). All of them use 127.0.0.1 only; every
# process started here and the temp dir are removed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEAKERS_REPEAT="${SPEAKERS_REPEAT:-20}"
VOLUME_REPEAT="${VOLUME_REPEAT:-1000}"
WRK_DURATION="${WRK_DURATION:-10s}"
SNAP_BUFFER_MS="${SNAP_BUFFER_MS:-300}"
WEB_MEDIA_FORMAT="${WEB_MEDIA_FORMAT:-wav}"
WEB_MEDIA_ALLOW_KEY="${WEB_MEDIA_ALLOW_KEY:-VOICEGATE_SPEAKERS__WEB_MEDIA_ALLOW}"
QUIET_WAIT="${QUIET_WAIT:-120}"
QUIET_SHARE=15          # percent of the machine's CPU others may use for it to count as quiet
TTS_TEXT="Dinner is ready."
TTS_VOICE="espeak:en-us"
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools, parameters --------------------------------------------------------------------------
require_tools cargo curl python3 snapserver snapclient
require_wrk
PROBE="$ROOT/benches/speakers_probe.py"
[[ -f "$PROBE" ]] || die "missing $PROBE"
[[ "$SPEAKERS_REPEAT" =~ ^[0-9]{1,3}$ ]] && ((SPEAKERS_REPEAT >= 1 && SPEAKERS_REPEAT <= 200)) \
    || die "SPEAKERS_REPEAT must be a number from 1 to 200"
[[ "$VOLUME_REPEAT" =~ ^[0-9]{1,6}$ ]] && ((VOLUME_REPEAT >= 10 && VOLUME_REPEAT <= 100000)) \
    || die "VOLUME_REPEAT must be a number from 10 to 100000"
[[ "$WRK_DURATION" =~ ^([1-9][0-9]?|1[01][0-9]|120)s?$ ]] || die "WRK_DURATION must be 1s to 120s"
[[ "$SNAP_BUFFER_MS" =~ ^[0-9]{2,4}$ ]] && ((SNAP_BUFFER_MS >= 20)) \
    || die "SNAP_BUFFER_MS must be a number of milliseconds from 20"
[[ "$WEB_MEDIA_FORMAT" =~ ^(wav|flac)$ ]] || die "WEB_MEDIA_FORMAT must be wav or flac"
[[ "$WEB_MEDIA_ALLOW_KEY" =~ ^VOICEGATE_[A-Z0-9_]+$ ]] || die "WEB_MEDIA_ALLOW_KEY must be a VOICEGATE_ name"
[[ "$WEB_MEDIA_FORMAT" == wav ]] || require_tools sox
[[ "$QUIET_WAIT" =~ ^[0-9]{1,4}$ ]] || die "QUIET_WAIT must be a number of seconds"

# --- build, temp dir ----------------------------------------------------------------------------
build_voicegate
bench_tmp voicegate-speakers-bench
SNAP="$TMP/snap"
mkdir -p "$SNAP/data"

# --- snapserver, snapclients --------------------------------------------------------------------
# Each port is taken by the process it is for a moment after free_port picked it; a collision
# shows as a start failure below.
CONTROL_PORT="$(free_port)"
STREAM_PORT="$(free_port)"
S1_PORT="$(free_port)"
S2_PORT="$(free_port)"
SERVER_PORT="$(free_port)"

cat >"$SNAP/snapserver.conf" <<EOF
[server]
threads = 2
datadir = $SNAP/data

[http]
enabled = false

[tcp]
enabled = true
bind_to_address = 127.0.0.1
port = $CONTROL_PORT

[stream]
bind_to_address = 127.0.0.1
port = $STREAM_PORT
source = tcp://127.0.0.1:$S1_PORT?name=S1&mode=server&sampleformat=48000:16:2
source = tcp://127.0.0.1:$S2_PORT?name=S2&mode=server&sampleformat=48000:16:2
sampleformat = 48000:16:2
codec = pcm
chunk_ms = 20
buffer = $SNAP_BUFFER_MS
send_to_muted = true

[logging]
filter = *:warning
EOF

# in_background CMD...: runs CMD as a helper (stopped on exit) and waits for it, so that a signal
# to this script stops the run at once (bash runs its traps only between foreground commands, and
# `timeout` takes its command out of the terminal's process group).
in_background() {
    "$@" &
    local pid=$!
    HELPER_PIDS+=("$pid")
    wait "$pid"
}

# wait_port PORT PID LOG: until something listens on 127.0.0.1:PORT (at most 10 s); on failure
# LOG goes to stderr.
wait_port() {
    local i
    for i in $(seq 100); do
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "snapserver exited during start"; }
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
            "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$3" >&2
    die "snapserver did not listen on 127.0.0.1:$1 within 10 s"
}

log "starting snapserver (buffer $SNAP_BUFFER_MS ms, sources S1 and S2) and snapclients spk1, spk2, base"
(exec snapserver -c "$SNAP/snapserver.conf") >"$SNAP/snapserver.log" 2>&1 &
SNAPSERVER_PID=$!
HELPER_PIDS+=("$SNAPSERVER_PID")
wait_port "$CONTROL_PORT" "$SNAPSERVER_PID" "$SNAP/snapserver.log"
wait_port "$STREAM_PORT" "$SNAPSERVER_PID" "$SNAP/snapserver.log"
CLIENT_PIDS=()
for client in spk1 spk2 base; do
    (exec snapclient -h 127.0.0.1 -p "$STREAM_PORT" --hostID "$client" --logsink stdout \
        --player "file:filename=$SNAP/$client.pcm,mode=a") >"$SNAP/$client.log" 2>&1 &
    HELPER_PIDS+=("$!")
    CLIENT_PIDS+=("$!")
done

# --- the web media file -------------------------------------------------------------------------
# 1 s of a 440 Hz tone, 44.1 kHz stereo (resampled by the server to the streams' 48 kHz).
python3 - "$TMP/media.wav" <<'PY' || die "could not write the web media file"
import math, struct, sys, wave
rate, frames = 44100, 44100
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(2)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(b"".join(struct.pack("<hh", v, v) for v in
        (int(round(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(frames))))
PY
WEB_MEDIA="$TMP/media.wav"
WEB_MEDIA_TYPE="audio/wav"
if [[ "$WEB_MEDIA_FORMAT" == flac ]]; then
    sox "$TMP/media.wav" "$TMP/media.flac" || die "sox could not make the FLAC file"
    WEB_MEDIA="$TMP/media.flac"
    WEB_MEDIA_TYPE="audio/flac"
fi

# --- voicegate ----------------------------------------------------------------------------------
# A clean environment: nothing inherited can change the configuration (the ovos-api names
# SECRET, API_KEY, WS_HOST, WS_PORT, USERS_DB are read too).
VG_ENV=(
    PATH="$PATH" HOME="$TMP"
    VOICEGATE_SPEAKERS__BACKEND=snapcast
    VOICEGATE_SPEAKERS__SNAPCAST_CONTROL="127.0.0.1:$CONTROL_PORT"
    VOICEGATE_SPEAKERS__SNAPCAST_STREAMS="[\"S1=tcp://127.0.0.1:$S1_PORT\"]"
    VOICEGATE_SPEAKERS__BUFFER_MS="$SNAP_BUFFER_MS"
    VOICEGATE_SPEAKERS__TTS_VOICE="$TTS_VOICE"
)
# The web media allowlist only when this build knows the key (an unknown key stops the server).
WEB_ALLOW_NOTE="not set: this build does not know $WEB_MEDIA_ALLOW_KEY"
if (cd "$WORKDIR" && env -i "${VG_ENV[@]}" "$WEB_MEDIA_ALLOW_KEY=[\"127.0.0.1\"]" \
        timeout 60 "$BIN" --data-dir "$DATA" user list) >"$TMP/allow-check.log" 2>&1; then
    VG_ENV+=("$WEB_MEDIA_ALLOW_KEY=[\"127.0.0.1\"]")
    WEB_ALLOW_NOTE="$WEB_MEDIA_ALLOW_KEY=[\"127.0.0.1\"]"
fi
log "web media allowlist: $WEB_ALLOW_NOTE"

create_user "$BENCH_USER" "$BENCH_PASSWORD"
start_server "$SERVER_PORT"
login "$BENCH_USER" "$BENCH_PASSWORD"

# --- CPU accounting -----------------------------------------------------------------------------
# proc_ticks PID...: the processes' user + system CPU time with that of the child processes they
# waited for, in clock ticks (/proc/PID/stat; snapserver 0.26 runs `lsb_release -d` through a
# shell for every Server.GetStatus).
proc_ticks() {
    local pid sum=0 ticks
    for pid in "$@"; do
        ticks="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pid/stat")"
        sum=$((sum + ticks))
    done
    echo "$sum"
}
CLK_TCK="$(getconf CLK_TCK)"


LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_BEFORE="$(ps -e -o comm= | grep -c -x -E 'cargo|rustc|cc|cc1|cc1plus|ld|wrk' || true)"
log "load average $LOAD_BEFORE; cargo/rustc/cc/ld/wrk processes running: $OTHERS_BEFORE"
QUIET_SHARE_SEEN="$(wait_quiet)"
log "machine busy ${QUIET_SHARE_SEEN} % before measuring"
J0="$(cpu_jiffies)"; T0="$(date +%s.%N)"
S0="$(proc_ticks "$SERVER_PID")"; N0="$(proc_ticks "$SNAPSERVER_PID")"; C0="$(proc_ticks "${CLIENT_PIDS[@]}")"

# --- first audio, volume round trips ------------------------------------------------------------
in_background timeout 1800 python3 "$PROBE" --base "$BASE" --login "$TMP/login.json" \
    --control "127.0.0.1:$CONTROL_PORT" --pcm-dir "$SNAP" --speakers spk1,spk2 \
    --baseline-client base --baseline-stream S2 --baseline-port "$S2_PORT" \
    --repeat "$SPEAKERS_REPEAT" --volume-repeat "$VOLUME_REPEAT" \
    --text "$TTS_TEXT" --voice "$TTS_VOICE" --web-media "$WEB_MEDIA" --web-media-type "$WEB_MEDIA_TYPE" \
    --out "$TMP/probe.json" --out-wrk "$TMP/wrk-target" \
    || { tail -n 20 "$TMP/server.log" >&2; die "the probe failed"; }
PROBE_BUSY="$(busy_percent "$J0" "$(cpu_jiffies)")"
PROBE_WALL="$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$T0" "$(date +%s.%N)")"
PROBE_SERVER_TICKS=$(($(proc_ticks "$SERVER_PID") - S0))
PROBE_SNAP_TICKS=$(($(proc_ticks "$SNAPSERVER_PID") - N0))
PROBE_CLIENT_TICKS=$(($(proc_ticks "${CLIENT_PIDS[@]}") - C0))

# --- device_list load ---------------------------------------------------------------------------
read -r SESSION DEVICE_ID <"$TMP/wrk-target"
TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/login.json")"
LIST_URL="$BASE/api/v1/device_list?SessionToken=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$SESSION")"
LIST_CODE="$(curl --noproxy '*' -sS --max-time 10 -o "$TMP/device_list.json" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" "$LIST_URL")" || die "device_list request failed"
[[ "$LIST_CODE" == 200 ]] || { cat "$TMP/device_list.json" >&2; die "device_list answered $LIST_CODE"; }
DEVICES="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["DeviceList"]))' "$TMP/device_list.json")"
[[ "$DEVICES" == 3 ]] || die "device_list lists $DEVICES devices, not 3"
log "warm-up: device_list, wrk -t2 -c50 -d2s"
in_background timeout 60 wrk --timeout 5s --latency -t2 -c50 -d2s -H "Authorization: Bearer $TOKEN" "$LIST_URL" \
    >"$TMP/wrk-warmup.txt" 2>&1 || { cat "$TMP/wrk-warmup.txt" >&2; die "wrk warm-up failed"; }
log "wrk -t2 -c50 -d$WRK_DURATION GET /api/v1/device_list"
S0="$(proc_ticks "$SERVER_PID")"; N0="$(proc_ticks "$SNAPSERVER_PID")"; J0="$(cpu_jiffies)"; T0="$(date +%s.%N)"
S0="$(proc_ticks "$SERVER_PID")"; N0="$(proc_ticks "$SNAPSERVER_PID")"; C0="$(proc_ticks "${CLIENT_PIDS[@]}")"
in_background timeout 180 wrk --timeout 5s --latency -t2 -c50 -d"$WRK_DURATION" -H "Authorization: Bearer $TOKEN" "$LIST_URL" \
    >"$TMP/wrk-list.txt" 2>&1 || { cat "$TMP/wrk-list.txt" >&2; die "wrk run failed"; }
LIST_SERVER_TICKS=$(($(proc_ticks "$SERVER_PID") - S0))
LIST_SNAP_TICKS=$(($(proc_ticks "$SNAPSERVER_PID") - N0))
LIST_BUSY="$(busy_percent "$J0" "$(cpu_jiffies)")"
read -r LIST_RPS LIST_P50 LIST_P99 LIST_NON2XX LIST_SOCKERR LIST_TOTAL < <(parse_wrk "$TMP/wrk-list.txt")

# --- report -------------------------------------------------------------------------------------
export TMP LOAD_BEFORE OTHERS_BEFORE QUIET_SHARE_SEEN PROBE_BUSY SNAP_BUFFER_MS WEB_MEDIA_FORMAT \
    WEB_ALLOW_NOTE WRK_DURATION LIST_RPS LIST_P50 LIST_P99 LIST_NON2XX LIST_SOCKERR LIST_TOTAL \
    LIST_SERVER_TICKS LIST_SNAP_TICKS LIST_BUSY CLK_TCK PROBE_WALL PROBE_SERVER_TICKS PROBE_SNAP_TICKS \
    PROBE_CLIENT_TICKS
python3 - <<'PY'
import json, os
e = os.environ
r = json.load(open(os.path.join(e["TMP"], "probe.json")))
speakers = r["speakers"]
verdict = lambda ok: "PASS" if ok else "FAIL"

def pct(values, p):
    v = sorted(values)
    rank = p / 100 * (len(v) - 1)
    lo, hi = int(rank), min(int(rank) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)

def stats(values):
    return "%.0f / %.0f / %.0f / %.0f ms" % (min(values), pct(values, 50), pct(values, 90), max(values))

labels = {"baseline": "baseline: a tone written into S2, heard at base (Snapcast alone)",
          "tts": "play_tts (%s, %r)" % (r["voice"], r["text"]),
          "web": "play_web_media (%s over HTTP from 127.0.0.1)" % e["WEB_MEDIA_FORMAT"]}
print()
print("## voicegate speakers (snapserver 0.26, buffer %s ms, %d snapclients with the file player;"
      " 127.0.0.1, %d cores shared by everything)" % (e["SNAP_BUFFER_MS"], len(speakers) + 1, os.cpu_count()))
print()
tick_s = 1 / int(e["CLK_TCK"])
wall = float(e["PROBE_WALL"])
share = lambda ticks_or_s: "%.0f %%" % (100 * ticks_or_s / wall / os.cpu_count())
print("Load average before: %s; cargo/rustc/cc/ld/wrk processes: %s; machine busy %s %% in the second"
      " before measuring. Web media allowlist: %s." % (e["LOAD_BEFORE"], e["OTHERS_BEFORE"],
      e["QUIET_SHARE_SEEN"], e["WEB_ALLOW_NOTE"]))
print("During the first-audio and volume runs (%.0f s) the machine was %s %% busy: server %s, snapserver %s,"
      " the three snapclients %s, the probe %s (shares of all %d cores)." % (wall, e["PROBE_BUSY"],
      share(int(e["PROBE_SERVER_TICKS"]) * tick_s), share(int(e["PROBE_SNAP_TICKS"]) * tick_s),
      share(int(e["PROBE_CLIENT_TICKS"]) * tick_s), share(r["probe_cpu_s"]), os.cpu_count()))
print()
print("### Command to first audio (%d requests of each; min / median / p90 / max)" % r["repeat"])
print()
print("\"plays\": when the sample is due at the speaker (the file player's 50 ms block's arrival, + the"
      " 10 ms it asks ahead, + the sample's place in the block); \"in the file\": when the sample could"
      " first be read there.")
print()
print("| request | answered (median) | %s: plays | %s: in the file | slowest speaker: plays | cold request: plays |"
      % (speakers[0], speakers[0]))
print("|---|---:|---:|---:|---:|---:|")
medians = {}
for kind, data in r["kinds"].items():
    runs = data["runs"]
    who = "base" if kind == "baseline" else speakers[0]
    plays = [run["audio"][who][1] for run in runs]
    files = [run["audio"][who][0] for run in runs]
    slowest = [max(a[1] for a in run["audio"].values()) for run in runs]
    answered = [run["answer_ms"] for run in runs]
    medians[kind] = pct(plays, 50)
    print("| %s | %s | %s | %s | %s | %.0f ms |" % (
        labels[kind], "" if kind == "baseline" else "%.1f ms" % pct(answered, 50),
        stats(plays), stats(files), "" if kind == "baseline" else stats(slowest),
        data["cold"]["audio"][who][1]))
for kind, reason in r["skipped"].items():
    print("| %s | skipped: %s | | | | |" % (labels[kind], reason))
print()
for kind in ("tts", "web"):
    if kind in medians:
        print("%s: %.0f ms above Snapcast alone (medians, when the sample plays)."
              % (kind, medians[kind] - medians["baseline"]))
if r.get("tts_leading_silence_ms") is not None:
    print("The spoken clip starts with %.1f ms below the threshold (%d/32767); the synthesis route makes"
          " the whole clip in %.1f ms (median of 5, 48 kHz WAV)."
          % (r["tts_leading_silence_ms"], r["threshold"], r["tts_synthesis_ms"]))
else:
    print("Leading silence and synthesis time of the clip: not measured (%s)." % r.get("synthesis_note"))
print()
vol = r["volume_ms"]
ctl = r["control_ms"]
print("### set_volume_device (%d sequential requests, one kept-alive connection)" % len(vol))
print()
print("| round trip | p50 | p99 | max | mean |")
print("|---|---:|---:|---:|---:|")
print("| set_volume_device | %.2f ms | %.2f ms | %.2f ms | %.2f ms |" % (pct(vol, 50), pct(vol, 99), max(vol), sum(vol) / len(vol)))
print("| snapserver alone: Server.GetStatus (%d, sequential) | %.2f ms | %.2f ms | %.2f ms | %.2f ms |"
      % (len(ctl), pct(ctl, 50), pct(ctl, 99), max(ctl), sum(ctl) / len(ctl)))

print()
total = int(e["LIST_TOTAL"])
tick_ms = 1000 / int(e["CLK_TCK"])
print("### device_list (wrk -t2 -c50 -d%s --latency; 3 devices)" % e["WRK_DURATION"])
print()
print("| requests/s | p50 | p99 | non-2xx / socket errors | server CPU per request | snapserver CPU per request (with its child processes) | machine busy |")
print("|---:|---:|---:|---:|---:|---:|---:|")
print("| %.0f | %.2f ms | %.2f ms | %s / %s | %.3f ms | %.3f ms | %s %% |" % (
    float(e["LIST_RPS"]), float(e["LIST_P50"]), float(e["LIST_P99"]), e["LIST_NON2XX"], e["LIST_SOCKERR"],
    int(e["LIST_SERVER_TICKS"]) * tick_ms / max(total, 1), int(e["LIST_SNAP_TICKS"]) * tick_ms / max(total, 1),
    e["LIST_BUSY"]))
print()
print("snapserver alone (the probe, after the volume run): Server.GetStatus with 50 in flight on one"
      " connection, %.0f answers/s; voicegate reuses its last status read until snapserver announces a change."
      % r["control_pipelined_per_s"])
print()
print("| Target | Measured | Result |")
print("|---|---:|:---:|")
for kind in ("tts", "web"):
    if kind in medians:
        print("| %s: first audio <= 500 ms (median at %s, when it plays) | %.0f ms | %s |"
              % (kind, speakers[0], medians[kind], verdict(medians[kind] <= 500)))
print("| set_volume_device p99 <= 20 ms | %.2f ms | %s |" % (pct(vol, 99), verdict(pct(vol, 99) <= 20)))
PY

broken=0
if [[ "$LIST_NON2XX" -ne 0 || "$LIST_SOCKERR" -ne 0 ]]; then
    echo "error: device_list answered non-2xx or had socket errors under wrk; the numbers are not sound" >&2
    broken=1
fi
for pid in "$SERVER_PID" "$SNAPSERVER_PID"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "error: process $pid (server or snapserver) died during the benchmark" >&2
        tail -n 20 "$TMP/server.log" "$SNAP/snapserver.log" >&2
        broken=1
    fi
done
exit "$broken"
