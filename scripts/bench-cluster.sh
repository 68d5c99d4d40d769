#!/usr/bin/env bash
# Scale-out benchmark: what sharing rooms costs and gives, measured with herald-bench on
# loopback. One broadcast room, the same load against each setup:
#
#   1 instance          herald alone (the baseline)
#   1 inst + redis      herald with --redis and nobody else on Redis: the cost of
#                       publishing every message to Redis
#   2 inst + redis      two herald processes on one Redis, on the SAME port
#                       (--reuse-port): the kernel splits the clients between them, so
#                       about half of all deliveries cross instances through Redis, and
#                       one herald-bench measures every delivery and its latency
#   2 workers           one herald with --workers 2 (the in-process hub)
#
# and the loads:
#   w1     N=100  S=1  size=32 W=1     latency of one message at a time
#   w32    N=100  S=1  size=32 W=32    delivery rate, one busy sender
#   n1000  N=1000 S=10 size=32 W=8     delivery rate, a big room
#
# It starts its own redis-server (installing Debian's package if it is missing and this
# runs as root) on a free loopback port, and stops only the processes it started. Nothing
# is pinned: on a two-core machine the servers, Redis and the load generator share both
# cores, and the table shows the CPU the load generator itself took.
set -euo pipefail

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --duration SECS   measured time of each run [default: 5; 2 with --quick]
  --quick           short runs
  --out DIR         where to keep the results [default: a new directory under /tmp]
  -h, --help        this help
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=""
QUICK=0
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-cluster.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-2}; WARMUP=0.5
else
    DURATION=${DURATION:-5}; WARMUP=1
fi
if ! [[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "bench-cluster.sh: --duration must be a number of seconds" >&2; exit 2
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-cluster.XXXXXX")}
mkdir -p "$OUT"
HERALD=$TARGET/release/herald
BENCH=$TARGET/release/herald-bench

# shellcheck source=scripts/lib/bench-common.sh
. "$ROOT/scripts/lib/bench-common.sh"

raise_open_files 8192

# --- what it needs ----------------------------------------------------------------------------
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "== installing redis-server (apt-get)"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    else
        say "bench-cluster.sh: redis-server is not installed (apt-get install redis-server)"
        exit 1
    fi
fi
say "== building herald and herald-bench (release)"
(cd "$ROOT" && cargo build --release --bins --quiet)

# --- ports --------------------------------------------------------------------------------------
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
        port_in_use "$port" || { echo "$port"; return; }
    done
}
# await_listening PORT PID: wait (10 s at most) until PORT listens, while PID lives.
await_listening() {
    local i
    for ((i = 0; i < 200; i++)); do
        port_listening "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# --- Redis ----------------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
await_listening "$REDIS_PORT" "$REDIS_PID" || { say "redis-server did not start"; exit 1; }
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
say "== redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on $REDIS_URL"

# --- setups: each a list of herald commands on one port ------------------------------------------
SETUPS=(
    "1 instance|$HERALD --listen 127.0.0.1:{port} --max-connections 20000"
    "1 inst + redis|$HERALD --listen 127.0.0.1:{port} --max-connections 20000 --redis $REDIS_URL --node-id solo"
    "2 inst + redis|$HERALD --listen 127.0.0.1:{port} --max-connections 20000 --reuse-port --redis $REDIS_URL --node-id a;$HERALD --listen 127.0.0.1:{port} --max-connections 20000 --reuse-port --redis $REDIS_URL --node-id b"
    "2 workers|$HERALD --listen 127.0.0.1:{port} --max-connections 20000 --workers 2"
)
TESTS=(
    "w1|broadcast --clients 100 --senders 1 --size 32 --window 1"
    "w32|broadcast --clients 100 --senders 1 --size 32 --window 32"
    "n1000|broadcast --clients 1000 --senders 10 --size 32 --window 8"
)

SERVER_PIDS=()
start_setup() { # start_setup COMMANDS LOGBASE: sets PORT and SERVER_PIDS
    local commands=$1 base=$2 cmd n=0 pid
    PORT=$(free_port)
    SERVER_PIDS=()
    IFS=';' read -ra cmds <<<"$commands"
    for cmd in "${cmds[@]}"; do
        n=$((n + 1))
        bash -c "exec ${cmd//\{port\}/$PORT}" >"$base.server$n.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        SERVER_PIDS+=("$pid")
        await_listening "$PORT" "$pid" || { say "   a server did not start: $cmd"; return 1; }
    done
    # Every instance has told it listens, and is connected to Redis if it uses it,
    # before the clients come.
    local log ready
    for ((n = 0; n < 200; n++)); do
        ready=1
        for log in "$base".server*.log; do
            grep -q "listening on" "$log" || ready=0
            if grep -q -- "--redis" <<<"$commands"; then
                grep -q "connected" "$log" || ready=0
            fi
        done
        [ "$ready" = 1 ] && return 0
        sleep 0.05
    done
    say "   the servers did not get ready (logs: $base.server*.log)"
    return 1
}
stop_setup() {
    local pid keep=()
    for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
    for pid in "${PIDS[@]}"; do
        [[ " ${SERVER_PIDS[*]} " == *" $pid "* ]] || keep+=("$pid")
    done
    PIDS=("${keep[@]}")
    SERVER_PIDS=()
}

# jget FILE KEY: a field of the flat JSON object in FILE ("" if absent or null).
fmt() { # fmt KIND VALUE
    [ -n "${2:-}" ] || { printf 'n/a'; return; }
    awk -v k="$1" -v v="$2" 'BEGIN {
        if (k == "rate") { if (v >= 1e6) printf "%.2f M/s", v / 1e6; else if (v >= 1e3) printf "%.1f k/s", v / 1e3; else printf "%.0f/s", v }
        else if (k == "us") { if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f us", v }
        else if (k == "pct") printf "%.0f%%", v
        else printf "%s", v }'
}
slug() { echo "${1//[^A-Za-z0-9]/_}"; }

# Presence per node, sampled while a run goes on: shows how the kernel split the clients.
sample_presence() { # sample_presence FILE: until killed
    while :; do
        redis-cli -p "$REDIS_PORT" --raw HGETALL herald:presence 2>/dev/null \
            | paste - - | awk '{ printf "%s=%s ", $1, $2 } END { print "" }' >>"$1"
        sleep 0.5
    done
}

say "== results in $OUT"
say "== load average before starting: $(awk '{print $1}' /proc/loadavg)"
for entry in "${SETUPS[@]}"; do
    name=${entry%%|*}
    say "== $name"
    for t in "${TESTS[@]}"; do
        test=${t%%|*}
        base="$OUT/$(slug "$name").$test"
        if ! start_setup "${entry#*|}" "$base"; then
            stop_setup
            : >"$base.json"
            continue
        fi
        sample_presence "$base.presence" &
        sampler=$!
        rc=0
        # shellcheck disable=SC2086 # the test's flags
        "$BENCH" ${t#*|} --duration "$DURATION" --warmup "$WARMUP" --quiet \
            --url "ws://127.0.0.1:$PORT/room/bench" --server-pid "${SERVER_PIDS[0]}" \
            >"$base.json" 2>"$base.txt" || rc=$?
        kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
        stop_setup
        if [ "$rc" != 0 ]; then
            say "   $test: FAILED (exit $rc): $(tail -n 1 "$base.txt")"
            : >"$base.json"
            continue
        fi
        split=""
        if [[ "$name" == 2\ inst* ]]; then
            # The largest count seen for each node, e.g. "a 52  b 48".
            split=$(tr ' ' '\n' <"$base.presence" | awk -F= '
                NF == 2 { if ($2 + 0 > max[$1]) max[$1] = $2 + 0 }
                END { for (k in max) printf "%s %d  ", k, max[k] }')
            [ -n "$split" ] && split="; clients per node: $split"
        fi
        f=$base.json
        say "   $test: $(fmt rate "$(jget "$f" deliveries_per_s)") deliveries, p50 $(fmt us "$(jget "$f" latency_p50_us)"), p99 $(fmt us "$(jget "$f" latency_p99_us)"), lost $(jget "$f" lost), bench CPU $(fmt pct "$(jget "$f" bench_cpu_pct)")$split"
    done
done

# --- the table ------------------------------------------------------------------------------------
val() { jget "$OUT/$(slug "$1").$2.json" "$3"; }
{
    printf '\n%-16s %11s %11s %13s %13s %11s %9s\n' setup "W=1 p50" "W=1 p99" "N=100 W=32" "N=1000 S=10" "N=1000 p99" "lost"
    printf '%-16s %11s %11s %13s %13s %11s %9s\n' "" latency latency deliveries deliveries latency "(all)"
    for entry in "${SETUPS[@]}"; do
        name=${entry%%|*}
        lost=0
        for t in w1 w32 n1000; do
            l=$(val "$name" "$t" lost)
            lost=$((lost + ${l:-0}))
        done
        printf '%-16s %11s %11s %13s %13s %11s %9s\n' "$name" \
            "$(fmt us "$(val "$name" w1 latency_p50_us)")" \
            "$(fmt us "$(val "$name" w1 latency_p99_us)")" \
            "$(fmt rate "$(val "$name" w32 deliveries_per_s)")" \
            "$(fmt rate "$(val "$name" n1000 deliveries_per_s)")" \
            "$(fmt us "$(val "$name" n1000 latency_p99_us)")" \
            "$lost"
    done
    printf '\n%s cores; load generator CPU (%% of one core) w1/w32/n1000:\n' "$(nproc)"
    for entry in "${SETUPS[@]}"; do
        name=${entry%%|*}
        printf '  %-16s %s / %s / %s\n' "$name" \
            "$(fmt pct "$(val "$name" w1 bench_cpu_pct)")" \
            "$(fmt pct "$(val "$name" w32 bench_cpu_pct)")" \
            "$(fmt pct "$(val "$name" n1000 bench_cpu_pct)")"
    done
} | tee "$OUT/table.txt"
