#!/usr/bin/env bash
# benches/scaleout.sh: what running several voicegate instances on one PostgreSQL database costs,
# on this machine, in one run.
#
# Setup on 127.0.0.1 (free ports, one temp dir): a throwaway PostgreSQL cluster (Debian's server
# programs, `initdb` into the temp dir, run as `nobody` when root, production-like durability:
# fsync, synchronous_commit and full_page_writes on; `pg_stat_statements` preloaded), an nginx
# balancer as crates/testkit/src/balancer.rs configures it (round robin, keepalive 32, as
# `nobody`), and `voicegate serve` instances sharing one data directory, each with
# VOICEGATE_JOBS__WORKERS=2. Users and the OAuth2 client are made with the CLI.
#
# What it measures:
#   1. throughput: req/s, p50, p99 (wrk -t2 --latency, WRK_DURATION each) of
#      - `me`: GET /v1/auth/me with a login's Bearer JWT (-c50),
#      - `login`: POST /v1/auth/tokens (-c16; each one is an Argon2id verification, which
#        dominates: auth.hash_concurrency is half the cores, 1 here, per instance),
#      - `cc`: POST /oauth/token client_credentials with HTTP Basic (-c50),
#      on: SQLite, 1 instance (direct); PostgreSQL, 1 instance direct; PostgreSQL behind nginx
#      with 1, 2 and 3 instances. For every run, the CPU (in cores) of the voicegate processes,
#      of PostgreSQL (postmaster, backends, and the reaped ones), of nginx and of wrk.
#   2. database cost per request: pg_stat_statements reset before each route's run on the
#      direct PostgreSQL instance (and a synthesis run, a refresh chain, the idle background and
#      the build jobs), then calls and execution time per HTTP request.
#   3. cross-instance revocation delay: REVOCATIONS times a client_credentials token from
#      instance A, seen 200 on B, revoked through A (POST /oauth/revoke), B polled every 2 ms
#      until 401 (benches/scaleout_probe.py); then the same with NOTIFY off (the trigger function
#      that bumps the identity epoch replaced by one that does not notify), so only the poll
#      (auth.state_poll_ms, 1000 ms) carries it.
#   4. job throughput: JOBS real voice builds (accounts with three espeak-ng recordings each)
#      submitted at once through nginx to 1, then 2 instances: time until every job has ended.
#   5. sizes: bytes per row of the tables (pg_total_relation_size / rows; users measured on
#      10,000 copies of the bench user's row in a scratch table) for the paper model of
#      docs/benchmarks.md.
# It prints markdown tables; the paper model's inputs (DB ms per request, capacity, bytes per
# row) are among them.
#
# Run from anywhere, as root or as a user who can run postgres (needs cargo, curl, python3, wrk,
# nginx, espeak-ng, PostgreSQL's server programs with pg_stat_statements):
#     benches/scaleout.sh
# Optional environment: WRK_DURATION (default 10s), REVOCATIONS (50), JOBS (40). About 4 min.
# Exit status: 0 when the report was produced; non-zero when something broke.
# Notes: everything shares the machine's cores (wrk, nginx, PostgreSQL, the instances), so the
# figures show overhead and the saturated resource, not the speed-up of more machines.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WRK_DURATION="${WRK_DURATION:-10s}"
REVOCATIONS="${REVOCATIONS:-50}"
JOBS="${JOBS:-40}"
BENCH_USER="bench"
BENCH_PASSWORD="bench-password-$$-$RANDOM"
SYNTH_PATH="/api/v1/external/synthesis/?download_token=espeak:en-us&script=Dinner%20is%20ready&pitch=1&rate=1"
PROBE="$ROOT/benches/scaleout_probe.py"

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

[[ "$REVOCATIONS" =~ ^[1-9][0-9]{0,2}$ ]] || die "REVOCATIONS must be from 1 to 999"
[[ "$JOBS" =~ ^[1-9][0-9]{0,2}$ ]] || die "JOBS must be from 1 to 999"

# --- tools --------------------------------------------------------------------------------------
require_tools cargo curl python3 espeak-ng setpriv
require_wrk
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$NGINX" ]] || die "nginx is required (Debian: apt-get install nginx)"
PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[[ -x "$PGBIN/initdb" ]] || PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$PGBIN/initdb" && -x "$PGBIN/postgres" && -x "$PGBIN/psql" ]] \
    || die "PostgreSQL's server programs are required (Debian: apt-get install postgresql)"
[[ -f "$("$PGBIN/pg_config" --pkglibdir)/pg_stat_statements.so" ]] \
    || die "pg_stat_statements is required (Debian: postgresql-contrib)"

build_voicegate
bench_tmp voicegate-scaleout
chmod 711 "$TMP"   # PostgreSQL and nginx run as nobody in subfolders; nothing else is listable

# As root, PostgreSQL and nginx run as nobody (PostgreSQL refuses root).
AS_SERVICE=(setpriv)
if [[ "$(id -u)" -eq 0 ]]; then
    AS_SERVICE+=(--reuid nobody --regid nogroup --clear-groups)
fi
AS_SERVICE+=(--)
give() { [[ "$(id -u)" -ne 0 ]] || chown -R nobody:nogroup "$@"; }

PG_PID=""
NGINX_PID=""
declare -A INSTANCE_PID=()   # port -> pid
stop_pid() {  # stop_pid PID SIGNAL: the signal, then up to 10 s, then KILL
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    local port
    for port in "${!INSTANCE_PID[@]}"; do
        stop_pid "${INSTANCE_PID[$port]}" TERM
    done
    INSTANCE_PID=()
    stop_pid "$NGINX_PID" QUIT
    NGINX_PID=""
    if [[ -n "$PG_PID" ]]; then
        stop_pid "$PG_PID" INT   # fast shutdown
        local shmid
        shmid="$(sed -n 7p "$TMP/pg/data/postmaster.pid" 2>/dev/null | awk '{print $2}')" || true
        [[ -z "$shmid" ]] || ipcrm -m "$shmid" 2>/dev/null || true
        PG_PID=""
    fi
}
trap 'status=$?; set +e; stop_all; (exit "$status"); bench_cleanup' EXIT

# --- PostgreSQL -----------------------------------------------------------------------------------
PG_SETTINGS=(
    listen_addresses=127.0.0.1 fsync=on synchronous_commit=on full_page_writes=on
    max_connections=300 shared_buffers=128MB
    shared_preload_libraries=pg_stat_statements pg_stat_statements.track=top
)
start_postgres() {
    local i args=()
    mkdir -p "$TMP/pg/socket"
    give "$TMP/pg"
    log "initdb (PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'))"
    (cd "$TMP/pg" && "${AS_SERVICE[@]}" "$PGBIN/initdb" -D "$TMP/pg/data" -U voicegate --auth=trust \
        -E UTF8 --locale=C) >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
    for i in "${PG_SETTINGS[@]}"; do args+=(-c "$i"); done
    PG_PORT="$(free_port)"
    (cd "$TMP/pg" && exec "${AS_SERVICE[@]}" "$PGBIN/postgres" -D "$TMP/pg/data" -k "$TMP/pg/socket" \
        -p "$PG_PORT" "${args[@]}") >"$TMP/pg/postgres.log" 2>&1 &
    PG_PID=$!
    for i in $(seq 300); do
        psql_q postgres "SELECT 1" >/dev/null 2>&1 && break
        kill -0 "$PG_PID" 2>/dev/null || { cat "$TMP/pg/postgres.log" >&2; die "postgres exited"; }
        [[ $i -eq 300 ]] && die "postgres did not answer within 30 s"
        sleep 0.1
    done
    psql_q postgres "CREATE DATABASE vg" >/dev/null
    psql_q vg "CREATE EXTENSION pg_stat_statements" >/dev/null
    PG_URL="postgres://voicegate@127.0.0.1:$PG_PORT/vg"
}
psql_q() {  # psql_q DB SQL: unaligned, no headers, '|' between fields
    env -u PGPASSWORD -u PGUSER -u PGHOST -u PGDATABASE PGCONNECT_TIMEOUT=5 timeout 60 \
        "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U voicegate -d "$1" -c "$2"
}

# --- nginx --------------------------------------------------------------------------------------
start_nginx() {  # start_nginx PORT...: nginx on NGINX_PORT in front of the instances on PORTs
    local port servers=""
    stop_pid "$NGINX_PID" QUIT
    rm -rf "$TMP/nginx"
    mkdir -p "$TMP/nginx"
    for port in "$@"; do servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=1s;"$'\n'; done
    NGINX_PORT="$(free_port)"
    cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    client_max_body_size 64m;
    upstream voicegate {
$servers        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://voicegate;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_connect_timeout 2s;
        }
    }
}
EOF
    give "$TMP/nginx"
    (cd "$TMP/nginx" && exec "${AS_SERVICE[@]}" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
        -e "$TMP/nginx/error.log") >/dev/null 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 100); do
        curl --noproxy '*' -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$NGINX_PORT/v1/network/ping" 2>/dev/null \
            && return 0
        sleep 0.1
    done
    cat "$TMP/nginx/error.log" >&2
    die "nginx did not answer within 10 s"
}

# --- voicegate ----------------------------------------------------------------------------------
# The instances (and the CLI) get a clean environment; the login limits are raised so that the
# bench's own logins are never refused (the client address is the same for all). The instances
# share one public URL, the tokens' issuer, as instances behind one balancer must.
base_env() {
    VG_ENV=(
        PATH="$PATH" HOME="$TMP"
        VOICEGATE_AUTH__MAX_ATTEMPTS_PER_IP=100000000
        VOICEGATE_AUTH__MAX_FAILURES_PER_IP=100000000
        VOICEGATE_AUTH__MAX_FAILURES_PER_USER=100000000
        VOICEGATE_JOBS__WORKERS=2
        VOICEGATE_QUOTAS__VOICE_ACCOUNTS_PER_USER=10000
        VOICEGATE_LOG_LEVEL=warn
        VOICEGATE_PUBLIC_URL=http://voicegate.scaleout.invalid
        "$@"
    )
}
vg() { (cd "$WORKDIR" && env -i "${VG_ENV[@]}" timeout 60 "$BIN" --data-dir "$DATA" "$@"); }

start_instance() {  # start_instance: one more `voicegate serve`; sets LAST_PORT
    local port i
    port="$(free_port)"
    (cd "$WORKDIR" && exec env -i "${VG_ENV[@]}" "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$port") \
        >>"$TMP/server-$port.log" 2>&1 &
    INSTANCE_PID[$port]=$!
    for i in $(seq 150); do
        kill -0 "${INSTANCE_PID[$port]}" 2>/dev/null || { cat "$TMP/server-$port.log" >&2; die "an instance exited at start"; }
        curl --noproxy '*' -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/v1/network/ping" 2>/dev/null && break
        [[ $i -eq 150 ]] && { cat "$TMP/server-$port.log" >&2; die "an instance did not answer within 15 s"; }
        sleep 0.1
    done
    LAST_PORT="$port"
}
stop_instance() { stop_pid "${INSTANCE_PID[$1]}" TERM; unset "INSTANCE_PID[$1]"; }

setup_identity() {  # the bench user and client (CLI), a login token, the client's Basic value
    printf '%s\n' "$BENCH_PASSWORD" | vg user add "$BENCH_USER" --password-stdin >"$TMP/user-add.log" 2>&1 \
        || { cat "$TMP/user-add.log" >&2; die "user add failed"; }
    vg client add --name bench --owner "$BENCH_USER" --grant client_credentials --json \
        >"$TMP/client.json" 2>"$TMP/client-add.log" || { cat "$TMP/client-add.log" >&2; die "client add failed"; }
    BASIC="$(python3 -c '
import base64, json, sys, urllib.parse
c = json.load(open(sys.argv[1]))
q = lambda s: urllib.parse.quote(s, safe="")
print(base64.b64encode(("%s:%s" % (q(c["client_id"]), q(c["client_secret"]))).encode()).decode())
' "$TMP/client.json")" || die "no client_id/client_secret"
}
take_token() {  # take_token BASE: TOKEN from a login
    BASE="$1"
    login "$BENCH_USER" "$BENCH_PASSWORD"
    TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/login.json")"
}

python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": sys.argv[2]}))' \
    "$BENCH_USER" "$BENCH_PASSWORD" >"$TMP/login-body.json"
cat >"$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.body = [[$(cat "$TMP/login-body.json")]]
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$TMP/cc.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

# --- CPU accounting -----------------------------------------------------------------------------
# ticks PID...: utime+stime of the processes, plus cutime+cstime (reaped children: PostgreSQL's
# ended backends) of each.
ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t="$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        sum=$((sum + t))
    done
    echo "$sum"
}
pg_ticks() {  # the postmaster, its reaped children and its live children
    [[ -n "$PG_PID" ]] || { echo 0; return; }
    # shellcheck disable=SC2046
    ticks "$PG_PID" $(ps -o pid= --ppid "$PG_PID" 2>/dev/null)
}
cpu_snapshot() {  # "voicegate postgres nginx" ticks
    echo "$(ticks "${INSTANCE_PID[@]}") $(pg_ticks) $(ticks $NGINX_PID)"
}

# run_wrk NAME CONFIG ROUTE URL wrk-args...: a measured run, a line in RESULTS.
RESULTS="$TMP/results"
: >"$RESULTS"
run_wrk() {
    local name="$1" config="$2" route="$3" url="$4"; shift 4
    local before after start end
    log "$config / $route: wrk ${url%%\?*}"
    before="$(cpu_snapshot)"
    start="$(date +%s.%N)"
    ( timeout 180 wrk --timeout 5s --latency "$@" "$url" >"$TMP/$name.txt" 2>&1 || exit $?
      times >"$TMP/$name.times" ) || { cat "$TMP/$name.txt" >&2; die "wrk run $name failed"; }
    end="$(date +%s.%N)"
    after="$(cpu_snapshot)"
    read -r rps p50 p99 non2xx sockerr total < <(parse_wrk "$TMP/$name.txt") || die "no result for $name"
    echo "$config|$route|$rps|$p50|$p99|$non2xx|$sockerr|$total|$before|$after|$(awk 'NR == 2' "$TMP/$name.times")|$start|$end" >>"$RESULTS"
}

# The three routes against BASE_URL.
measure_routes() {  # measure_routes CONFIG URL [stats]
    local config="$1" url="$2" stats="${3:-}" route
    run_wrk "warm-$config" "$config" warmup "$url/v1/auth/me" -t2 -c50 -d2s -H "Authorization: Bearer $TOKEN"
    sed -i '$d' "$RESULTS"
    for route in me login cc; do
        [[ -z "$stats" ]] || psql_q vg "SELECT pg_stat_statements_reset()" >/dev/null
        case "$route" in
            me) run_wrk "$config-me" "$config" me "$url/v1/auth/me" -t2 -c50 -d"$WRK_DURATION" -H "Authorization: Bearer $TOKEN" ;;
            login) run_wrk "$config-login" "$config" login "$url/v1/auth/tokens" -t2 -c16 -d"$WRK_DURATION" -s "$TMP/login.lua" ;;
            cc) run_wrk "$config-cc" "$config" cc "$url/oauth/token" -t2 -c50 -d"$WRK_DURATION" -s "$TMP/cc.lua" -H "Authorization: Basic $BASIC" ;;
        esac
        [[ -z "$stats" ]] || db_stats "$route" "$(awk -F'|' 'END { print $8 }' "$RESULTS")"
    done
}

# db_stats NAME REQUESTS: pg_stat_statements since the last reset, per request, into DBSTATS.
DBSTATS="$TMP/dbstats"
: >"$DBSTATS"
db_stats() {
    psql_q vg "SELECT calls, total_exec_time, rows, regexp_replace(left(query, 90), '\s+', ' ', 'g')
               FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'
               ORDER BY total_exec_time DESC" >"$TMP/stmts-$1"
    awk -F'|' -v name="$1" -v n="$2" '{ c += $1; t += $2 } END { printf "%s|%d|%d|%.3f\n", name, n, c, t }' \
        "$TMP/stmts-$1" >>"$DBSTATS"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. SQLite, one instance ----------------------------------------------------------------------
base_env
setup_identity
start_instance
take_token "http://127.0.0.1:$LAST_PORT"
measure_routes sqlite-1 "http://127.0.0.1:$LAST_PORT"
stop_instance "$LAST_PORT"

# --- 2. PostgreSQL: 1 instance direct, 1/2/3 behind nginx -----------------------------------------
start_postgres
rm -rf "$DATA"
mkdir -p "$DATA"
base_env VOICEGATE_DATABASE_URL="$PG_URL"
setup_identity
start_instance
A="$LAST_PORT"
take_token "http://127.0.0.1:$A"
measure_routes pg-1-direct "http://127.0.0.1:$A" stats

psql_q vg "SELECT pg_stat_statements_reset()" >/dev/null
run_wrk pg-1-synth pg-1-direct synthesis "http://127.0.0.1:$A$SYNTH_PATH" -t2 -c4 -d"$WRK_DURATION" -H "Authorization: Bearer $TOKEN"
db_stats synthesis "$(awk -F'|' 'END { print $8 }' "$RESULTS")"

psql_q vg "SELECT pg_stat_statements_reset()" >/dev/null
timeout 120 python3 "$PROBE" refresh --base "http://127.0.0.1:$A" --user "$BENCH_USER" --password "$BENCH_PASSWORD" --count 200 >/dev/null \
    || die "refresh chain failed"
db_stats "refresh (+1 login)" 200

log "idle: 10 s with one instance"
psql_q vg "SELECT pg_stat_statements_reset()" >/dev/null
sleep 10
db_stats "idle instance, 10 s" 10

for n in 1 2 3; do
    ports=("${!INSTANCE_PID[@]}")
    while [[ ${#ports[@]} -lt $n ]]; do
        start_instance
        ports=("${!INSTANCE_PID[@]}")
    done
    start_nginx "${ports[@]}"
    measure_routes "pg-$n-nginx" "http://127.0.0.1:$NGINX_PORT"
done

# --- 3. revocation delay, two instances -----------------------------------------------------------
ports=("${!INSTANCE_PID[@]}")
stop_instance "${ports[2]}"
A="${ports[0]}" B="${ports[1]}"
log "revocation: $REVOCATIONS tokens revoked through A, B polled every 2 ms"
timeout 300 python3 "$PROBE" revocation --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --basic "$BASIC" \
    --count "$REVOCATIONS" --poll-ms 2 --limit-s 5 >"$TMP/revocation-notify" || die "revocation probe failed"
log "revocation with NOTIFY off (the epoch trigger without pg_notify): 20 tokens"
psql_q vg "CREATE OR REPLACE FUNCTION identity_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN UPDATE identity_epoch SET value = value + 1 WHERE id = 1; RETURN NULL; END; \$\$" >/dev/null
timeout 300 python3 "$PROBE" revocation --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --basic "$BASIC" \
    --count 20 --poll-ms 2 --limit-s 5 >"$TMP/revocation-poll" || die "revocation probe (poll) failed"

# --- 4. job throughput: 1 then 2 instances --------------------------------------------------------
log "recordings (espeak-ng) and $((2 * JOBS)) voice accounts"
SENTENCES=("the river runs past the quiet garden" "a yellow window opens every morning" "we travel a number of miles today")
WAV_ARGS=()
for i in 0 1 2; do
    espeak-ng -v en-us -p $((40 + 10 * i)) -w "$TMP/rec$i.wav" "${SENTENCES[$i]}" || die "espeak-ng failed"
    WAV_ARGS+=(--wav "$TMP/rec$i.wav" --sentence "${SENTENCES[$i]}")
done
for round in 1 2; do
    timeout 300 python3 "$PROBE" prepare --base "http://127.0.0.1:$A" --user "$BENCH_USER" --password "$BENCH_PASSWORD" \
        --accounts "$JOBS" "${WAV_ARGS[@]}" --out "$TMP/accounts-$round" || die "prepare failed"
done
: >"$TMP/jobs"
for round in 1 2; do
    if [[ $round -eq 1 ]]; then
        stop_instance "$B"
        start_nginx "$A"
    else
        start_instance
        start_nginx "$A" "$LAST_PORT"
    fi
    psql_q vg "SELECT pg_stat_statements_reset()" >/dev/null
    last_job="$(psql_q vg "SELECT COALESCE(MAX(rowid), 0) FROM jobs")"
    last_build="$(psql_q vg "SELECT COALESCE(MAX(rowid), 0) FROM voice_builds")"
    log "jobs: $JOBS builds through nginx to $round instance(s), 2 workers each"
    before="$(cpu_snapshot)"
    start="$(date +%s.%N)"
    accepted="$(timeout 120 python3 "$PROBE" submit --base "http://127.0.0.1:$NGINX_PORT" --accounts "$TMP/accounts-$round")" \
        || die "submit failed"
    [[ "$accepted" -eq "$JOBS" ]] || die "only $accepted of $JOBS builds accepted"
    for i in $(seq 1200); do
        open="$(psql_q vg "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")"
        [[ "$open" -eq 0 ]] && break
        [[ $i -eq 1200 ]] && die "jobs still open after 120 s"
        sleep 0.1
    done
    end="$(date +%s.%N)"
    after="$(cpu_snapshot)"
    outcome="$(psql_q vg "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, COUNT(*) n FROM voice_builds WHERE rowid > $last_build GROUP BY status) s")"
    instances="$(psql_q vg "SELECT COUNT(DISTINCT claimed_by) FROM jobs WHERE rowid > $last_job")"
    echo "$round|$start|$end|$before|$after|$outcome|$instances" >>"$TMP/jobs"
    db_stats "voice build ($round instance(s))" "$JOBS"
done

# --- 5. sizes -----------------------------------------------------------------------------------
log "table sizes"
psql_q vg "SELECT table_name,
    (xpath('/row/c/text()', query_to_xml(format('SELECT COUNT(*) AS c FROM %I', table_name), false, true, '')))[1]::text::bigint,
    pg_total_relation_size(format('%I', table_name)::regclass),
    COALESCE((xpath('/row/w/text()', query_to_xml(format('SELECT round(avg(pg_column_size(t.*))) AS w FROM %I t', table_name), false, true, '')))[1]::text, '0')
    FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 3 DESC" >"$TMP/sizes"
USERS_BYTES="$(psql_q vg "CREATE TABLE bench_users (LIKE users INCLUDING ALL);
    INSERT INTO bench_users (name, password_hash, role, active, source, created_at, updated_at)
        SELECT 'household-' || g || '-member', u.password_hash, u.role, 1, 'local', u.created_at, u.updated_at
        FROM users u, generate_series(1, 10000) g WHERE u.name = '$BENCH_USER';
    SELECT pg_total_relation_size('bench_users') / 10000;
    DROP TABLE bench_users;" | tail -n 1)"
psql_q vg "SELECT pg_database_size('vg')" >"$TMP/dbsize"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report -------------------------------------------------------------------------------------
export LOAD_BEFORE LOAD_AFTER WRK_DURATION USERS_BYTES JOBS
CLK_TCK="$(getconf CLK_TCK)" TMPDIR_REPORT="$TMP" python3 - <<'PY'
import os, re, statistics
e, d = os.environ, os.environ["TMPDIR_REPORT"]
tick = 1.0 / float(e["CLK_TCK"])
def secs(text):
    return sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", text))
print("\n## voicegate scale-out on PostgreSQL (%d cores shared by everything; wrk -t2, %s runs)\n"
      % (os.cpu_count(), e["WRK_DURATION"]))
print("| Setup | Route | req/s | p50 | p99 | non-2xx | CPU cores: voicegate + postgres + nginx + wrk |")
print("|---|---|---:|---:|---:|---:|---|")
caps = {}
for line in open(d + "/results"):
    (config, route, rps, p50, p99, non2xx, sockerr, total, before, after, wrk_t, start, end) = line.rstrip("\n").split("|")
    wall = float(end) - float(start)
    b, a = list(map(int, before.split())), list(map(int, after.split()))
    cores = [(y - x) * tick / wall for x, y in zip(b, a)] + [secs(wrk_t) / wall]
    caps[(config, route)] = float(rps)
    print("| %s | %s | %.0f | %.2f ms | %.2f ms | %s | %s = %.2f |" % (
        config, route, float(rps), float(p50), float(p99), non2xx,
        " + ".join("%.2f" % c for c in cores), sum(cores)))
print("\n### Database cost per request (pg_stat_statements, execution time only)\n")
print("| Measured | HTTP requests | statements | statements/request | DB ms/request |")
print("|---|---:|---:|---:|---:|")
for line in open(d + "/dbstats"):
    name, n, calls, t = line.rstrip("\n").split("|")
    n, calls, t = int(n), int(calls), float(t)
    print("| %s | %d | %d | %.2f | %.4f |" % (name, n, calls, calls / max(n, 1), t / max(n, 1)))
for name in ("login", "cc", "synthesis"):
    path = d + "/stmts-" + name
    if os.path.exists(path):
        print("\nTop statements, %s: " % name + "; ".join(
            "`%s` %s calls %.1f ms" % (l.split("|", 3)[3].strip(), l.split("|")[0], float(l.split("|")[1]))
            for l in open(path).read().splitlines()[:4]))
print("\n### Cross-instance revocation delay (revoked through A, refused by B)\n")
print("| Channel | samples | p50 | p99 | max | timeouts |")
print("|---|---:|---:|---:|---:|---:|")
for name, label in (("notify", "LISTEN/NOTIFY (poll 1000 ms behind it)"), ("poll", "NOTIFY off: poll every 1000 ms")):
    vals = open(d + "/revocation-" + name).read().split()
    ms = sorted(float(v) for v in vals if v != "timeout")
    q = lambda p: ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))] if ms else float("nan")
    print("| %s | %d | %.1f ms | %.1f ms | %.1f ms | %d |" % (label, len(ms), q(50), q(99), ms[-1] if ms else float("nan"), vals.count("timeout")))
print("\n### Job throughput (%s real voice builds submitted at once through nginx)\n" % e["JOBS"])
print("| Instances (2 workers each) | wall time | jobs/s | builds | instances that ran jobs | CPU cores: voicegate + postgres + nginx |")
print("|---:|---:|---:|---|---:|---|")
for line in open(d + "/jobs"):
    rnd, start, end, before, after, outcome, instances = line.rstrip("\n").split("|")
    wall = float(end) - float(start)
    b, a = list(map(int, before.split())), list(map(int, after.split()))
    cores = [(y - x) * tick / wall for x, y in zip(b, a)]
    print("| %s | %.2f s | %.2f | %s | %s | %s |" % (rnd, wall, int(e["JOBS"]) / wall, outcome, instances,
                                                " + ".join("%.2f" % c for c in cores)))
print("\n### Table sizes after the run\n")
print("| Table | rows | bytes (with indexes) | bytes/row | row width (pg_column_size) |")
print("|---|---:|---:|---:|---:|")
for line in open(d + "/sizes"):
    name, rows, size, width = line.rstrip("\n").split("|")
    if int(rows):
        print("| %s | %s | %s | %.0f | %s |" % (name, rows, size, int(size) / int(rows), width))
print("\nusers, 10,000 rows in a scratch copy (LIKE users INCLUDING ALL): %s bytes/row; database: %s bytes"
      % (e["USERS_BYTES"], open(d + "/dbsize").read().strip()))
print("load average before / after: %s / %s" % (e["LOAD_BEFORE"], e["LOAD_AFTER"]))
PY
