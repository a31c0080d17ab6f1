# benches/lib.sh: what the benchmark scripts share (sourced, not run): logging, wrk and its
# output, the release
# build, a private temp dir removed on exit with the server and helper processes, a free port, a
# user made with the CLI, the server started and answering, a login.
#
# The sourcing script sets ROOT and, before create_user/start_server, VG_ENV: the whole
# environment of the CLI and the server (nothing inherited can change their configuration).

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# require_tools TOOL...: dies naming the first missing one.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
    done
}

# require_wrk: wrk on the PATH, installed from Debian when missing and running as root.
require_wrk() {
    command -v wrk >/dev/null 2>&1 && return
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing wrk (apt-get)"
        timeout 300 apt-get install -y wrk >/dev/null \
            || { timeout 300 apt-get update >/dev/null && timeout 300 apt-get install -y wrk >/dev/null; } \
            || die "could not install wrk"
    else
        die "wrk is required (Debian: apt-get install wrk)"
    fi
}

# parse_wrk FILE: prints "req_per_s p50_ms p99_ms non2xx socket_errors total_requests".
parse_wrk() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
def pct(p):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s|m|h)\s*$" % p, text, re.M)
    if not m:
        sys.exit("no %s%% latency in wrk output" % p)
    return float(m.group(1)) * units[m.group(2)]
rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
if not rps:
    sys.exit("no Requests/sec in wrk output")
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
total = re.search(r"^\s*(\d+) requests in", text, re.M)
print("%.2f %.3f %.3f %d %d %d" % (
    float(rps.group(1)), pct(50), pct(99),
    int(non2xx.group(1)) if non2xx else 0,
    sum(int(g) for g in sock.groups()) if sock else 0,
    int(total.group(1)) if total else 0))
PY
}

# build_voicegate: the release binary into BIN.
build_voicegate() {
    log "building the release binary (cargo build --release -p voicegate)"
    (cd "$ROOT" && timeout 1800 cargo build --release -p voicegate) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/voicegate"
    [[ -x "$BIN" ]] || die "no binary at $BIN"
}

# bench_tmp NAME: TMP (mode 0700) with an empty working directory WORKDIR (no voicegate.toml, no
# .env) and the data directory DATA; on exit the helpers in HELPER_PIDS and the server
# (SERVER_PID: TERM, up to 5 s, then KILL) are stopped and TMP is removed.
bench_tmp() {
    TMP="$(mktemp -d -t "$1.XXXXXX")"
    chmod 700 "$TMP"
    WORKDIR="$TMP/cwd"
    DATA="$TMP/data"
    mkdir -p "$WORKDIR" "$DATA"
    SERVER_PID=""
    HELPER_PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_cleanup() {
    local status=$? pid
    set +e
    for pid in "${HELPER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$TMP"
    exit "$status"
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# create_user NAME PASSWORD: `voicegate user add` on DATA.
create_user() {
    log "creating user $1"
    (cd "$WORKDIR" && printf '%s\n' "$2" \
        | env -i "${VG_ENV[@]}" timeout 60 "$BIN" --data-dir "$DATA" user add "$1" --password-stdin) \
        >"$TMP/user-add.log" 2>&1 || { cat "$TMP/user-add.log" >&2; die "user add failed"; }
}

# start_server PORT: `voicegate serve` on 127.0.0.1:PORT, log in TMP/server.log; returns once
# ping answers. Sets SERVER_PID (the server process itself) and BASE.
start_server() {
    local i
    BASE="http://127.0.0.1:$1"
    log "starting the server on 127.0.0.1:$1"
    (cd "$WORKDIR" && exec env -i "${VG_ENV[@]}" "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$1") \
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
}

# login NAME PASSWORD: POST /v1/auth/tokens; the answer in TMP/login.json (read the token from
# there: it stays out of the process list).
login() {
    local body code
    log "logging in"
    body="$(python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": sys.argv[2]}))' "$1" "$2")"
    code="$(curl --noproxy '*' -sS --max-time 30 -o "$TMP/login.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' --data "$body" "$BASE/v1/auth/tokens")" \
        || die "login request failed"
    [[ "$code" == 200 ]] || { cat "$TMP/login.json" >&2; die "login answered $code"; }
}

# cpu_jiffies: "busy total" jiffies of the whole machine since boot (/proc/stat).
cpu_jiffies() {
    awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total; exit }' /proc/stat
}

# busy_percent BEFORE AFTER: share of the machine busy between two cpu_jiffies readings.
busy_percent() {
    python3 -c 'import sys; b0, t0, b1, t1 = map(float, sys.argv[1:5]); print("%.0f" % (100 * (b1 - b0) / max(t1 - t0, 1)))' $1 $2
}

# wait_quiet: waits (up to QUIET_WAIT s) until the machine is busy less than QUIET_SHARE % over
# one second (everything the bench started, idle, included); prints the last share.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) before after share
    while :; do
        before="$(cpu_jiffies)"
        sleep 1
        after="$(cpu_jiffies)"
        share="$(busy_percent "$before" "$after")"
        if ((share < QUIET_SHARE)) || ((SECONDS >= deadline)); then
            echo "$share"
            return
        fi
        log "machine ${share} % busy; waiting for it to quiet down (until ${QUIET_WAIT} s)"
        sleep 4
    done
}
