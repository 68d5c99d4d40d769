#!/usr/bin/env bash
# The Pusher Channels endpoint compared with other Pusher servers, measured with
# `herald-bench pusher` (and `idle`) on loopback. Every server serves one app: id 1, key
# app-key, secret app-secret. The tests:
#   fanout-1    1,000 subscribers on one public channel; events triggered through the
#               signed HTTP API (2 keep-alive connections, 4 requests in flight each):
#               deliveries/s, delivery latency, server CPU per delivery
#   fanout-100  2,000 subscribers on 100 channels, the same triggering
#   subscribe   5,000 connections, 50 at once: connect, pusher:subscribe, confirmation,
#               close (handshakes plus subscriptions per second)
#   idle        10,000 connections, each subscribed to one of 100 channels, held: server
#               memory per idle subscribed connection
#
#   scripts/bench-pusher.sh                    herald alone
#   scripts/bench-pusher.sh --compare          also sockudo and soketi where present (below)
#   scripts/bench-pusher.sh --server 'CMD'     also any other Pusher server; CMD gets its
#                                              port from {port} and must serve the app above
#
# sockudo: the binary named by $SOCKUDO, else sockudo on PATH, else
# $HERALD_BENCH_CACHE/sockudo/bin/sockudo. It is never built here (the build takes tens of
# minutes); build it once, outside the repository:
#   apt-get install protobuf-compiler
#   cargo install sockudo --no-default-features --features local \
#       --root ~/.cache/herald-bench/sockudo
# soketi: the @soketi/soketi npm package under $HERALD_BENCH_CACHE/soketi (it needs
# uWebSockets.js from GitHub and a Node version that its binaries support; not
# installed here). Servers, as in scripts/bench.sh, are pinned to CPU 0 and the load
# generator to CPU 1; only the processes this script starts are stopped.
set -euo pipefail

usage() {
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --duration SECS   measured time of each fanout run [default: 10; 2 with --quick]
  --quick           short runs, small counts (a smoke test)
  --compare         add sockudo and soketi when they are installed (see above)
  --server 'CMD'    add a server command (repeatable); {port} is replaced by the port.
                    CMD should exec the server itself: its PID is the one measured.
  --out DIR         where to keep the results [default: a new directory under /tmp]
  -h, --help        this help
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=""
QUICK=0
COMPARE=0
OUT=""
CUSTOM=()
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --compare) COMPARE=1; shift ;;
        --server) CUSTOM+=("${2:?--server needs a command}"); shift 2 ;;
        --server=*) CUSTOM+=("${1#*=}"); shift ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-pusher.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-2}; WARMUP=0.5; HOLD=1; SUBS=200; CONNECTS=1000; IDLE=1000
else
    DURATION=${DURATION:-10}; WARMUP=2; HOLD=5; SUBS=1000; CONNECTS=5000; IDLE=10000
fi
if ! [[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "bench-pusher.sh: --duration must be a number of seconds" >&2; exit 2
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=${HERALD_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-bench}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-pusher.XXXXXX")}
mkdir -p "$OUT"
BENCH=$TARGET/release/herald-bench
APP_ID=1 APP_KEY=app-key APP_SECRET=app-secret

# shellcheck source=scripts/lib/bench-common.sh
. "$ROOT/scripts/lib/bench-common.sh"

raise_open_files $((IDLE + 2048))
if [ "$OPEN_FILES" != unlimited ] && [ "$OPEN_FILES" -lt $((IDLE + 2048)) ]; then
    IDLE=$((OPEN_FILES - 2048))
    say "bench-pusher.sh: open files are limited to $OPEN_FILES; the idle test uses $IDLE"
fi
pin_processes bench-pusher.sh

say "== building herald and herald-bench (release)"
(cd "$ROOT" && cargo build --release --bins)

SERVERS=("herald|$TARGET/release/herald --listen 127.0.0.1:{port} --max-connections 20000 --pusher-app $APP_ID:$APP_KEY:$APP_SECRET")
if [ "$COMPARE" = 1 ]; then
    sockudo=${SOCKUDO:-$(command -v sockudo || echo "$CACHE/sockudo/bin/sockudo")}
    if [ -x "$sockudo" ]; then
        # Its default app from the environment; its per-IP rate limits (100 API requests
        # and 20 connections a minute) and its default app's limits (100 connections,
        # backend events and reads per second) off, as a load test from one address needs.
        mkdir -p "$OUT/sockudo-cwd" # it reads config/config.toml from its working directory
        SERVERS+=("sockudo|env -C $OUT/sockudo-cwd HOST=127.0.0.1 PORT={port} \
METRICS_ENABLED=false RATE_LIMITER_ENABLED=false ADAPTER_DRIVER=local \
SOCKUDO_DEFAULT_APP_ID=$APP_ID SOCKUDO_DEFAULT_APP_KEY=$APP_KEY \
SOCKUDO_DEFAULT_APP_SECRET=$APP_SECRET SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=1000000 \
SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND=100000000 \
SOCKUDO_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND=100000000 $sockudo")
    else
        say "bench-pusher.sh: no sockudo binary (set SOCKUDO or see --help): skipping it"
    fi
    soketi=$CACHE/soketi/node_modules/@soketi/soketi/bin/server.js
    if [ -f "$soketi" ] && command -v node >/dev/null; then
        SERVERS+=("soketi|env SOKETI_HOST=127.0.0.1 SOKETI_PORT={port} \
SOKETI_DEFAULT_APP_ID=$APP_ID SOKETI_DEFAULT_APP_KEY=$APP_KEY \
SOKETI_DEFAULT_APP_SECRET=$APP_SECRET SOKETI_METRICS_ENABLED=false node $soketi start")
    else
        say "bench-pusher.sh: no soketi under $CACHE/soketi (see --help): skipping it"
    fi
fi
n=0
for cmd in "${CUSTOM[@]+"${CUSTOM[@]}"}"; do
    n=$((n + 1))
    name=$(basename "${cmd%% *}")
    SERVERS+=("${name:0:16}#$n|$cmd")
done


SUBSCRIBE='{"event":"pusher:subscribe","data":{"channel":"c{room}"}}'
# Eight API connections with one request in flight each, for every server: sockudo closes
# every API connection after one answer, so it cannot pipeline; the same eight requests in
# flight for herald keep the offered load equal.
FAN="--secret $APP_SECRET --app-id $APP_ID --duration $DURATION --warmup $WARMUP --publishers 8 --window 1"
TESTS=(
    "fanout-1|pusher $FAN --clients $SUBS --channels 1"
    "fanout-100|pusher $FAN --clients $((SUBS * 2)) --channels 100"
    "subscribe|pusher --scenario subscribe --clients $CONNECTS --concurrency 50"
    "idle|idle --clients $IDLE --hold $HOLD --rooms 100"
)

run_test() { # run_test SERVER_NAME TEMPLATE TEST_NAME ARGS
    local name=$1 template=$2 test=$3 args=$4 base rc url extra=()
    base="$OUT/${name//[^A-Za-z0-9._-]/_}.$test"
    if ! start_server "$template" "$base.server.log"; then
        : >"$base.json"
        return 0
    fi
    url="ws://127.0.0.1:$SERVER_PORT/app/$APP_KEY?protocol=7&client=js&version=8.4.0"
    if [ "$test" = idle ]; then
        url+="&r={room}" # a query parameter only, for the room number of the first message
        extra=(--first-message "$SUBSCRIBE")
    fi
    rc=0
    # shellcheck disable=SC2086 # ARGS is a list of flags
    "${BENCH_PIN[@]}" "$BENCH" $args "${extra[@]}" --url "$url" --server-pid "$SERVER_PID" \
        >"$base.json" 2>"$base.txt" || rc=$?
    stop_server
    if [ "$rc" != 0 ]; then
        say "   $name $test: FAILED (exit $rc): $(tail -n 1 "$base.txt")"
        : >"$base.json"
        return 0
    fi
    sed "s/^{/{\"server\":\"$name\",\"test\":\"$test\",/" "$base.json" >>"$OUT/results.jsonl"
    local f=$base.json
    case "$test" in
        fanout-*) say "   $name $test: $(jget "$f" deliveries_per_s) deliveries/s, p99 $(jget "$f" latency_p99_us) us, $(jget "$f" server_cpu_ns_per_delivery) ns server CPU per delivery, refused $(jget "$f" refused_triggers), failures $(jget "$f" failures), $(jget "$f" requests_per_connection) request(s) per API connection" ;;
        subscribe) say "   $name $test: $(jget "$f" subscribes_per_s) connect+subscribe/s, failures $(jget "$f" failures)" ;;
        idle) say "   $name $test: $(jget "$f" anon_per_conn_bytes) bytes per idle subscribed connection (anonymous memory; RSS growth $(jget "$f" rss_per_conn_bytes)), errors $(jget "$f" errors)" ;;
    esac
}

say "== results in $OUT"
for entry in "${SERVERS[@]}"; do
    say "== ${entry%%|*}"
    for t in "${TESTS[@]}"; do
        run_test "${entry%%|*}" "${entry#*|}" "${t%%|*}" "${t#*|}"
    done
done

val() { jget "$OUT/${1//[^A-Za-z0-9._-]/_}.$2.json" "$3"; }
{
    printf '\n%-16s %14s %14s %12s %14s %14s %12s\n' server "fanout-1" "fanout-100" "fanout-1" "srv CPU/deliv" "subscribe" "mem/idle"
    printf '%-16s %14s %14s %12s %14s %14s %12s\n' "" "deliveries/s" "deliveries/s" "p99 us" "fanout-1 ns" "per second" "bytes"
    for entry in "${SERVERS[@]}"; do
        name=${entry%%|*}
        printf '%-16s %14s %14s %12s %14s %14s %12s\n' "$name" \
            "$(val "$name" fanout-1 deliveries_per_s)" "$(val "$name" fanout-100 deliveries_per_s)" \
            "$(val "$name" fanout-1 latency_p99_us)" "$(val "$name" fanout-1 server_cpu_ns_per_delivery)" \
            "$(val "$name" subscribe subscribes_per_s)" "$(val "$name" idle anon_per_conn_bytes)"
    done
    if [ "${#SERVERS[@]}" -gt 1 ]; then
        printf '\nherald / other (rates: higher is better for herald; latency, CPU, memory: lower is)\n'
        for entry in "${SERVERS[@]:1}"; do
            other=${entry%%|*}
            ratio() {
                awk -v a="$(val herald "$1" "$2")" -v b="$(val "$other" "$1" "$2")" \
                    'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "n/a"; else printf "%.3gx", a / b }'
            }
            printf '%-16s %14s %14s %12s %14s %14s %12s\n' "÷ $other" \
                "$(ratio fanout-1 deliveries_per_s)" "$(ratio fanout-100 deliveries_per_s)" \
                "$(ratio fanout-1 latency_p99_us)" "$(ratio fanout-1 server_cpu_ns_per_delivery)" \
                "$(ratio subscribe subscribes_per_s)" "$(ratio idle anon_per_conn_bytes)"
        done
    fi
    printf '\nfanout runs %ss after %ss of warm-up; idle hold %ss. Details: %s\n' "$DURATION" "$WARMUP" "$HOLD" "$OUT"
} | tee "$OUT/summary.txt"
