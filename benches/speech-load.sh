#!/usr/bin/env bash
# benches/speech-load.sh: speech synthesis through voicegate's HTTP route (the whole WAV by
# default, streamed with SPEECH_STREAM=1) against the same synthesis done in-process by the speech
# crate, measured in the same run.
#
# What it measures, against a fresh release server on 127.0.0.1 (temp data dir, free port, one
# user created with the CLI, logged in with POST /v1/auth/tokens):
#   1. direct (the baseline): crates/speech/examples/synth_once, SPEECH_REPEAT syntheses of a fixed
#      256-character English sentence with Synthesizer::stream to a 48 kHz WAV (the call the route
#      makes), one after the other: total time and time to the first chunk of each;
#   2. HTTP: SPEECH_REPEAT sequential GET /api/v1/external/synthesis/?download_token=espeak:en-us
#      &script=<the sentence>&sample_rate=48000 (and &stream=true with SPEECH_STREAM=1) with curl
#      (a new connection each, body read to the end and dropped): time_total and
#      time_starttransfer (TTFB: streamed, the server answers once the first audio chunk exists;
#      whole, once the whole WAV is made) of each;
#   (1 and 2 alternate in blocks of SPEECH_BLOCK, default 10, so that a drift of the machine's
#   speed touches both sides alike; each synth_once block first warms up with 3 syntheses;)
#   3. concurrency: SPEECH_CLIENTS (default 4) curl loops in parallel, SPEECH_REPEAT/SPEECH_CLIENTS
#      requests each, and synth_once with as many threads doing as many syntheses: requests/s and
#      seconds of audio produced per second of wall time.
# Before measuring it waits (up to QUIET_WAIT s, default 120) until other processes use less than
# 15% of the CPU, and it reports how busy the machine was during each phase and the server's CPU
# time per request. Both sides warm up first (3 syntheses / 3 requests, not counted). One
# response is checked to be a 48 kHz mono 16-bit WAV of the same length as synth_once's.
# It prints markdown tables: median and p90 (linear interpolation) of HTTP total, HTTP TTFB, direct
# total, direct time to first chunk; PASS/FAIL against the targets (on the medians):
#   HTTP total / direct total <= 1.5; HTTP TTFB <= 30 ms;
# and the throughput of the concurrency run for both sides.
#
# Run from anywhere (needs cargo, curl, python3, the engines' libraries: libespeak-ng-dev,
# flite1-dev):
#     benches/speech-load.sh
#     SPEECH_REPEAT=60 SPEECH_CLIENTS=2 benches/speech-load.sh
# Optional environment: SPEECH_REPEAT (default 30, 4 to 1000), SPEECH_CLIENTS (default 4, 1 to
# 16), SPEECH_VOICE (default espeak:en-us; flite:slt works too), SPEECH_STREAM (default 0: the
# whole WAV, exact sizes and Content-Length; 1: streamed), SPEECH_BLOCK (default 10),
# QUIET_WAIT (default 120). Takes about 10 s after the build with the defaults (plus any wait
# for a quiet machine).
#
# Exit status: 0 when the report was produced (whatever PASS/FAIL says); non-zero when something
# broke (build failed, server did not start, login failed, a request answered non-200, the WAV
# was wrong).
# Notes: curl, synth_once and the server share the machine's cores (2 when the figures in
# docs/benchmarks.md were taken); everything uses 127.0.0.1 only. The server, its temp dir and
# helper processes are removed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEECH_REPEAT="${SPEECH_REPEAT:-30}"
SPEECH_CLIENTS="${SPEECH_CLIENTS:-4}"
SPEECH_VOICE="${SPEECH_VOICE:-espeak:en-us}"
SPEECH_BLOCK="${SPEECH_BLOCK:-10}"
SPEECH_STREAM="${SPEECH_STREAM:-0}"
QUIET_WAIT="${QUIET_WAIT:-120}"
SAMPLE_RATE=48000
WARMUP=3
QUIET_SHARE=15          # percent of the machine's CPU others may use for it to count as quiet
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools, parameters --------------------------------------------------------------------------
require_tools cargo curl python3
[[ "$SPEECH_REPEAT" =~ ^[0-9]{1,4}$ ]] && ((SPEECH_REPEAT >= 4 && SPEECH_REPEAT <= 1000)) \
    || die "SPEECH_REPEAT must be a number from 4 to 1000"
[[ "$SPEECH_CLIENTS" =~ ^[0-9]{1,2}$ ]] && ((SPEECH_CLIENTS >= 1 && SPEECH_CLIENTS <= 16)) \
    || die "SPEECH_CLIENTS must be a number from 1 to 16"
[[ "$QUIET_WAIT" =~ ^[0-9]{1,4}$ ]] || die "QUIET_WAIT must be a number of seconds"
[[ "$SPEECH_BLOCK" =~ ^[0-9]{1,4}$ ]] && ((SPEECH_BLOCK >= 1)) || die "SPEECH_BLOCK must be a number from 1"
[[ "$SPEECH_STREAM" =~ ^[01]$ ]] || die "SPEECH_STREAM must be 0 (whole WAV) or 1 (streamed)"
[[ "$SPEECH_VOICE" =~ ^[a-z0-9]+:[A-Za-z0-9_-]+$ ]] || die "SPEECH_VOICE must look like espeak:en-us"
PER_CLIENT=$((SPEECH_REPEAT / SPEECH_CLIENTS))
((PER_CLIENT >= 1)) || die "SPEECH_REPEAT must be at least SPEECH_CLIENTS"
CONC_TOTAL=$((PER_CLIENT * SPEECH_CLIENTS))

# --- build, temp dir ----------------------------------------------------------------------------
build_voicegate
(cd "$ROOT" && timeout 1800 cargo build --release -p speech --example synth_once) \
    || die "cargo build of the synth_once example failed"
DIRECT="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/synth_once"
[[ -x "$DIRECT" ]] || die "no binary at $DIRECT"
bench_tmp voicegate-speech-bench

# --- CPU accounting -----------------------------------------------------------------------------
# server_ticks: the server's user + system CPU time, in clock ticks (/proc/PID/stat).
server_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat"
}
CLK_TCK="$(getconf CLK_TCK)"


# The server (and the CLI) get a clean environment: nothing inherited can change the config (the
# ovos-api names SECRET, API_KEY, WS_HOST, WS_PORT, USERS_DB are read too).
VG_ENV=(PATH="$PATH" HOME="$TMP")

# --- the sentence, the baseline's sanity ---------------------------------------------------------
TEXT="$("$DIRECT" --print-text)"
[[ "${#TEXT}" -eq 256 ]] || die "the sentence has ${#TEXT} characters, not 256"

# --- port, user, server -------------------------------------------------------------------------
PORT="$(free_port)"
create_user "$BENCH_USER" "$BENCH_PASSWORD"
start_server "$PORT"
URL="$BASE/api/v1/external/synthesis/?download_token=$SPEECH_VOICE&sample_rate=$SAMPLE_RATE"
((SPEECH_STREAM == 0)) || URL="$URL&stream=true"
MODE="$( ((SPEECH_STREAM == 0)) && echo "whole WAV" || echo "streamed")"
login "$BENCH_USER" "$BENCH_PASSWORD"
# The header goes in a file (curl -H @file): the token stays out of the process list.
python3 -c 'import json,sys; print("Authorization: Bearer " + json.load(open(sys.argv[1]))["access_token"])' \
    "$TMP/login.json" >"$TMP/auth.header" || die "no access_token in the login answer"

# speak OUT: one synthesis request; appends "code ttfb_s total_s bytes" to OUT (the body is read
# to the end and dropped).
speak() {
    curl --noproxy '*' -sS --max-time 30 -o /dev/null -G --data-urlencode "script=$TEXT" \
        -H @"$TMP/auth.header" -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
        "$URL" >>"$1"
}

# --- checks, warm-up ----------------------------------------------------------------------------
log "checking one answer and warming up ($WARMUP requests, $WARMUP direct syntheses)"
CHECK_CODE="$(curl --noproxy '*' -sS --max-time 30 -o "$TMP/check.wav" -D "$TMP/check.headers" -w '%{http_code}' \
    -G --data-urlencode "script=$TEXT" -H @"$TMP/auth.header" "$URL")" || die "synthesis request failed"
[[ "$CHECK_CODE" == 200 ]] || { cat "$TMP/check.wav" >&2; echo >&2; die "synthesis answered $CHECK_CODE"; }
grep -qi '^content-type: audio/wav' "$TMP/check.headers" || die "the answer is not audio/wav"
"$DIRECT" --voice "$SPEECH_VOICE" --sample-rate "$SAMPLE_RATE" --iterations 1 --warmup 0 >"$TMP/check.tsv" \
    || die "synth_once failed"
python3 - "$TMP/check.wav" "$TMP/check.tsv" "$SAMPLE_RATE" "$SPEECH_STREAM" <<'PY' || die "the WAV is not what synth_once produces"
import struct, sys
data = open(sys.argv[1], "rb").read()
riff, = struct.unpack("<I", data[4:8])
if sys.argv[4] == "0" and riff != len(data) - 8:
    sys.exit("the whole WAV's RIFF size is %d for %d bytes" % (riff, len(data)))
direct_bytes = int([l for l in open(sys.argv[2]) if not l.startswith("#")][0].split("\t")[4])
if data[:4] != b"RIFF" or data[8:16] != b"WAVEfmt ":
    sys.exit("not a WAV file")
channels, rate = struct.unpack("<HI", data[22:28])
bits = struct.unpack("<H", data[34:36])[0]
if (channels, rate, bits) != (1, int(sys.argv[3]), 16):
    sys.exit("WAV is %d channel(s), %d Hz, %d bits" % (channels, rate, bits))
if abs(len(data) - direct_bytes) > 0.01 * direct_bytes:
    sys.exit("HTTP gave %d bytes, synth_once %d" % (len(data), direct_bytes))
PY
: >"$TMP/warmup.txt"
for _ in $(seq "$WARMUP"); do
    speak "$TMP/warmup.txt"
done
awk '$1 != 200 { bad = 1 } END { exit bad }' "$TMP/warmup.txt" || { cat "$TMP/warmup.txt" >&2; die "a warm-up request failed"; }

# --- measurements -------------------------------------------------------------------------------
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_BEFORE="$(ps -e -o comm= | grep -c -x -E 'cargo|rustc|cc|cc1|cc1plus|ld|wrk' || true)"
log "load average $LOAD_BEFORE; cargo/rustc/cc/ld/wrk processes running: $OTHERS_BEFORE"
QUIET_SHARE_SEEN="$(wait_quiet)"
log "machine busy ${QUIET_SHARE_SEEN} % before measuring"

# phase NAME COMMAND...: runs COMMAND, appends its wall time, the machine's busy share and the
# server's CPU ticks to $TMP/phase.NAME ("wall_s busy_percent server_ticks").
phase() {
    local name="$1"; shift
    local j0 j1 s0 s1 t0 t1
    j0="$(cpu_jiffies)"; s0="$(server_ticks)"; t0="$(date +%s.%N)"
    "$@"
    t1="$(date +%s.%N)"; s1="$(server_ticks)"; j1="$(cpu_jiffies)"
    printf '%s %s %s\n' \
        "$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")" \
        "$(busy_percent "$j0" "$j1")" "$((s1 - s0))" >>"$TMP/phase.$name"
}

# direct_block N / http_block N: N sequential syntheses / requests, appended to the results.
direct_block() {
    timeout 900 "$DIRECT" --voice "$SPEECH_VOICE" --sample-rate "$SAMPLE_RATE" \
        --iterations "$1" --warmup "$WARMUP" >>"$TMP/direct.tsv" || die "synth_once failed"
}
http_block() {
    local i
    for i in $(seq "$1"); do
        speak "$TMP/http.txt" || die "request $i failed"
    done
}
direct_concurrent() {
    timeout 900 "$DIRECT" --voice "$SPEECH_VOICE" --sample-rate "$SAMPLE_RATE" \
        --iterations "$CONC_TOTAL" --threads "$SPEECH_CLIENTS" --warmup 1 >"$TMP/direct-conc.tsv" \
        || die "synth_once --threads failed"
}
http_concurrent() {
    local c pids=()
    for c in $(seq "$SPEECH_CLIENTS"); do
        : >"$TMP/http-conc.$c"
        (
            for _ in $(seq "$PER_CLIENT"); do
                speak "$TMP/http-conc.$c" || exit 1
            done
        ) &
        pids+=("$!")
        HELPER_PIDS+=("$!")
    done
    local failed=0
    for c in "${pids[@]}"; do
        wait "$c" || failed=1
    done
    ((failed == 0)) || die "a concurrent client failed"
}

# The sequential runs alternate in blocks of SPEECH_BLOCK, so that a drift of the machine's speed
# (a shared host, frequency changes) touches both sides alike.
log "sequential: $SPEECH_REPEAT direct syntheses (synth_once) and $SPEECH_REPEAT HTTP requests, alternating in blocks of $SPEECH_BLOCK"
: >"$TMP/direct.tsv"
: >"$TMP/http.txt"
DONE=0
while ((DONE < SPEECH_REPEAT)); do
    COUNT=$((SPEECH_REPEAT - DONE < SPEECH_BLOCK ? SPEECH_REPEAT - DONE : SPEECH_BLOCK))
    phase direct direct_block "$COUNT"
    phase http http_block "$COUNT"
    DONE=$((DONE + COUNT))
done
log "HTTP: $SPEECH_CLIENTS clients x $PER_CLIENT requests"
phase http_conc http_concurrent
cat "$TMP"/http-conc.* >"$TMP/http-conc.txt"
log "direct: $SPEECH_CLIENTS threads x $PER_CLIENT syntheses"
phase direct_conc direct_concurrent

# --- report -------------------------------------------------------------------------------------
export SPEECH_REPEAT SPEECH_CLIENTS PER_CLIENT CONC_TOTAL SPEECH_VOICE SAMPLE_RATE CLK_TCK MODE \
    LOAD_BEFORE OTHERS_BEFORE QUIET_SHARE_SEEN TMP
python3 - <<'PY'
import os
e = os.environ
tmp = e["TMP"]
rate = int(e["SAMPLE_RATE"])

def pct(values, p):
    v = sorted(values)
    rank = p / 100 * (len(v) - 1)
    lo, hi = int(rank), min(int(rank) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)

def audio_s(size):
    return max(size - 44, 0) / 2 / rate

def read_http(path):
    rows = [line.split() for line in open(path) if line.strip()]
    bad = [r for r in rows if r[0] != "200"]
    if bad:
        raise SystemExit("error: %d non-200 answers in %s: %s" % (len(bad), path, bad[:3]))
    return ([float(r[2]) * 1000 for r in rows], [float(r[1]) * 1000 for r in rows],
            [audio_s(int(r[3])) for r in rows])

def read_direct(path):
    rows = [line.split("\t") for line in open(path) if line.strip() and not line.startswith("#")]
    return ([float(r[2]) for r in rows], [float(r[3]) for r in rows], [float(r[5]) for r in rows])

def read_phase(name):
    # One line per block: wall time, busy share, server ticks; summed (busy weighted by time).
    rows = [line.split() for line in open(os.path.join(tmp, "phase." + name)) if line.strip()]
    wall = sum(float(r[0]) for r in rows)
    busy = sum(float(r[0]) * int(r[1]) for r in rows) / wall if wall > 0 else 0
    return wall, round(busy), sum(int(r[2]) for r in rows) / int(e["CLK_TCK"])

h_total, h_ttfb, h_audio = read_http(os.path.join(tmp, "http.txt"))
d_total, d_first, d_audio = read_direct(os.path.join(tmp, "direct.tsv"))
hc_total, hc_ttfb, hc_audio = read_http(os.path.join(tmp, "http-conc.txt"))
dc_total, dc_first, dc_audio = read_direct(os.path.join(tmp, "direct-conc.tsv"))
dc_wall = [float(l.split()[2]) for l in open(os.path.join(tmp, "direct-conc.tsv")) if l.startswith("# wall_s")][0]
d_wall = sum(float(l.split()[2]) for l in open(os.path.join(tmp, "direct.tsv")) if l.startswith("# wall_s"))
ph = {n: read_phase(n) for n in ("direct", "http", "http_conc", "direct_conc")}

ratio_med = pct(h_total, 50) / pct(d_total, 50)
ratio_p90 = pct(h_total, 90) / pct(d_total, 90)
verdict = lambda ok: "PASS" if ok else "FAIL"
n = len(h_total)
cores = os.cpu_count()

print()
print("## voicegate speech synthesis (%s, 256 characters, %d Hz WAV, %s; 127.0.0.1, %d cores shared"
      " by server, curl and synth_once)" % (e["SPEECH_VOICE"], rate, e["MODE"], cores))
print()
print("Load average before: %s; cargo/rustc/cc/ld/wrk processes: %s; machine busy %s %% in the"
      " second before measuring." % (e["LOAD_BEFORE"], e["OTHERS_BEFORE"], e["QUIET_SHARE_SEEN"]))
print("Audio per request: %.2f s (%d bytes of WAV)." % (pct(h_audio, 50), round(pct(h_audio, 50) * 2 * rate + 44)))
print()
print("### Sequential: %d HTTP requests, %d direct syntheses" % (n, len(d_total)))
print()
print("| measure | median | p90 | target | result |")
print("|---|---:|---:|---|:---:|")
print("| HTTP total (curl time_total) | %.1f ms | %.1f ms | | |" % (pct(h_total, 50), pct(h_total, 90)))
print("| HTTP TTFB (curl time_starttransfer) | %.1f ms | %.1f ms | median <= 30 ms | %s |"
      % (pct(h_ttfb, 50), pct(h_ttfb, 90), verdict(pct(h_ttfb, 50) <= 30)))
print("| direct total (Synthesizer::stream, WAV) | %.1f ms | %.1f ms | | |" % (pct(d_total, 50), pct(d_total, 90)))
print("| direct time to first chunk | %.1f ms | %.1f ms | | |" % (pct(d_first, 50), pct(d_first, 90)))
print("| HTTP total / direct total | %.2f | %.2f | median <= 1.5 | %s |"
      % (ratio_med, ratio_p90, verdict(ratio_med <= 1.5)))
print("| HTTP TTFB - direct first chunk | %.1f ms | %.1f ms | | |"
      % (pct(h_ttfb, 50) - pct(d_first, 50), pct(h_ttfb, 90) - pct(d_first, 90)))
print("| HTTP total - TTFB (streaming the rest) | %.1f ms | %.1f ms | | |"
      % (pct([t - f for t, f in zip(h_total, h_ttfb)], 50), pct([t - f for t, f in zip(h_total, h_ttfb)], 90)))
print("| real-time factor, HTTP / direct (total / audio) | %.4f / %.4f | | | |"
      % (pct(h_total, 50) / 1000 / pct(h_audio, 50), pct(d_total, 50) / 1000 / pct(d_audio, 50)))
print()
print("### Throughput")
print()
print("| run | requests | wall | requests/s | audio-s per s | latency median / p90 | first byte median / p90 | machine busy | server CPU per request |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
def row(name, count, wall, total, first, audio, phase, server):
    print("| %s | %d | %.2f s | %.2f | %.1f | %.1f / %.1f ms | %.1f / %.1f ms | %d %% | %s |"
          % (name, count, wall, count / wall, sum(audio) / wall, pct(total, 50), pct(total, 90),
             pct(first, 50), pct(first, 90), phase[1], server))
row("direct, 1 thread", len(d_total), d_wall, d_total, d_first, d_audio, ph["direct"], "")
row("HTTP, 1 client", n, ph["http"][0], h_total, h_ttfb, h_audio, ph["http"],
    "%.1f ms" % (ph["http"][2] * 1000 / n))
row("direct, %s threads" % e["SPEECH_CLIENTS"], len(dc_total), dc_wall, dc_total, dc_first, dc_audio,
    ph["direct_conc"], "")
row("HTTP, %s clients x %s" % (e["SPEECH_CLIENTS"], e["PER_CLIENT"]), len(hc_total), ph["http_conc"][0],
    hc_total, hc_ttfb, hc_audio, ph["http_conc"], "%.1f ms" % (ph["http_conc"][2] * 1000 / len(hc_total)))
print()
print("HTTP, %s clients: %.0f %% of the direct throughput with as many threads."
      % (e["SPEECH_CLIENTS"], 100 * (len(hc_total) / ph["http_conc"][0]) / (len(dc_total) / dc_wall)))
print("Wall of the sequential HTTP run includes starting a curl process per request; 'machine busy'"
      " is the whole machine's CPU use during the phase (100 %% = all %d cores)." % cores)
PY

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "error: the server died during the benchmark" >&2
    tail -n 20 "$TMP/server.log" >&2
    exit 1
fi
