#!/usr/bin/env bash
# benches/auth-load.sh: load benchmark of voicegate's machine-to-machine authentication, driven by
# wrk: OAuth2 client_credentials token issuance, and GET /api/v1/external/user/info/ with a Bearer
# access token against the same GET signed with an API key (VocaliD HMAC scheme).
#
# Setup, on 127.0.0.1 (temp data dir, free port): user `ovos`, an OAuth2 client `bench` with the
# client_credentials grant, an API key for `ovos`. Before the runs, a token must be issued, user
# info must answer 200 {"nickname":"ovos"} with the token and with a signed request, and the
# signed request's replay must answer 401.
# Each round measures, every run with `wrk -t2 -c50 -d10s --latency`:
#   1. tokens: POST /oauth/token (HTTP Basic client_id:client_secret, precomputed;
#      grant_type=client_credentials, form-encoded; a static wrk Lua script): tokens/s, p50, p99;
#   2. bearer: GET /api/v1/external/user/info/ with `Authorization: Bearer <access token>` (a
#      static request, as in benches/http-load.sh): req/s, p50, p99;
#   3. hmac: the same GET with `?api_key=<key>` and `Authorization: signature=…, nonce=…,
#      timestamp=…`, every request with its own nonce (the server takes a nonce once per key).
#      wrk's Lua cannot compute HMAC, so benches/sign_requests.py pre-signs the requests right
#      before the run (1.5 x the round's bearer req/s x the duration, at most 990,000; one file
#      per wrk thread, one header per line; wrk's setup() gives each thread its file); the Lua
#      request() sends one line per request, never one twice. A thread that runs out stops (wrk
#      thread:stop()) and the run counts as broken; so does any non-2xx (a 401 here means a reused
#      nonce or a stamp outside the server's +-300 s window);
#   4. bearer-lua (control): the bearer GET through the same Lua request() as (3), reading
#      `Bearer <token>` lines from a file: (4) against (2) is the cost of making each request in
#      Lua; (3) against (4) is the server's HMAC work, plus wrk's cost of unique lines (the
#      control's lines are all the same string). The CPU columns split the two.
# The machine is shared (wrk and the server share its cores, and other jobs may run), so there
# are ROUNDS rounds (default 3). Before each round the bench waits (up to QUIET_WAIT s, default
# 60) until other processes use less than 15% of the CPU. For every run it reports the CPU time
# per request of the server (/proc/PID/stat) and of wrk (bash `times`), and the CPU that other
# processes used meanwhile (/proc/stat minus those two); a round in which they used more than 15%
# of the machine in any run is "contended". The summary takes medians over the uncontended rounds
# (over all rounds, said so, when every round was contended); ratios are the median of each
# round's ratio (runs next to each other in time). The server is restarted (same data dir)
# before each round after the first: it remembers at most 1,000,000 nonces for 600 s, and a
# round spends several hundred thousand.
# It prints markdown tables with PASS/FAIL against the targets (medians):
#   hmac throughput >= 80% of bearer; p99 <= 10 ms for tokens, bearer and hmac; hmac non-2xx 0.
#
# Run from anywhere (needs cargo, curl, python3, wrk; installs the Debian `wrk` package when
# missing and running as root):
#     benches/auth-load.sh
# Optional environment: BENCH_BIN (a voicegate binary to use instead of building the release
# one), DATABASE_URL (run the server on that PostgreSQL database, which must be empty),
# WRK_DURATION (default 10s; at most 120 s, so that the signed requests
# stay inside the +-300 s window and a round stays under the server's nonce limit), ROUNDS
# (default 3) and QUIET_WAIT (default 60). Takes about 50 s per round, plus any wait.
#
# Exit status: 0 when the report was produced (whatever PASS/FAIL says); non-zero when something
# broke (build failed, server did not start, a setup request failed, requests answered non-2xx,
# pre-signed requests ran out).
# Notes: wrk runs on the same machine as the server, so both share the CPU cores; the numbers are
# for comparing builds on one machine, not absolute capacity. wrk corrects its latency percentiles
# for coordinated omission: one stall of the server (say 150 ms) also counts for the requests the
# 50 connections would have sent meanwhile, and can alone set the p99 of a 10 s run. The server
# and wrk use 127.0.0.1 only; the server and its temp dir (credentials, signed requests) are
# removed on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRK_DURATION="${WRK_DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
QUIET_WAIT="${QUIET_WAIT:-60}"
CONTENDED=0.15             # share of the machine's CPU used by others that makes a run "contended"
SIGN_MARGIN=1.5            # pre-signed requests = SIGN_MARGIN x bearer req/s x duration, capped:
SIGN_MAX=990000            # the server refuses signed requests past 1,000,000 live nonces
WRK_THREADS=2
BENCH_USER="ovos"
BENCH_PASSWORD="bench-password-$$-$RANDOM"
INFO_PATH="/api/v1/external/user/info/"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

# --- tools --------------------------------------------------------------------------------------
require_tools cargo curl python3
require_wrk
SIGNER="$ROOT/benches/sign_requests.py"
[[ -f "$SIGNER" ]] || die "missing $SIGNER"
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || die "ROUNDS must be a number from 1 to 99"
[[ "$QUIET_WAIT" =~ ^[0-9]{1,4}$ ]] || die "QUIET_WAIT must be a number of seconds"

# The run length in seconds (wrk syntax: 10, 10s, 1m).
DURATION_S="$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", sys.argv[1].strip())
if not m:
    sys.exit("WRK_DURATION %r is not a wrk duration" % sys.argv[1])
print("%g" % (float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]))
' "$WRK_DURATION")" || die "bad WRK_DURATION"
python3 -c 'import sys; sys.exit(0 if 1 <= float(sys.argv[1]) <= 120 else 1)' "$DURATION_S" \
    || die "WRK_DURATION must be between 1 s and 120 s (the signed requests' timestamp window)"

# --- build --------------------------------------------------------------------------------------
if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN="$BENCH_BIN"
    log "using the binary $BIN (BENCH_BIN; not built here)"
else
    log "building the release binary (cargo build --release -p voicegate)"
    (cd "$ROOT" && timeout 1800 cargo build --release -p voicegate) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/voicegate"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

# --- temp dir, cleanup ----------------------------------------------------------------------------
TMP="$(mktemp -d -t voicegate-auth-bench.XXXXXX)"
chmod 700 "$TMP"
WORKDIR="$TMP/cwd"     # empty working directory: no voicegate.toml, no .env
DATA="$TMP/data"
mkdir -p "$WORKDIR" "$DATA"
SERVER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

cleanup() {
    local status=$?
    set +e
    stop_server
    wait 2>/dev/null
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server (and the CLI) get a clean environment: nothing inherited can change the config (the
# ovos-api names SECRET, API_KEY, WS_HOST, WS_PORT, USERS_DB are read too). The login limits are
# raised so that the bench's own client authentications and signed requests are never refused
# (each one reserves a failure for 127.0.0.1 and gives it back on success).
VG_ENV=(
    PATH="$PATH" HOME="$TMP"
    VOICEGATE_AUTH__MAX_ATTEMPTS_PER_IP=100000000
    VOICEGATE_AUTH__MAX_FAILURES_PER_IP=100000000
    VOICEGATE_AUTH__MAX_FAILURES_PER_USER=100000000
    VOICEGATE_AUTH__MAX_NONCES_PER_KEY=100000000
)
# On PostgreSQL when DATABASE_URL is set (an empty database: the bench adds its user and keys).
[[ -n "${DATABASE_URL:-}" ]] && VG_ENV+=(DATABASE_URL="$DATABASE_URL")
vg() {  # vg ARGS...: the CLI on the bench's data dir, clean environment, bounded in time
    (cd "$WORKDIR" && env -i "${VG_ENV[@]}" timeout 60 "$BIN" --data-dir "$DATA" "$@")
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before the bench: $LOAD_BEFORE ($(nproc) cores)"

# --- user, client, API key, server ----------------------------------------------------------------
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"

log "creating user $BENCH_USER, OAuth2 client bench (client_credentials), API key"
printf '%s\n' "$BENCH_PASSWORD" | vg user add "$BENCH_USER" --password-stdin >"$TMP/user-add.log" 2>&1 \
    || { cat "$TMP/user-add.log" >&2; die "user add failed"; }
vg client add --name bench --owner "$BENCH_USER" --grant client_credentials --json \
    >"$TMP/client.json" 2>"$TMP/client-add.log" \
    || { cat "$TMP/client-add.log" >&2; die "client add failed"; }
vg apikey add --user "$BENCH_USER" --json >"$TMP/apikey.json" 2>"$TMP/apikey-add.log" \
    || { cat "$TMP/apikey-add.log" >&2; die "apikey add failed"; }

# HTTP Basic credentials are the form-encoded id and secret (RFC 6749 2.3.1).
BASIC="$(python3 -c '
import base64, json, sys, urllib.parse
c = json.load(open(sys.argv[1]))
q = lambda s: urllib.parse.quote(s, safe="")
print(base64.b64encode(("%s:%s" % (q(c["client_id"]), q(c["client_secret"]))).encode()).decode())
' "$TMP/client.json")" || die "no client_id/client_secret in: $(cat "$TMP/client.json")"
API_KEY="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$TMP/apikey.json")" \
    || die "no api_key in the apikey answer"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$TMP/apikey.json" >"$TMP/api-secret" \
    || die "no secret in the apikey answer"
[[ "$API_KEY" =~ ^[A-Za-z0-9_-]+$ ]] || die "unexpected characters in the API key: $API_KEY"
QUERY="api_key=$API_KEY"

start_server() {
    log "starting the server on 127.0.0.1:$PORT"
    # exec: $! is the server process itself (its /proc/PID/stat is read below).
    (cd "$WORKDIR" && exec env -i "${VG_ENV[@]}" "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT") \
        >>"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    local i
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
}
start_server

# --- setup requests -----------------------------------------------------------------------------
# http_check NAME EXPECTED_CODE curl-args...: the answer in $TMP/NAME.json; dies on another code.
http_check() {
    local name="$1" expected="$2"; shift 2
    local code
    code="$(curl --noproxy '*' -sS --max-time 10 -o "$TMP/$name.json" -w '%{http_code}' "$@")" \
        || die "$name: request failed"
    [[ "$code" == "$expected" ]] || { cat "$TMP/$name.json" >&2; echo >&2; die "$name answered $code, not $expected"; }
}

log "client_credentials token"
http_check token 200 -H "Authorization: Basic $BASIC" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data 'grant_type=client_credentials' \
    "$BASE/oauth/token"
TOKEN="$(python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert a["token_type"] == "Bearer", a
print(a["access_token"])
' "$TMP/token.json")" || die "no Bearer access_token in: $(cat "$TMP/token.json")"

NICK='import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if a=={"nickname":"ovos"} else "answer: %r" % a)'
log "user info: Bearer, signed, signed replay"
http_check info-bearer 200 -H "Authorization: Bearer $TOKEN" "$BASE$INFO_PATH"
python3 -c "$NICK" "$TMP/info-bearer.json" || die "Bearer user info: unexpected answer"
SIGNED_ONE="$(python3 "$SIGNER" --secret-file "$TMP/api-secret" --query "$QUERY" --path "$INFO_PATH" \
    --count 1 --out -)" || die "sign_requests.py failed"
http_check info-signed 200 -H "Authorization: $SIGNED_ONE" "$BASE$INFO_PATH?$QUERY"
python3 -c "$NICK" "$TMP/info-signed.json" || die "signed user info: unexpected answer"
http_check info-replay 401 -H "Authorization: $SIGNED_ONE" "$BASE$INFO_PATH?$QUERY"

# --- Lua scripts --------------------------------------------------------------------------------
cat >"$TMP/token.lua" <<'LUA'
-- POST /oauth/token, client_credentials; the Basic header comes from wrk -H.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

# request() sends GET wrk.path (with its query) with the next line of this thread's file as the
# Authorization value; the file is "<prefix>.<thread number>" (setup() numbers the threads from
# 1). Script arguments: prefix [cycle]. Without "cycle" no line is sent twice: at the end of its
# file a thread stops, and what it sends meanwhile (pings) is counted as "exhausted". wrk calls
# request() once more at start-up, unsent, to check the request: thread 1 uses one extra line.
cat >"$TMP/lines.lua" <<'LUA'
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

sent, exhausted = 0, 0
local file, head, fallback, cycle

function init(args)
    cycle = args[2] == "cycle"
    file = assert(io.open(args[1] .. "." .. id, "r"))
    local host = wrk.headers["Host"]
    head = "GET " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: "
    fallback = "GET /v1/network/ping HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
end

function request()
    local line = file:read("*l")
    if line == nil and cycle then
        file:seek("set", 0)
        line = file:read("*l")
    end
    if line == nil then
        if exhausted == 0 then
            wrk.thread:stop()
        end
        exhausted = exhausted + 1
        return fallback
    end
    sent = sent + 1
    return head .. line .. "\r\n\r\n"
end

function done(summary, latency, requests)
    for i, thread in ipairs(threads) do
        io.write(string.format("lines thread %d: sent %d exhausted %d\n",
            i, thread:get("sent"), thread:get("exhausted")))
    end
end
LUA

for i in $(seq "$WRK_THREADS"); do
    python3 -c 'import sys; sys.stdout.write(("Bearer %s\n" % sys.argv[1]) * 1000)' "$TOKEN" >"$TMP/bearer-lines.$i"
done

# --- CPU accounting -----------------------------------------------------------------------------
# cpu_snapshot: "server_ticks machine_busy_ticks machine_total_ticks" (clock ticks).
cpu_snapshot() {
    local server
    server="$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")"
    awk -v server="$server" '$1 == "cpu" {
        total = 0; for (i = 2; i <= 9; i++) total += $i
        print server, total - $5 - $6, total }' /proc/stat
}

# others_share: the share of the machine's CPU that other processes used over 1 s (the server is
# idle between runs, but its own use is subtracted all the same).
others_share() {
    local before after
    before="$(cpu_snapshot)"
    sleep 1
    after="$(cpu_snapshot)"
    python3 -c '
import sys
b, a = [list(map(int, s.split())) for s in sys.argv[1:3]]
print("%.2f" % (max(0, (a[1] - b[1]) - (a[0] - b[0])) / max(1, a[2] - b[2])))
' "$before" "$after"
}

# wait_for_quiet: waits (up to QUIET_WAIT s) until other processes use less than CONTENDED.
wait_for_quiet() {
    local start=$SECONDS share
    while :; do
        share="$(others_share)"
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' \
            "$share" "$CONTENDED" && return 0
        if (( SECONDS - start >= QUIET_WAIT )); then
            log "other processes still use $(python3 -c 'import sys; print(round(float(sys.argv[1]) * 100))' "$share")% of the CPU after ${QUIET_WAIT} s; going on"
            return 0
        fi
        sleep 4
    done
}

# --- wrk runs -----------------------------------------------------------------------------------
# run_wrk NAME wrk-args...: wrk output in $TMP/NAME.txt, CPU use in $TMP/NAME.cpu
# ("server_ticks busy_ticks total_ticks wrk_cpu_seconds load1"), bounded in time.
run_wrk() {
    local name="$1"; shift
    local before after load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    before="$(cpu_snapshot)"
    # In a subshell, `times` reports the CPU time of its children: wrk (and timeout).
    ( timeout 180 wrk --timeout 5s --latency "$@" >"$TMP/$name.txt" 2>&1 || exit $?
      times >"$TMP/$name.times" ) \
        || { cat "$TMP/$name.txt" >&2; die "wrk run $name failed"; }
    after="$(cpu_snapshot)"
    python3 - "$before" "$after" "$TMP/$name.times" "$load" >"$TMP/$name.cpu" <<'PY'
import re, sys
before, after = [list(map(int, s.split())) for s in sys.argv[1:3]]
lines = open(sys.argv[3]).read().splitlines()
def secs(text):
    m = re.fullmatch(r"(\d+)m([\d.]+)s", text)
    return int(m.group(1)) * 60 + float(m.group(2))
wrk_cpu = sum(secs(t) for t in lines[1].split())  # second line: the children's user and system time
print(after[0] - before[0], after[1] - before[1], after[2] - before[2], "%.3f" % wrk_cpu, sys.argv[4])
PY
}

# parse_lines FILE: prints "sent exhausted" summed over the threads (from lines.lua's done()).
parse_lines() {
    awk '/^lines thread/ { s += $5; e += $7; n++ } END { if (!n) exit 1; print s, e }' "$1" \
        || die "no line counts in $1"
}

WRK_ARGS=(-t"$WRK_THREADS" -c50 -d"$WRK_DURATION")
: >"$TMP/results"
: >"$TMP/signing"

for round in $(seq "$ROUNDS"); do
    if [[ "$round" -gt 1 ]]; then
        log "restarting the server (an empty nonce store for the round)"
        stop_server
        start_server
    fi
    wait_for_quiet
    log "round $round/$ROUNDS: warm-up, Bearer user info, 2 s"
    run_wrk "warmup.$round" -t"$WRK_THREADS" -c50 -d2s -H "Authorization: Bearer $TOKEN" "$BASE$INFO_PATH"

    log "round $round/$ROUNDS: wrk ${WRK_ARGS[*]} POST /oauth/token (client_credentials)"
    run_wrk "tokens.$round" "${WRK_ARGS[@]}" -s "$TMP/token.lua" -H "Authorization: Basic $BASIC" "$BASE/oauth/token"

    log "round $round/$ROUNDS: wrk ${WRK_ARGS[*]} GET $INFO_PATH (Bearer)"
    run_wrk "bearer.$round" "${WRK_ARGS[@]}" -H "Authorization: Bearer $TOKEN" "$BASE$INFO_PATH"
    read -r BEARER_RPS _ < <(parse_wrk "$TMP/bearer.$round.txt") || die "no bearer result"

    # Pre-sign, right before the run: enough for the bearer rate x duration x margin.
    SIGN_COUNT="$(python3 -c '
import math, sys
print(min(int(sys.argv[4]), max(1000, math.ceil(float(sys.argv[1]) * float(sys.argv[2]) * float(sys.argv[3])))))
' "$BEARER_RPS" "$DURATION_S" "$SIGN_MARGIN" "$SIGN_MAX")"
    log "round $round/$ROUNDS: pre-signing $SIGN_COUNT requests ($SIGN_MARGIN x $BEARER_RPS req/s x $DURATION_S s, at most $SIGN_MAX)"
    read -r SIGNED_MADE SIGN_SECONDS < <(timeout 240 python3 "$SIGNER" --secret-file "$TMP/api-secret" \
        --query "$QUERY" --path "$INFO_PATH" --count "$SIGN_COUNT" --files "$WRK_THREADS" --out "$TMP/signed") \
        || die "sign_requests.py failed"
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) + float(sys.argv[2]) < 240 else 1)' \
        "$SIGN_SECONDS" "$DURATION_S" \
        || die "signing took $SIGN_SECONDS s: the run would end too close to the +-300 s window"

    log "round $round/$ROUNDS: wrk ${WRK_ARGS[*]} GET $INFO_PATH?api_key=… (HMAC, one nonce per request)"
    run_wrk "hmac.$round" "${WRK_ARGS[@]}" -s "$TMP/lines.lua" "$BASE$INFO_PATH?$QUERY" -- "$TMP/signed"
    rm -f "$TMP"/signed.*
    read -r HMAC_SENT HMAC_EXHAUSTED < <(parse_lines "$TMP/hmac.$round.txt")
    echo "$round $SIGNED_MADE $SIGN_SECONDS $HMAC_SENT $HMAC_EXHAUSTED" >>"$TMP/signing"

    log "round $round/$ROUNDS: wrk ${WRK_ARGS[*]} GET $INFO_PATH (Bearer through the Lua request(), control)"
    run_wrk "bearer-lua.$round" "${WRK_ARGS[@]}" -s "$TMP/lines.lua" "$BASE$INFO_PATH" -- "$TMP/bearer-lines" cycle

    for name in tokens bearer hmac bearer-lua; do
        read -r RPS P50 P99 NON2XX SOCKERR TOTAL < <(parse_wrk "$TMP/$name.$round.txt") \
            || die "no result for $name.$round"
        read -r SRV_TICKS BUSY_TICKS ALL_TICKS WRK_CPU LOAD1 <"$TMP/$name.$round.cpu"
        echo "$name $round $RPS $P50 $P99 $NON2XX $SOCKERR $TOTAL $SRV_TICKS $BUSY_TICKS $ALL_TICKS $WRK_CPU $LOAD1" \
            >>"$TMP/results"
    done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report -------------------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
export WRK_DURATION LOAD_BEFORE LOAD_AFTER SIGN_MARGIN CLK_TCK CONTENDED
python3 - "$TMP/results" "$TMP/signing" <<'PY'
import os, statistics, sys
e = os.environ
tick = 1.0 / float(e["CLK_TCK"])
cores = os.cpu_count()
med = statistics.median
runs = {}  # name -> list of per-round dicts
for line in open(sys.argv[1]):
    name, rnd, *v = line.split()
    rps, p50, p99, non2xx, sockerr, total, srv, busy, allt, wrk_cpu, load1 = map(float, v)
    wall = allt * tick / cores  # the run's wall time, from the machine's tick count
    foreign = max(0.0, busy * tick - srv * tick - wrk_cpu)
    runs.setdefault(name, []).append(dict(
        round=int(rnd), rps=rps, p50=p50, p99=p99, non2xx=int(non2xx), sockerr=int(sockerr),
        total=int(total), srv_us=srv * tick / total * 1e6 if total else 0.0,
        wrk_us=wrk_cpu / total * 1e6 if total else 0.0, srv_cores=srv * tick / wall,
        wrk_cores=wrk_cpu / wall, foreign_cores=foreign / wall, load1=load1))
signing = [list(map(float, l.split())) for l in open(sys.argv[2])]
rounds = len(runs["bearer"])
verdict = lambda ok: "PASS" if ok else "FAIL"
contended = lambda r: r["foreign_cores"] > float(e["CONTENDED"]) * cores
by_round = lambda name: {r["round"]: r for r in runs[name]}
t, b, h, c = by_round("tokens"), by_round("bearer"), by_round("hmac"), by_round("bearer-lua")
busy_rounds = {i for i in b if any(contended(x[i]) for x in (t, b, h, c))}
used = sorted(set(b) - busy_rounds) or sorted(b)  # the rounds the summary is taken over
all_runs = runs
runs = {name: [r for r in rs if r["round"] in used] for name, rs in all_runs.items()}
ratio_hb = [h[i]["rps"] / b[i]["rps"] for i in used]
ratio_hc = [h[i]["rps"] / c[i]["rps"] for i in used]
ratio_cb = [c[i]["rps"] / b[i]["rps"] for i in used]
m = {name: {k: med([r[k] for r in rs]) for k in rs[0] if k != "round"} for name, rs in runs.items()}
if len(used) == rounds:
    over = "all %d rounds" % rounds
else:
    over = "the %d uncontended round%s of %d (%s)" % (
        len(used), "s" if len(used) > 1 else "", rounds, ", ".join(map(str, used)))
if busy_rounds and len(used) == rounds:
    over += ", every one contended"
pct = lambda xs: "%.1f %%" % (med(xs) * 100)
spread = lambda xs: "%.1f–%.1f %%" % (min(xs) * 100, max(xs) * 100)

print()
print("## voicegate auth load (wrk -t2 -c50 -d%s --latency, 127.0.0.1, %d cores shared by server and wrk)"
      % (e["WRK_DURATION"], cores))
print()
print("Medians over %s." % over)
print()
print("| Run | req/s (min–max) | p50 | p99 (max) | non-2xx / socket errors (all rounds) | server CPU/req | wrk CPU/req | CPU: server + wrk + others (cores) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
labels = [("tokens", "POST /oauth/token client_credentials (tokens/s)"),
          ("bearer", "GET user/info, Bearer (static request)"),
          ("hmac", "GET user/info, HMAC-signed (Lua request())"),
          ("bearer-lua", "GET user/info, Bearer via Lua request() (control)")]
for key, label in labels:
    r, rs = m[key], runs[key]
    print("| %s | %.0f (%.0f–%.0f) | %.3f ms | %.3f ms (%.3f) | %d / %d | %.1f us | %.1f us | %.2f + %.2f + %.2f |"
          % (label, r["rps"], min(x["rps"] for x in rs), max(x["rps"] for x in rs), r["p50"], r["p99"],
             max(x["p99"] for x in rs), sum(x["non2xx"] for x in all_runs[key]),
             sum(x["sockerr"] for x in all_runs[key]),
             r["srv_us"], r["wrk_us"], r["srv_cores"], r["wrk_cores"], r["foreign_cores"]))
print()
print("| Round | tokens/s | bearer req/s | hmac req/s | control req/s | hmac/bearer | hmac/control | p99 tokens, bearer, hmac, control (ms) | others (cores) max | load1 at start |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for i in sorted(b):
    rs = [t[i], b[i], h[i], c[i]]
    print("| %d | %.0f | %.0f | %.0f | %.0f | %.1f %% | %.1f %% | %s | %.2f%s | %.2f |"
          % (i, t[i]["rps"], b[i]["rps"], h[i]["rps"], c[i]["rps"], h[i]["rps"] / b[i]["rps"] * 100,
             h[i]["rps"] / c[i]["rps"] * 100, ", ".join("%.1f" % r["p99"] for r in rs),
             max(r["foreign_cores"] for r in rs), " (contended)" if any(map(contended, rs)) else "",
             t[i]["load1"]))
print()
print("| Measure | Value |")
print("|---|---:|")
print("| ratio HMAC / Bearer (static), median (range) | %s (%s) |" % (pct(ratio_hb), spread(ratio_hb)))
print("| ratio HMAC / Bearer via Lua (same request generation) | %s (%s) |" % (pct(ratio_hc), spread(ratio_hc)))
print("| ratio Bearer via Lua / Bearer static (cost of Lua request()) | %s (%s) |" % (pct(ratio_cb), spread(ratio_cb)))
print("| server CPU per request, HMAC minus Bearer: static / via Lua | %+.1f us / %+.1f us |"
      % (m["hmac"]["srv_us"] - m["bearer"]["srv_us"], m["hmac"]["srv_us"] - m["bearer-lua"]["srv_us"]))
print("| wrk CPU per request over the static request: Lua, same line (control) / Lua, unique signed lines (HMAC) | %+.1f us / %+.1f us |"
      % (m["bearer-lua"]["wrk_us"] - m["bearer"]["wrk_us"], m["hmac"]["wrk_us"] - m["bearer"]["wrk_us"]))
print("| pre-signed requests per round (%s x Bearer rate x duration) | %s |"
      % (e["SIGN_MARGIN"], ", ".join("%d in %.1f s" % (s[1], s[2]) for s in signing)))
print("| signed requests used per round (incl. 1 unsent for wrk's start-up check) / exhausted | %s |"
      % ", ".join("%d / %d" % (s[3], s[4]) for s in signing))
print("| signed request 200, its replay 401 (checked before the runs) | yes |")
print("| load average before / after | %s / %s |" % (e["LOAD_BEFORE"], e["LOAD_AFTER"]))
print()
print("| Target (medians) | Measured | Result |")
print("|---|---:|:---:|")
hmac_non2xx = sum(x["non2xx"] for x in all_runs["hmac"])  # every round counts here
rows = [
    ("HMAC throughput >= 80% of Bearer", pct(ratio_hb), med(ratio_hb) >= 0.80),
    ("tokens p99 <= 10 ms", "%.3f ms" % m["tokens"]["p99"], m["tokens"]["p99"] <= 10),
    ("Bearer p99 <= 10 ms", "%.3f ms" % m["bearer"]["p99"], m["bearer"]["p99"] <= 10),
    ("HMAC p99 <= 10 ms", "%.3f ms" % m["hmac"]["p99"], m["hmac"]["p99"] <= 10),
    ("HMAC non-2xx = 0 (no reused nonce, no stale timestamp)", "%d" % hmac_non2xx, hmac_non2xx == 0),
]
for name, value, ok in rows:
    print("| %s | %s | %s |" % (name, value, verdict(ok)))
print()
if busy_rounds:
    print("note: other processes used more than %d%% of the CPU in round%s %s (marked contended): the"
          " machine was shared, and such runs are slower, with longer tails%s."
          % (float(e["CONTENDED"]) * 100, "s" if len(busy_rounds) > 1 else "",
             ", ".join(map(str, sorted(busy_rounds))),
             "; they are left out of the medians" if len(used) < rounds else
             "; no round was clean, so the medians are contended too: run again on a quiet machine"))
if any(s[4] for s in signing):
    print("note: a wrk thread ran out of pre-signed requests; the HMAC numbers are not sound.")
PY

# Sound numbers need every measured request to have succeeded and no signed request reused.
broken=0
for f in "$TMP"/tokens.*.txt "$TMP"/bearer.*.txt "$TMP"/hmac.*.txt "$TMP"/bearer-lua.*.txt; do
    read -r _ _ _ NON2XX _ _ < <(parse_wrk "$f")
    if [[ "$NON2XX" -ne 0 ]]; then
        echo "error: $NON2XX non-2xx answers in $(basename "$f" .txt); the numbers are not sound" >&2
        broken=1
    fi
done
if awk '$5 != 0 { bad = 1 } END { exit !bad }' "$TMP/signing"; then
    echo "error: a wrk thread ran out of pre-signed requests (raise SIGN_MARGIN; at $SIGN_MAX, the" \
        "server's nonce limit, shorten WRK_DURATION)" >&2
    broken=1
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "error: the server died during the benchmark" >&2
    tail -n 20 "$TMP/server.log" >&2
    broken=1
fi
exit "$broken"
