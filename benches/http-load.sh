#!/usr/bin/env bash
# benches/http-load.sh: HTTP load benchmark of the voicegate server, driven by wrk.
#
# What it measures, in one run, against a fresh server on 127.0.0.1 (temp data dir, free port):
#   1. throughput and latency (req/s, p50, p99) of GET /v1/network/ping (no auth: the baseline
#      cost of the HTTP stack) and of GET /v1/auth/me with a Bearer access token (the cost of
#      access-token verification on top), each with `wrk -t2 -c50 -d10s --latency`;
#   2. memory: VmRSS at idle (after start and one login, and again 13 s after the login burst),
#      VmRSS sampled every 0.2 s during the /me run and the burst, and VmHWM (peak RSS), from
#      /proc/PID/status;
#   3. login isolation: 20 concurrent POST /v1/auth/tokens (20 curl processes; each one costs an
#      Argon2id verification) while `wrk -t1 -c10 -d5s --latency` measures ping: the ping p99
#      during the burst, and how long the 20 logins took.
# It prints a markdown table with PASS/FAIL against the targets:
#   /me throughput >= 60% of ping and >= 40,000 req/s; p99 <= 10 ms; RSS <= 20 MB idle and
#   <= 50 MB under load; ping p99 <= 50 ms during 20 concurrent logins.
#
# Run from anywhere (needs cargo, curl, python3, wrk; installs the Debian `wrk` package when
# missing and running as root):
#     benches/http-load.sh
# Optional environment: WRK_DURATION (default 10s) for the two throughput runs.
#
# Exit status: 0 when the report was produced (whatever PASS/FAIL says); non-zero when something
# broke (build failed, server did not start, login failed, requests answered non-2xx).
# Notes: wrk runs on the same machine as the server, so both share the CPU cores; the numbers
# are for comparing builds on one machine, not absolute capacity. The server and wrk use
# 127.0.0.1 only; the server, its temp dir and helper processes are removed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRK_DURATION="${WRK_DURATION:-10s}"
BURST_LOGINS=20
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools --------------------------------------------------------------------------------------
require_tools cargo curl python3
require_wrk

# --- build, temp dir ----------------------------------------------------------------------------
build_voicegate
bench_tmp voicegate-bench

# The server (and the CLI) get a clean environment: nothing inherited can change the config (the
# ovos-api names SECRET, API_KEY, WS_HOST, WS_PORT, USERS_DB are read too). The login limits are
# raised so that the bench's own logins are not refused.
VG_ENV=(
    PATH="$PATH" HOME="$TMP"
    VOICEGATE_AUTH__MAX_ATTEMPTS_PER_IP=100000
    VOICEGATE_AUTH__MAX_FAILURES_PER_IP=100000
    VOICEGATE_AUTH__MAX_FAILURES_PER_USER=100000
)

# --- port, user, server -------------------------------------------------------------------------
create_user "$BENCH_USER" "$BENCH_PASSWORD"
start_server "$(free_port)"
login "$BENCH_USER" "$BENCH_PASSWORD"
LOGIN_BODY="$(python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": sys.argv[2]}))' "$BENCH_USER" "$BENCH_PASSWORD")"
TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/login.json")" \
    || die "no access_token in the login answer"
ME_CODE="$(curl --noproxy '*' -sS --max-time 10 -o "$TMP/me.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/v1/auth/me")"
[[ "$ME_CODE" == 200 ]] || { cat "$TMP/me.json" >&2; die "GET /v1/auth/me answered $ME_CODE"; }

# --- memory helpers -----------------------------------------------------------------------------
# Prints a /proc/PID/status field (VmRSS, VmHWM) in kB.
proc_kb() {
    awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER_PID/status"
}

# start_sampler FILE: appends the server's VmRSS (kB) to FILE every 0.2 s until stop_sampler.
SAMPLER_PID=""
start_sampler() {
    : >"$1"
    (
        while kill -0 "$SERVER_PID" 2>/dev/null; do
            awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVER_PID/status" >>"$1" 2>/dev/null || true
            sleep 0.2
        done
    ) &
    SAMPLER_PID=$!
    HELPER_PIDS+=("$SAMPLER_PID")
}
stop_sampler() {
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
}

sleep 1
RSS_IDLE_KB="$(proc_kb VmRSS)"
log "idle RSS: ${RSS_IDLE_KB} kB"

# --- wrk runs -----------------------------------------------------------------------------------
# run_wrk NAME wrk-args...: wrk output into $TMP/NAME.txt, bounded in time.
run_wrk() {
    local name="$1"; shift
    timeout 120 wrk --timeout 5s --latency "$@" >"$TMP/$name.txt" 2>&1 \
        || { cat "$TMP/$name.txt" >&2; die "wrk run $name failed"; }
}


log "warm-up: ping, 2 s"
run_wrk warmup -t2 -c50 -d2s "$BASE/v1/network/ping"

log "wrk -t2 -c50 -d$WRK_DURATION GET /v1/network/ping"
run_wrk ping -t2 -c50 -d"$WRK_DURATION" "$BASE/v1/network/ping"

log "wrk -t2 -c50 -d$WRK_DURATION GET /v1/auth/me (Bearer)"
start_sampler "$TMP/rss-me"
run_wrk me -t2 -c50 -d"$WRK_DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/v1/auth/me"
stop_sampler
RSS_ME_MAX_KB="$(sort -n "$TMP/rss-me" | tail -n 1)"
RSS_SAMPLES="$(wc -l <"$TMP/rss-me")"
RSS_HWM_LOAD_KB="$(proc_kb VmHWM)"

# --- login burst --------------------------------------------------------------------------------
log "login burst: $BURST_LOGINS concurrent logins during wrk -t1 -c10 -d5s GET /v1/network/ping"
timeout 60 wrk --timeout 5s --latency -t1 -c10 -d5s "$BASE/v1/network/ping" >"$TMP/burst-ping.txt" 2>&1 &
WRK_BURST_PID=$!
HELPER_PIDS+=("$WRK_BURST_PID")
start_sampler "$TMP/rss-burst"
sleep 0.5   # let wrk connect and settle before the burst
BURST_START="$(date +%s.%N)"
BURST_PIDS=()
for i in $(seq "$BURST_LOGINS"); do
    curl --noproxy '*' -sS --max-time 60 -o /dev/null -w '%{http_code} %{time_total}\n' \
        -H 'Content-Type: application/json' --data "$LOGIN_BODY" \
        "$BASE/v1/auth/tokens" >"$TMP/burst.$i" 2>&1 &
    BURST_PIDS+=("$!")
done
for pid in "${BURST_PIDS[@]}"; do
    wait "$pid" || true
done
BURST_END="$(date +%s.%N)"
wait "$WRK_BURST_PID" || { cat "$TMP/burst-ping.txt" >&2; die "wrk during the login burst failed"; }
stop_sampler
RSS_HWM_END_KB="$(proc_kb VmHWM)"
RSS_BURST_MAX_KB="$(sort -n "$TMP/rss-burst" | tail -n 1)"
sleep 1
RSS_AFTER_KB="$(proc_kb VmRSS)"   # what the server keeps once the burst is over
log "waiting 12 s: what the server keeps once it idles"
sleep 12
RSS_SETTLED_KB="$(proc_kb VmRSS)"
BURST_OK="$(cat "$TMP"/burst.* | awk '$1 == 200' | wc -l)"
BURST_WALL_S="$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$BURST_START" "$BURST_END")"
BURST_SLOWEST_S="$(cat "$TMP"/burst.* | awk '$1 == 200 && $2 > m { m = $2 } END { printf "%.2f", m }')"

# --- report -------------------------------------------------------------------------------------
read -r PING_RPS PING_P50 PING_P99 PING_NON2XX PING_SOCKERR PING_TOTAL < <(parse_wrk "$TMP/ping.txt")
read -r ME_RPS ME_P50 ME_P99 ME_NON2XX ME_SOCKERR ME_TOTAL < <(parse_wrk "$TMP/me.txt")
read -r BP_RPS BP_P50 BP_P99 BP_NON2XX BP_SOCKERR BP_TOTAL < <(parse_wrk "$TMP/burst-ping.txt")

export PING_RPS PING_P50 PING_P99 PING_NON2XX PING_SOCKERR PING_TOTAL \
    ME_RPS ME_P50 ME_P99 ME_NON2XX ME_SOCKERR ME_TOTAL \
    BP_RPS BP_P50 BP_P99 BP_NON2XX BP_SOCKERR BP_TOTAL \
    RSS_IDLE_KB RSS_SETTLED_KB RSS_ME_MAX_KB RSS_BURST_MAX_KB RSS_AFTER_KB RSS_SAMPLES RSS_HWM_LOAD_KB RSS_HWM_END_KB \
    BURST_OK BURST_LOGINS BURST_WALL_S BURST_SLOWEST_S WRK_DURATION

python3 - <<'PY'
import os
e = os.environ
f = lambda k: float(e[k])
mb = lambda k: f(k) / 1024.0
ratio = f("ME_RPS") / f("PING_RPS") if f("PING_RPS") > 0 else 0.0
verdict = lambda ok: "PASS" if ok else "FAIL"

print()
print("## voicegate HTTP load (wrk -t2 -c50 -d%s, 127.0.0.1, %d cores shared by server and wrk)"
      % (e["WRK_DURATION"], os.cpu_count()))
print()
print("| Measure | Value |")
print("|---|---:|")
print("| ping req/s | %.0f |" % f("PING_RPS"))
print("| ping p50 | %.3f ms |" % f("PING_P50"))
print("| ping p99 | %.3f ms |" % f("PING_P99"))
print("| me req/s | %.0f |" % f("ME_RPS"))
print("| me p50 | %.3f ms |" % f("ME_P50"))
print("| me p99 | %.3f ms |" % f("ME_P99"))
print("| ratio me/ping | %.1f %% |" % (ratio * 100))
print("| RSS idle (VmRSS after start + 1 login) | %.1f MB |" % mb("RSS_IDLE_KB"))
print("| RSS max sampled during /me run (VmRSS, %s samples) | %.1f MB |" % (e["RSS_SAMPLES"], mb("RSS_ME_MAX_KB")))
print("| RSS peak after start, 1 login, ping + /me runs (VmHWM) | %.1f MB |" % mb("RSS_HWM_LOAD_KB"))
print("| RSS peak at end, incl. login burst (VmHWM) | %.1f MB |" % mb("RSS_HWM_END_KB"))
print("| RSS max sampled during login burst (VmRSS) | %.1f MB |" % mb("RSS_BURST_MAX_KB"))
print("| RSS 1 s after login burst (VmRSS) | %.1f MB |" % mb("RSS_AFTER_KB"))
print("| RSS idle 13 s after login burst (VmRSS) | %.1f MB |" % mb("RSS_SETTLED_KB"))
print("| ping p50 during login burst (wrk -t1 -c10 -d5s) | %.3f ms |" % f("BP_P50"))
print("| ping p99 during login burst | %.3f ms |" % f("BP_P99"))
print("| ping req/s during login burst | %.0f |" % f("BP_RPS"))
print("| %s concurrent logins: wall time (slowest) | %s s (%s s) |"
      % (e["BURST_LOGINS"], e["BURST_WALL_S"], e["BURST_SLOWEST_S"]))
print("| logins answered 200 | %s / %s |" % (e["BURST_OK"], e["BURST_LOGINS"]))
print("| non-2xx / socket errors (ping, me, burst ping) | %s/%s, %s/%s, %s/%s |"
      % (e["PING_NON2XX"], e["PING_SOCKERR"], e["ME_NON2XX"], e["ME_SOCKERR"], e["BP_NON2XX"], e["BP_SOCKERR"]))
print()
print("| Target | Measured | Result |")
print("|---|---:|:---:|")
rows = [
    ("/me throughput >= 60% of ping", "%.1f %%" % (ratio * 100), ratio >= 0.60),
    ("/me throughput >= 40,000 req/s", "%.0f req/s" % f("ME_RPS"), f("ME_RPS") >= 40000),
    ("ping p99 <= 10 ms", "%.3f ms" % f("PING_P99"), f("PING_P99") <= 10),
    ("/me p99 <= 10 ms", "%.3f ms" % f("ME_P99"), f("ME_P99") <= 10),
    ("RSS idle <= 20 MB (after 1 login; after the burst)", "%.1f MB; %.1f MB" % (mb("RSS_IDLE_KB"), mb("RSS_SETTLED_KB")),
     max(mb("RSS_IDLE_KB"), mb("RSS_SETTLED_KB")) <= 20),
    ("RSS peak under load <= 50 MB (VmHWM at end)", "%.1f MB" % mb("RSS_HWM_END_KB"), mb("RSS_HWM_END_KB") <= 50),
    ("ping p99 <= 50 ms during %s concurrent logins" % e["BURST_LOGINS"], "%.3f ms" % f("BP_P99"), f("BP_P99") <= 50),
]
for name, value, ok in rows:
    print("| %s | %s | %s |" % (name, value, verdict(ok)))
print()
if mb("RSS_AFTER_KB") > mb("RSS_IDLE_KB") + 20:
    print("note: the server still holds %.1f MB 1 s after the login burst (idle was %.1f MB):"
          " memory used by password hashing is not given back." % (mb("RSS_AFTER_KB"), mb("RSS_IDLE_KB")))
burst_wall = float(e["BURST_WALL_S"])
if burst_wall > 4.5:
    print("note: the login burst (%.2f s) outlasted the 4.5 s of the ping run that followed its start;"
          " the ping p99 covers only part of it." % burst_wall)
PY

# Sound numbers need every measured request to have succeeded.
broken=0
if [[ "$PING_NON2XX" -ne 0 || "$ME_NON2XX" -ne 0 || "$BP_NON2XX" -ne 0 ]]; then
    echo "error: non-2xx answers during the wrk runs; the numbers are not sound" >&2
    broken=1
fi
if [[ "$BURST_OK" -ne "$BURST_LOGINS" ]]; then
    echo "error: only $BURST_OK of $BURST_LOGINS burst logins answered 200:" >&2
    cat "$TMP"/burst.* >&2
    broken=1
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "error: the server died during the benchmark" >&2
    tail -n 20 "$TMP/server.log" >&2
    broken=1
fi
exit "$broken"
