#!/usr/bin/env bash
# herald's standard benchmark matrix, measured with herald-bench on loopback.
#
#   scripts/bench.sh                      herald alone, 10 s per broadcast run
#   scripts/bench.sh --quick              short runs, for a smoke test
#   scripts/bench.sh --compare            also tokio-tungstenite, Node's ws and the floor
#                                         (a minimal mio fan-out with no validation,
#                                         benches/reference/mio-floor), same matrix, same
#                                         run, then herald's ratio to each
#   scripts/bench.sh --server 'CMD'       also any other server; CMD gets its port from
#                                         {port}, e.g. --server './my-server --port {port}'
#   scripts/bench.sh size                 the size job only: the smallest build's stripped
#                                         size and its memory idle and with 1,000
#                                         connections (scripts/size.sh)
#
# Each test gets a fresh server on a free loopback port, pinned to CPU 0, with the load
# generator pinned to CPU 1 (when taskset and two CPUs are there); each test runs against
# every server in turn before the next test starts. The matrix:
#   broadcast N=100  S=1  size=32 W=1     latency of one message at a time
#   broadcast N=100  S=1  size=32 W=32    delivery rate, one busy sender
#   broadcast N=1000 S=10 size=32 W=8     delivery rate, a big room
#   broadcast N=100  S=1  size=32 open    open loop at half herald's W=32 message rate
#                                         (the same rate for every server): latency from
#                                         each message's intended send time
#   connect   5,000 connections, 50 at a time
#   idle      10,000 connections held: server memory per connection
# With --repeat R the whole matrix runs R times, round after round (each round every test
# against every server in turn); the table shows each figure's median over the rounds, and
# a per-round section shows how herald's tail latency and CPU per delivery compared with
# each other server in every round, so that one lucky or unlucky run does not decide a
# comparison. Results (tables and one JSON line per test and round) are kept in a
# directory printed at the end, with a latency plot (SVG) and an HdrHistogram percentile
# file (.hgrm) per broadcast test and round.
# The script builds what it measures and installs what it needs (cargo, npm); it kills
# only the processes it started. What wss:// and permessage-deflate cost (TLS fan-out
# retention, deflate on vs off, idle memory with deflate) is scripts/bench-tls-deflate.sh.
set -euo pipefail

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --duration SECS   measured time of each broadcast run [default: 10; 2 with --quick]
  --quick           short runs (2 s broadcasts, 1 s idle hold)
  --repeat R        run the matrix R times; the table gives medians [default: 1]
  --compare         add the reference servers (benches/reference/)
  --server 'CMD'    add a server command (repeatable); {port} is replaced by the port.
                    CMD should exec the server itself: its PID is the one measured.
  --nice            run the server and the load generator at nice -10 (root only), so
                    that other work on a shared machine disturbs the figures less
  --wait-quiet SECS before each test, wait up to SECS for the machine to be idle (under
                    25% busy over a second): on a shared machine, other work skews the
                    figures; each test reports how much CPU the rest used ("others")
  --tests LIST      only these tests, comma-separated (bcast-w1, bcast-w32, bcast-n1000,
                    bcast-open, connect, idle); bcast-open needs bcast-w32 for its rate
  --out DIR         where to keep the results [default: a new directory under /tmp]
  -h, --help        this help
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = size ]; then
    shift
    exec "$ROOT/scripts/size.sh" "$@"
fi
DURATION=""
QUICK=0
COMPARE=0
NICE=0
WAIT_QUIET=0
OUT=""
ONLY=""
REPEAT=1
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
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --repeat=*) REPEAT=${1#*=}; shift ;;
        --tests) ONLY=${2:?--tests needs a list}; shift 2 ;;
        --tests=*) ONLY=${1#*=}; shift ;;
        --nice) NICE=1; shift ;;
        --wait-quiet) WAIT_QUIET=${2:?--wait-quiet needs a number of seconds}; shift 2 ;;
        --wait-quiet=*) WAIT_QUIET=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-2}; WARMUP=0.5; HOLD=1
else
    DURATION=${DURATION:-10}; WARMUP=1; HOLD=5
fi
if ! [[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "bench.sh: --duration must be a number of seconds" >&2; exit 2
fi
if ! [[ "$REPEAT" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench.sh: --repeat must be a whole number of rounds, at least 1" >&2; exit 2
fi
if ! [[ "$WAIT_QUIET" =~ ^[0-9]+$ ]]; then
    echo "bench.sh: --wait-quiet must be a whole number of seconds" >&2; exit 2
fi
IDLE_CLIENTS=10000
CONNECT_COUNT=5000
CONNECT_CONCURRENCY=50

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=${HERALD_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-bench}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")}
mkdir -p "$OUT"
BENCH=$TARGET/release/herald-bench

# shellcheck source=scripts/lib/bench-common.sh
. "$ROOT/scripts/lib/bench-common.sh"

# --- limits and pinning ---------------------------------------------------------------------
need_files=$((IDLE_CLIENTS + 2048))
raise_open_files "$need_files"
files=$OPEN_FILES
if [ "$files" != unlimited ] && [ "$files" -lt "$need_files" ]; then
    IDLE_CLIENTS=$((files - 2048))
    say "bench.sh: open files are limited to $files; the idle test use $IDLE_CLIENTS connections"
fi
pin_processes bench.sh

# --- build and install ----------------------------------------------------------------------
say "== building herald and herald-bench (release; the first build takes a few minutes)"
(cd "$ROOT" && cargo build --release --bins)

SERVERS=("herald|$TARGET/release/herald --listen 127.0.0.1:{port} --max-connections 20000")
if [ "$COMPARE" = 1 ]; then
    say "== building the tokio-tungstenite reference"
    cargo build --release \
        --manifest-path "$ROOT/benches/reference/tokio-tungstenite/Cargo.toml" \
        --target-dir "$TARGET/reference"
    SERVERS+=("tokio-tungstenite|$TARGET/reference/release/herald-reference-tokio-tungstenite --listen 127.0.0.1:{port}")

    say "== building the floor (a minimal mio fan-out, no validation)"
    cargo build --release \
        --manifest-path "$ROOT/benches/reference/mio-floor/Cargo.toml" \
        --target-dir "$TARGET/reference"
    SERVERS+=("mio-floor|$TARGET/reference/release/herald-reference-mio-floor --listen 127.0.0.1:{port}")

    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            say "== installing Node.js and npm (apt-get)"
            apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
        fi
    fi
    if command -v node >/dev/null && command -v npm >/dev/null; then
        nodedir=$CACHE/node-ws
        mkdir -p "$nodedir"
        if ! cmp -s "$ROOT/benches/reference/node-ws/package.json" "$nodedir/package.json" \
            || [ ! -f "$nodedir/node_modules/ws/package.json" ]; then
            say "== installing ws into $nodedir (npm)"
            cp "$ROOT/benches/reference/node-ws/package.json" "$nodedir/package.json"
            (cd "$nodedir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
        fi
        SERVERS+=("node-ws|env NODE_PATH=$nodedir/node_modules node $ROOT/benches/reference/node-ws/server.js --listen 127.0.0.1:{port}")
    else
        say "bench.sh: node and npm are not available: skipping the Node ws reference"
    fi
fi
n=0
for cmd in "${CUSTOM[@]}"; do
    n=$((n + 1))
    name=$(basename "${cmd%% *}")
    SERVERS+=("${name:0:16}#$n|$cmd")
done

# --- servers: a free port, start pinned, wait until it listens -------------------------------


# --- the matrix -------------------------------------------------------------------------------
TESTS=(
    "bcast-w1|broadcast --clients 100 --senders 1 --size 32 --window 1 --duration $DURATION --warmup $WARMUP"
    "bcast-w32|broadcast --clients 100 --senders 1 --size 32 --window 32 --duration $DURATION --warmup $WARMUP"
    "bcast-n1000|broadcast --clients 1000 --senders 10 --size 32 --window 8 --duration $DURATION --warmup $WARMUP"
    "bcast-open|broadcast --clients 100 --senders 1 --size 32 --rate {rate} --duration $DURATION --warmup $WARMUP"
    "connect|connect --count $CONNECT_COUNT --concurrency $CONNECT_CONCURRENCY"
    "idle|idle --clients $IDLE_CLIENTS --hold $HOLD"
)
ALL_TESTS=(bcast-w1 bcast-w32 bcast-n1000 bcast-open connect idle)
if [ -n "$ONLY" ]; then
    keep=()
    for t in "${TESTS[@]}"; do
        [[ ",$ONLY," == *",${t%%|*},"* ]] && keep+=("$t")
    done
    [ "${#keep[@]}" -gt 0 ] || { echo "bench.sh: --tests names no known test" >&2; exit 2; }
    TESTS=("${keep[@]}")
    ALL_TESTS=()
    for t in "${TESTS[@]}"; do ALL_TESTS+=("${t%%|*}"); done
fi

# jget FILE KEY: a field of the flat JSON object in FILE ("" if absent or null).

fmt() { # fmt KIND VALUE
    [ -n "${2:-}" ] || { printf 'n/a'; return; }
    awk -v k="$1" -v v="$2" 'BEGIN {
        if (k == "rate") { if (v >= 1e6) printf "%.2f M/s", v / 1e6; else if (v >= 1e3) printf "%.1f k/s", v / 1e3; else printf "%.0f/s", v }
        else if (k == "us") { if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f us", v }
        else if (k == "ns") { if (v >= 1000) printf "%.2f us", v / 1000; else printf "%.0f ns", v }
        else if (k == "bytes") { if (v >= 10240) printf "%.1f KiB", v / 1024; else printf "%.0f B", v }
        else if (k == "pct") printf "%.0f%%", v
        else printf "%s", v }'
}

# busy_pct: how busy the machine is over one second (user+nice+system+steal), in %.

# The open-loop rate: half of the message rate herald sustained closed loop at W=32,
# measured in this run (set after herald's first bcast-w32), the same for every server and
# every round.
OPEN_RATE=""
ROUND=1

run_test() { # run_test SERVER_NAME TEMPLATE TEST_NAME ARGS
    local name=$1 template=$2 test=$3 args=$4 base rc
    base="$OUT/${name//[^A-Za-z0-9._-]/_}.$test.r$ROUND"
    if [[ "$args" == *"{rate}"* ]]; then
        if [ -z "$OPEN_RATE" ]; then
            say "   $name $test: skipped (no closed-loop rate from herald to halve)"
            : >"$base.json"
            return 0
        fi
        args=${args//\{rate\}/$OPEN_RATE}
    fi
    case "$test" in
        bcast-*) args+=" --plot $base.svg --hgrm $base.hgrm" ;;
    esac
    wait_quiet
    if ! start_server "$template" "$base.server.log"; then
        echo "server did not start" >"$base.txt"
        : >"$base.json"
        return 0
    fi
    rc=0
    # shellcheck disable=SC2086 # ARGS is a list of flags
    "${BENCH_PIN[@]}" "$BENCH" $args --url "ws://127.0.0.1:$SERVER_PORT/" --server-pid "$SERVER_PID" \
        >"$base.json" 2>"$base.txt" || rc=$?
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited during the test (see $base.server.log)" >>"$base.txt"
    fi
    stop_server
    if [ "$rc" != 0 ]; then
        say "   $name $test: FAILED (exit $rc): $(tail -n 1 "$base.txt")"
        : >"$base.json"
        return 0
    fi
    # Keep a combined JSON Lines file with the server and test names added.
    sed "s/^{/{\"server\":\"$name\",\"test\":\"$test\",\"round\":$ROUND,/" "$base.json" >>"$OUT/results.jsonl"
    local f=$base.json line
    case "$test" in
        bcast-*)
            line="$(fmt rate "$(jget "$f" deliveries_per_s)") deliveries, p99 $(fmt us "$(jget "$f" latency_p99_us)"), lost $(jget "$f" lost), errors $(jget "$f" errors)" ;;&
        bcast-open)
            line+=", offered $(fmt rate "$(jget "$f" rate)") messages, $(jget "$f" late_sends) sent late" ;;
        connect)
            line="$(fmt rate "$(jget "$f" handshakes_per_s)") handshakes, failures $(jget "$f" failures)" ;;
        idle)
            line="$(fmt bytes "$(jget "$f" anon_per_conn_bytes)") per idle connection (anonymous memory; RSS growth $(fmt bytes "$(jget "$f" rss_per_conn_bytes)")), errors $(jget "$f" errors)" ;;
    esac
    if [ "$name" = herald ] && [ "$test" = bcast-w32 ] && [ -z "$OPEN_RATE" ]; then
        OPEN_RATE=$(awk -v r="$(jget "$f" sent_per_s)" 'BEGIN { if (r > 0) printf "%.0f", r / 2 }')
    fi
    local round=""
    [ "$REPEAT" = 1 ] || round=" (round $ROUND)"
    say "   $name $test$round: $line; server CPU $(fmt pct "$(jget "$f" server_cpu_pct)"), bench CPU $(fmt pct "$(jget "$f" bench_cpu_pct)"), others $(fmt pct "$(jget "$f" others_cpu_pct)")"
}

say "== results in $OUT"
busy=$(awk '{print $1}' /proc/loadavg)
say "== load average before starting: $busy (a busy machine makes every figure noisy)"
# Test by test, every server in turn (herald first: its bcast-w32 sets the open-loop rate),
# so that a change in the machine's speed during the run falls on all servers alike rather
# than on whichever ran in that stretch.
for ROUND in $(seq 1 "$REPEAT"); do
    [ "$REPEAT" = 1 ] || say "== round $ROUND of $REPEAT"
    for t in "${TESTS[@]}"; do
        say "== ${t%%|*}"
        for entry in "${SERVERS[@]}"; do
            run_test "${entry%%|*}" "${entry#*|}" "${t%%|*}" "${t#*|}"
        done
    done
done

# --- the table --------------------------------------------------------------------------------
# val SERVER TEST KEY: the median over the rounds that have the figure ("" if none);
# val_in ROUND SERVER TEST KEY: one round's figure.
# divide A B: A / B as a ratio ("1.23x"), or n/a when either is missing or B is 0.
divide() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "n/a"; else printf "%.3gx", a / b }'
}
val_in() { jget "$OUT/${2//[^A-Za-z0-9._-]/_}.$3.r$1.json" "$4"; }
val() {
    local r
    # (sort, then awk: Debian's default awk, mawk, has no asort)
    for r in $(seq 1 "$REPEAT"); do val_in "$r" "$@"; done | { grep . || true; } | sort -g | awk '{ v[++n] = $1 }
        END { if (n == 0) exit; if (n % 2) print v[(n + 1) / 2]; else printf "%.6f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
{
    printf '\n%-20s %14s %16s %10s %10s %10s %11s %13s %12s %22s\n' server "N=100 W=32" "N=1000 S=10" "W=1 p99" "W=1 p99.9" "W=32 p99" "open p99" handshakes "mem/idle" "srv CPU/delivery"
    printf '%-20s %14s %16s %10s %10s %10s %11s %13s %12s %22s\n' "" "deliveries" "deliveries" "latency" "latency" "latency" "latency" "per second" "connection" "W=32 / N=1000"
    for entry in "${SERVERS[@]}"; do
        name=${entry%%|*}
        printf '%-20s %14s %16s %10s %10s %10s %11s %13s %12s %22s\n' "$name" \
            "$(fmt rate "$(val "$name" bcast-w32 deliveries_per_s)")" \
            "$(fmt rate "$(val "$name" bcast-n1000 deliveries_per_s)")" \
            "$(fmt us "$(val "$name" bcast-w1 latency_p99_us)")" \
            "$(fmt us "$(val "$name" bcast-w1 latency_p999_us)")" \
            "$(fmt us "$(val "$name" bcast-w32 latency_p99_us)")" \
            "$(fmt us "$(val "$name" bcast-open latency_p99_us)")" \
            "$(fmt rate "$(val "$name" connect handshakes_per_s)")" \
            "$(fmt bytes "$(val "$name" idle anon_per_conn_bytes)")" \
            "$(fmt ns "$(val "$name" bcast-w32 server_cpu_ns_per_delivery)") / $(fmt ns "$(val "$name" bcast-n1000 server_cpu_ns_per_delivery)")"
    done

    printf '\n%-20s %10s %10s %12s %10s %9s %7s   %s\n' "load generator CPU" bcast-w1 bcast-w32 bcast-n1000 bcast-open connect idle "(% of one core; others = the rest of the machine)"
    for entry in "${SERVERS[@]}"; do
        name=${entry%%|*}
        row=()
        for t in bcast-w1 bcast-w32 bcast-n1000 bcast-open connect idle; do
            row+=("$(fmt pct "$(val "$name" "$t" bench_cpu_pct)")/$(fmt pct "$(val "$name" "$t" others_cpu_pct)")")
        done
        printf '%-20s %10s %10s %12s %10s %9s %7s\n' "$name" "${row[@]}"
    done

    problems=""
    for entry in "${SERVERS[@]}"; do
        name=${entry%%|*}
        for t in "${ALL_TESTS[@]}"; do
            busy_gen=() # the load generator's CPU in the rounds where it was above 85%
            for r in $(seq 1 "$REPEAT"); do
                f="$OUT/${name//[^A-Za-z0-9._-]/_}.$t.r$r.json"
                label="$name $t"
                [ "$REPEAT" = 1 ] || label+=" (round $r)"
                quiet=1
                [ "$t" = idle ] && quiet=0 # memory is not disturbed by other work
                result_problems "$f" "$label" "$quiet"
                [ -z "$GEN_BUSY" ] || busy_gen+=("$GEN_BUSY")
            done
            # One line per test, however many rounds: the generator near its limit is the
            # usual case on two cores, not an event.
            if [ "${#busy_gen[@]}" -gt 0 ]; then
                used=$(printf '%s\n' "${busy_gen[@]}" | sort -g | awk '{ v[++n] = $1 }
                    END { if (v[1] == v[n]) printf "%s%%", v[1]; else printf "%s-%s%%", v[1], v[n] }')
                rounds=""
                [ "$REPEAT" = 1 ] || rounds=" in ${#busy_gen[@]} of $REPEAT rounds"
                problems+="  $name $t: the load generator used $used of its core$rounds: the figure is a lower bound"$'\n'
            fi
        done
    done
    if [ -n "$problems" ]; then
        printf '\nproblems:\n%s' "$problems"
    fi

    if [ "${#SERVERS[@]}" -gt 1 ]; then
        printf '\nherald / other (rates: higher is better for herald; latency, memory and CPU: lower is better)\n'
        printf '%-20s %14s %16s %10s %10s %10s %11s %13s %12s %22s\n' "" "N=100 W=32" "N=1000 S=10" "W=1 p99" "W=1 p99.9" "W=32 p99" "open p99" handshakes "mem/idle" "srv CPU/delivery"
        for entry in "${SERVERS[@]:1}"; do
            other=${entry%%|*}
            ratio() { # ratio TEST KEY: herald's median over $other's
                divide "$(val herald "$1" "$2")" "$(val "$other" "$1" "$2")"
            }
            printf '%-20s %14s %16s %10s %10s %10s %11s %13s %12s %22s\n' "÷ $other" \
                "$(ratio bcast-w32 deliveries_per_s)" "$(ratio bcast-n1000 deliveries_per_s)" \
                "$(ratio bcast-w1 latency_p99_us)" "$(ratio bcast-w1 latency_p999_us)" \
                "$(ratio bcast-w32 latency_p99_us)" "$(ratio bcast-open latency_p99_us)" \
                "$(ratio connect handshakes_per_s)" \
                "$(ratio idle anon_per_conn_bytes)" \
                "$(ratio bcast-w32 server_cpu_ns_per_delivery) / $(ratio bcast-n1000 server_cpu_ns_per_delivery)"
        done
    fi
    if [ "${#SERVERS[@]}" -gt 1 ] && [ "$REPEAT" -gt 1 ]; then
        # Round by round, since the machine's speed drifts: herald's tail against each other
        # server's, and its CPU per delivery against theirs, in the same round.
        rratio() { # rratio ROUND OTHER TEST KEY: herald's figure over OTHER's in ROUND
            divide "$(val_in "$1" herald "$3" "$4")" "$(val_in "$1" "$2" "$3" "$4")"
        }
        printf '\nround by round, herald / other (lower is better for herald)\n'
        printf '%-20s %6s %10s %10s %22s\n' "" round "W=1 p99" "W=1 p99.9" "srv CPU/delivery"
        tail_wins=0
        tail_rounds=0 # rounds with every W=1 figure present
        for r in $(seq 1 "$REPEAT"); do
            ahead=1
            complete=1
            refs=0 # references compared (a run with only the floor has none)
            for entry in "${SERVERS[@]:1}"; do
                other=${entry%%|*}
                printf '%-20s %6s %10s %10s %22s\n' "÷ $other" "$r" \
                    "$(rratio "$r" "$other" bcast-w1 latency_p99_us)" \
                    "$(rratio "$r" "$other" bcast-w1 latency_p999_us)" \
                    "$(rratio "$r" "$other" bcast-w32 server_cpu_ns_per_delivery) / $(rratio "$r" "$other" bcast-n1000 server_cpu_ns_per_delivery)"
                [ "$other" = mio-floor ] && continue # the floor is not a reference for the tail
                refs=$((refs + 1))
                for k in latency_p99_us latency_p999_us; do
                    a=$(val_in "$r" herald bcast-w1 "$k")
                    b=$(val_in "$r" "$other" bcast-w1 "$k")
                    if [ -z "$a" ] || [ -z "$b" ]; then
                        complete=0
                    elif ! awk -v a="$a" -v b="$b" 'BEGIN { exit !(a + 0 <= b + 0) }'; then
                        ahead=0
                    fi
                done
            done
            if [ "$complete" = 1 ] && [ "$refs" -gt 0 ]; then
                tail_rounds=$((tail_rounds + 1))
                tail_wins=$((tail_wins + ahead))
            fi
        done
        if [ "$tail_rounds" -gt 0 ]; then
            printf 'W=1: herald'"'"'s p99 and p99.9 at most every reference'"'"'s (the floor aside) in %s of %s rounds' "$tail_wins" "$tail_rounds"
            [ "$tail_rounds" = "$REPEAT" ] || printf ' (of %s, the rest lacking a figure)' "$REPEAT"
            printf '\n'
        fi
    fi
    printf '\nmem/idle: growth of the server'"'"'s anonymous memory (RssAnon) per idle connection; the\n'
    printf 'per-test lines above also give the growth of its RSS, which adds program code paged in.\n'
    [ "$REPEAT" = 1 ] || printf '\nfigures in the tables are medians over %s rounds (every round: JSON in results.jsonl)\n' "$REPEAT"
    printf '\nduration %ss per broadcast run (warm-up %ss), idle hold %ss; open loop at %s messages/s\n' "$DURATION" "$WARMUP" "$HOLD" "${OPEN_RATE:-n/a}"
    printf 'details: %s (latency plots: *.bcast-*.svg; HdrHistogram percentiles: *.hgrm)\n' "$OUT"
} | tee "$OUT/summary.txt"
