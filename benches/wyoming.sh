#!/usr/bin/env bash
# benches/wyoming.sh: time to the first audio over Wyoming (what Home Assistant waits for) against
# the HTTP synthesis route's time to its first byte, for the same texts, voice and rate, measured
# in the same run against one server.
#
# What it measures, against a fresh server (the binary given) on 127.0.0.1 (temp data dir, free
# ports, Wyoming enabled, one user created with the CLI, logged in with POST /v1/auth/tokens):
#   1. Wyoming: `wyoming-bench tts` (PyPI, the Wyoming protocol's own client) with the three texts
#      below, WYOMING_ROUNDS rounds each after one warm-up, both modes: `synthesize` (whole text)
#      and streamed (`synthesize-start`, a `synthesize-chunk` per sentence, `synthesize-stop`);
#      its TTFT is the time from the request to the first `audio-chunk`;
#   2. HTTP: WYOMING_ROUNDS sequential GET /api/v1/external/synthesis/?download_token=VOICE
#      &script=TEXT&sample_rate=RATE per text with curl (a new connection each, body read to the
#      end): time_starttransfer, streamed (`stream=true`: the first audio chunk) and whole (the
#      whole WAV made first), after one warm-up request per text.
# RATE is the voice's own (22050 Hz for espeak-ng, 16000 Hz for Flite), the rate Wyoming sends.
# It prints a markdown table: median and p95 of each, and the ratio of the Wyoming medians to the
# HTTP streamed median.
#
# Run (needs curl, python3, and wyoming-bench: `pip install wyoming-bench==2026.10.0`, or the
# test command's .venv):
#     cargo build --release -p voicegate
#     benches/wyoming.sh target/release/voicegate
#     WYOMING_ROUNDS=20 benches/wyoming.sh target/release/voicegate
# Optional environment: WYOMING_ROUNDS (default 5, 1 to 100), WYOMING_VOICE (default
# espeak:en-us; flite:slt works too), WYOMING_BENCH (the wyoming-bench program; default the
# workspace's .venv/bin/wyoming-bench, else the one on PATH). Takes a few seconds with the
# defaults.
#
# Exit status: 0 when the report was produced; non-zero when something broke (no binary, the
# server did not start, login failed, a request answered non-200, a Wyoming run failed).
# Notes: the clients and the server share the machine's cores; everything uses 127.0.0.1 only.
# The server and its temp dir are removed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WYOMING_ROUNDS="${WYOMING_ROUNDS:-5}"
WYOMING_VOICE="${WYOMING_VOICE:-espeak:en-us}"
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"
TEXTS=(
    "Good morning."
    "The kitchen lights are on. The front door is locked."
    "It is twelve degrees outside with light rain. Tomorrow will be sunny and warmer. Do not forget your umbrella this afternoon."
)

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools, parameters --------------------------------------------------------------------------
[[ $# -eq 1 ]] || die "usage: benches/wyoming.sh PATH/TO/voicegate (a release build for figures)"
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$BIN" ]] || die "no voicegate binary at $1"
require_tools curl python3
[[ "$WYOMING_ROUNDS" =~ ^[0-9]{1,3}$ ]] && ((WYOMING_ROUNDS >= 1 && WYOMING_ROUNDS <= 100)) \
    || die "WYOMING_ROUNDS must be a number from 1 to 100"
[[ "$WYOMING_VOICE" =~ ^[a-z0-9]+:[A-Za-z0-9_-]+$ ]] || die "WYOMING_VOICE must look like espeak:en-us"
case "$WYOMING_VOICE" in
    espeak:*) RATE=22050 ;;
    flite:*) RATE=16000 ;;
    *) die "WYOMING_VOICE must be an espeak or flite voice" ;;
esac
if [[ -z "${WYOMING_BENCH:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/wyoming-bench" ]]; then
        WYOMING_BENCH="$ROOT/.venv/bin/wyoming-bench"
    else
        WYOMING_BENCH="$(command -v wyoming-bench || true)"
    fi
fi
[[ -n "$WYOMING_BENCH" && -x "$WYOMING_BENCH" ]] \
    || die "wyoming-bench is required (pip install wyoming-bench==2026.10.0, or set WYOMING_BENCH)"

bench_tmp voicegate-wyoming-bench

# --- user, server -------------------------------------------------------------------------------
WYOMING_PORT="$(free_port)"
# The server (and the CLI) get a clean environment: nothing inherited can change the config.
VG_ENV=(PATH="$PATH" HOME="$TMP" VOICEGATE_WYOMING__ENABLED=true
    VOICEGATE_WYOMING__LISTEN="127.0.0.1:$WYOMING_PORT")
create_user "$BENCH_USER" "$BENCH_PASSWORD"
start_server "$(free_port)"
login "$BENCH_USER" "$BENCH_PASSWORD"
# The header goes in a file (curl -H @file): the token stays out of the process list.
python3 -c 'import json,sys; print("Authorization: Bearer " + json.load(open(sys.argv[1]))["access_token"])' \
    "$TMP/login.json" >"$TMP/auth.header" || die "no access_token in the login answer"
URL="$BASE/api/v1/external/synthesis/?download_token=$WYOMING_VOICE&sample_rate=$RATE"

# --- Wyoming ------------------------------------------------------------------------------------
log "Wyoming: wyoming-bench tts, ${#TEXTS[@]} texts x $WYOMING_ROUNDS rounds, both modes"
timeout 600 "$WYOMING_BENCH" tts --mode both --texts "${TEXTS[@]}" \
    --config "{\"voice\": \"$WYOMING_VOICE\"}" --rounds "$WYOMING_ROUNDS" --warmup 1 \
    --no-unique --timeout 30 -v "127.0.0.1:$WYOMING_PORT" >"$TMP/wyoming.txt" 2>&1 \
    || { cat "$TMP/wyoming.txt" >&2; die "wyoming-bench failed"; }

# --- HTTP ---------------------------------------------------------------------------------------
# fetch STREAM OUT TEXT: one request; appends "code ttfb_s" to OUT.
fetch() {
    local url="$URL"
    [[ "$1" == 1 ]] && url="$url&stream=true"
    curl --noproxy '*' -sS --max-time 30 -o /dev/null -G --data-urlencode "script=$3" \
        -H @"$TMP/auth.header" -w '%{http_code} %{time_starttransfer}\n' "$url" >>"$2"
}
log "HTTP: ${#TEXTS[@]} texts x $WYOMING_ROUNDS rounds, streamed and whole"
for text in "${TEXTS[@]}"; do
    fetch 1 "$TMP/warmup.txt" "$text"
    fetch 0 "$TMP/warmup.txt" "$text"
    for _ in $(seq "$WYOMING_ROUNDS"); do
        fetch 1 "$TMP/http-streamed.txt" "$text"
        fetch 0 "$TMP/http-whole.txt" "$text"
    done
done

# --- report -------------------------------------------------------------------------------------
python3 - "$TMP" "$WYOMING_VOICE" "$RATE" "$WYOMING_ROUNDS" "${#TEXTS[@]}" <<'PY'
import re, statistics, sys

tmp, voice, rate, rounds, texts = sys.argv[1:6]
expected = int(rounds) * int(texts)

def percentile(values, p):
    values = sorted(values)
    at = (len(values) - 1) * p / 100
    low = int(at)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (at - low)

# Each measurement's line (whole milliseconds) is counted; the figures are wyoming-bench's own
# statistics of each mode ("TTFT (ms)  min mean median p95 max", from the exact times).
wyoming = {"non_streaming": [], "streaming": []}
stats, mode = {}, None
for line in open(tmp + "/wyoming.txt"):
    m = re.match(r"\[(non_streaming|streaming)\] r\d+ sent=\d+ ttft=([\d.]+)ms", line)
    if m:
        wyoming[m.group(1)].append(float(m.group(2)))
    elif re.match(r"\[(non_streaming|streaming)\] r\d+ ", line):
        sys.exit("a Wyoming measurement failed: " + line.strip())
    m = re.match(r"\[(non_streaming|streaming)\] ok=\d+ fail=(\d+)", line)
    if m:
        mode = m.group(1)
        if m.group(2) != "0":
            sys.exit("wyoming-bench: %s failures in %s" % (m.group(2), mode))
    m = re.match(r"\s*TTFT \(ms\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
    if m and mode and mode not in stats:
        stats[mode] = (float(m.group(3)), float(m.group(4)))
if set(stats) != set(wyoming):
    sys.exit("no TTFT statistics for every mode in wyoming-bench's report")
http = {}
for name in ("streamed", "whole"):
    times = []
    for line in open("%s/http-%s.txt" % (tmp, name)):
        code, ttfb = line.split()
        if code != "200":
            sys.exit("an HTTP synthesis answered %s" % code)
        times.append(float(ttfb) * 1000)
    http[name] = times
for name, times in list(wyoming.items()) + list(http.items()):
    if len(times) != expected:
        sys.exit("%s: %d measurements, not %d" % (name, len(times), expected))
base = statistics.median(http["streamed"])
print()
print("Voice %s at %s Hz; %s texts x %s rounds; times to the first audio in ms." % (voice, rate, texts, rounds))
print()
print("| path | median | p95 | median / HTTP streamed |")
print("|---|---|---|---|")
rows = [
    ("Wyoming `synthesize` (first `audio-chunk`)", stats["non_streaming"]),
    ("Wyoming streamed (first `audio-chunk`)", stats["streaming"]),
    ("HTTP `stream=true` (first byte)", (base, percentile(http["streamed"], 95))),
    ("HTTP whole WAV (first byte)", (statistics.median(http["whole"]), percentile(http["whole"], 95))),
]
for label, (median, p95) in rows:
    print("| %s | %.1f | %.1f | %.2f |" % (label, median, p95, median / base if base else float("nan")))
print()
print("Wyoming: from the request, on an open connection (wyoming-bench's TTFT); HTTP: curl's")
print("time_starttransfer, a new connection each (the connection set-up included).")
PY
