#!/usr/bin/env bash
# What wss:// and permessage-deflate cost herald, measured with herald-bench on loopback,
# every figure taken in the same run (server pinned to CPU 0, load generator to CPU 1,
# a fresh server per test, as scripts/bench.sh does).
#
#   scripts/bench-tls-deflate.sh                 10 s per broadcast run, one round
#   scripts/bench-tls-deflate.sh --repeat 3      three rounds; the table shows medians
#   scripts/bench-tls-deflate.sh --quick         short runs, for a smoke test
#
# The tests:
#   TLS fan-out retention: wss deliveries/s ÷ ws deliveries/s, 32-byte binary messages,
#     N=100 S=1 W=32 and N=1000 S=10 W=8 (the issue aims at 60% or more). herald serves
#     a self-signed certificate made here with openssl (in the output directory); the
#     clients verify it (--ca).
#   deflate on vs off: 1 KiB JSON chat messages (text frames of random lorem-ipsum words,
#     about 1.8x compressible at herald's level), N=100 S=1 W=32 and N=1000 S=10 W=8:
#     deliveries/s, server CPU per delivery and bytes on the wire per delivery, with
#     herald's default --deflate-threshold (128). Also both at once (wss + deflate), and a
#     small room, N=5 S=1: closed loop (W=32), and open loop at the same offered rate with
#     and without deflate (--n5-rate, 20,000 messages/s), where the server's CPU per
#     delivery is compared at equal load rather than at whatever rate each load allowed.
#   idle memory per connection: 10,000 idle clients, without and with deflate
#     negotiated (it must not change), and over wss (for reference).
# Results (tables and one JSON line per test and round) are kept in a directory printed
# at the end. The script builds what it measures; it kills only the processes it started.
set -euo pipefail

usage() {
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --duration SECS   measured time of each broadcast run [default: 10; 2 with --quick]
  --repeat R        rounds of the whole matrix; the table shows the median [default: 1]
  --quick           short runs (2 s broadcasts, 2,000 idle clients held 1 s)
  --n5-rate R       the open-loop rate of the N=5 pair, messages/s [default: 20000]
  --nice            run the server and the load generator at nice -10 (root only)
  --wait-quiet SECS before each test, wait up to SECS for the machine to be idle (under
                    25% busy over a second); each test reports the CPU others used
  --out DIR         where to keep the results [default: a new directory under /tmp]
  -h, --help        this help
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=""
QUICK=0
NICE=0
WAIT_QUIET=0
REPEAT=1
N5_RATE=20000
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --repeat=*) REPEAT=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --n5-rate) N5_RATE=${2:?--n5-rate needs a number}; shift 2 ;;
        --n5-rate=*) N5_RATE=${1#*=}; shift ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --nice) NICE=1; shift ;;
        --wait-quiet) WAIT_QUIET=${2:?--wait-quiet needs a number of seconds}; shift 2 ;;
        --wait-quiet=*) WAIT_QUIET=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-tls-deflate.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-2}; WARMUP=0.5; HOLD=1; IDLE_CLIENTS=2000
else
    DURATION=${DURATION:-10}; WARMUP=1; HOLD=5; IDLE_CLIENTS=10000
fi
if ! [[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "bench-tls-deflate.sh: --duration must be a number of seconds" >&2; exit 2
fi
if ! [[ "$WAIT_QUIET" =~ ^[0-9]+$ ]]; then
    echo "bench-tls-deflate.sh: --wait-quiet must be a whole number of seconds" >&2; exit 2
fi
if ! [[ "$REPEAT" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench-tls-deflate.sh: --repeat must be a positive whole number" >&2; exit 2
fi
if ! [[ "$N5_RATE" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench-tls-deflate.sh: --n5-rate must be a positive whole number of messages per second" >&2; exit 2
fi
if ! command -v openssl >/dev/null; then
    echo "bench-tls-deflate.sh: openssl is needed to make the test certificate" >&2; exit 1
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/herald-tls-deflate.XXXXXX")}
mkdir -p "$OUT"
BENCH=$TARGET/release/herald-bench
HERALD=$TARGET/release/herald

# shellcheck source=scripts/lib/bench-common.sh
. "$ROOT/scripts/lib/bench-common.sh"

# --- limits and pinning ---------------------------------------------------------------------
need_files=$((IDLE_CLIENTS + 2048))
raise_open_files "$need_files"
files=$OPEN_FILES
if [ "$files" != unlimited ] && [ "$files" -lt "$need_files" ]; then
    IDLE_CLIENTS=$((files - 2048))
    say "bench-tls-deflate.sh: open files are limited to $files; the idle tests use $IDLE_CLIENTS connections"
fi
pin_processes bench-tls-deflate.sh

# --- build, and a certificate ---------------------------------------------------------------
say "== building herald and herald-bench (release, default features: tls and deflate; the first build takes a few minutes)"
(cd "$ROOT" && cargo build --release --bins)

# A self-signed server certificate (not a CA: webpki refuses a CA certificate as the
# server's own) for every loopback name the clients may use; they trust it with --ca.
CERT=$OUT/cert.pem
KEY=$OUT/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$KEY" -out "$CERT" -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" 2>"$OUT/openssl.log" \
    || { say "bench-tls-deflate.sh: openssl could not make a certificate (see $OUT/openssl.log)"; exit 1; }

PLAIN_SERVER="$HERALD --listen 127.0.0.1:{port} --max-connections 20000"
TLS_SERVER="$PLAIN_SERVER --tls-cert $CERT --tls-key $KEY"



fmt() { # fmt KIND VALUE
    [ -n "${2:-}" ] || { printf 'n/a'; return; }
    awk -v k="$1" -v v="$2" 'BEGIN {
        if (k == "rate") { if (v >= 1e6) printf "%.2f M/s", v / 1e6; else if (v >= 1e3) printf "%.1f k/s", v / 1e3; else printf "%.0f/s", v }
        else if (k == "ns") printf "%.0f ns", v
        else if (k == "bytes") printf "%.1f B", v
        else if (k == "pct") printf "%.0f%%", v
        else printf "%s", v }'
}

# --- the tests ---------------------------------------------------------------------------------
BC="broadcast --duration $DURATION --warmup $WARMUP"
W32="--clients 100 --senders 1 --window 32"
N1000="--clients 1000 --senders 10 --window 8"
JSON="--size 1024 --payload json"
N5="--clients 5 --senders 1 --window 32"
N5R="--clients 5 --senders 1 --rate $N5_RATE"
# name|server|scheme|herald-bench arguments
TESTS=(
    "plain-w32|plain|ws|$BC $W32 --size 32"
    "tls-w32|tls|wss|$BC $W32 --size 32"
    "plain-n1000|plain|ws|$BC $N1000 --size 32"
    "tls-n1000|tls|wss|$BC $N1000 --size 32"
    "json-w32|plain|ws|$BC $W32 $JSON"
    "deflate-w32|plain|ws|$BC $W32 $JSON --deflate"
    "json-n1000|plain|ws|$BC $N1000 $JSON"
    "deflate-n1000|plain|ws|$BC $N1000 $JSON --deflate"
    "tls-deflate-w32|tls|wss|$BC $W32 $JSON --deflate"
    "json-n5|plain|ws|$BC $N5 $JSON"
    "deflate-n5|plain|ws|$BC $N5 $JSON --deflate"
    "json-n5-rate|plain|ws|$BC $N5R $JSON"
    "deflate-n5-rate|plain|ws|$BC $N5R $JSON --deflate"
    "idle|plain|ws|idle --clients $IDLE_CLIENTS --hold $HOLD"
    "idle-deflate|plain|ws|idle --clients $IDLE_CLIENTS --hold $HOLD --deflate"
    "idle-tls|tls|wss|idle --clients $IDLE_CLIENTS --hold $HOLD"
)

run_test() { # run_test ROUND NAME SERVER SCHEME ARGS
    local round=$1 test=$2 server=$3 scheme=$4 args=$5 base rc template url f line trust
    base="$OUT/$test.r$round"
    wait_quiet
    if [ "$server" = tls ]; then template=$TLS_SERVER; else template=$PLAIN_SERVER; fi
    if ! start_server "$template" "$base.server.log"; then
        echo "server did not start" >"$base.txt"
        : >"$base.json"
        return 0
    fi
    url="$scheme://127.0.0.1:$SERVER_PORT/"
    trust=()
    [ "$scheme" = wss ] && trust=(--ca "$CERT")
    rc=0
    # shellcheck disable=SC2086 # ARGS is a list of flags
    "${BENCH_PIN[@]}" "$BENCH" $args --url "$url" "${trust[@]+"${trust[@]}"}" \
        --server-pid "$SERVER_PID" >"$base.json" 2>"$base.txt" || rc=$?
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited during the test (see $base.server.log)" >>"$base.txt"
    fi
    stop_server
    if [ "$rc" != 0 ]; then
        say "   $test (round $round): FAILED (exit $rc): $(tail -n 1 "$base.txt")"
        : >"$base.json"
        return 0
    fi
    sed "s/^{/{\"test\":\"$test\",\"round\":$round,/" "$base.json" >>"$OUT/results.jsonl"
    f=$base.json
    case "$test" in
        idle*) line="$(fmt bytes "$(jget "$f" anon_per_conn_bytes)") per idle connection (anonymous; RSS growth $(fmt bytes "$(jget "$f" rss_per_conn_bytes)")), errors $(jget "$f" errors)" ;;
        *) line="$(fmt rate "$(jget "$f" deliveries_per_s)") deliveries, $(fmt ns "$(jget "$f" server_cpu_ns_per_delivery)") server CPU and $(fmt bytes "$(jget "$f" wire_bytes_per_delivery)") read per delivery, lost $(jget "$f" lost), errors $(jget "$f" errors)" ;;
    esac
    say "   $test: $line; server CPU $(fmt pct "$(jget "$f" server_cpu_pct)"), bench CPU $(fmt pct "$(jget "$f" bench_cpu_pct)"), others $(fmt pct "$(jget "$f" others_cpu_pct)")"
}

say "== results in $OUT"
say "== load average before starting: $(awk '{print $1}' /proc/loadavg)"
say "== herald $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
for ((round = 1; round <= REPEAT; round++)); do
    [ "$REPEAT" -gt 1 ] && say "== round $round of $REPEAT"
    for t in "${TESTS[@]}"; do
        IFS='|' read -r name server scheme args <<<"$t"
        run_test "$round" "$name" "$server" "$scheme" "$args"
    done
done

# --- the table --------------------------------------------------------------------------------
val() { # val TEST KEY: the median over the rounds ("" if none)
    local r v vals=()
    for ((r = 1; r <= REPEAT; r++)); do
        v=$(jget "$OUT/$1.r$r.json" "$2")
        [ -n "$v" ] && vals+=("$v")
    done
    [ "${#vals[@]}" -gt 0 ] || return 0
    printf '%s\n' "${vals[@]}" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
times() { # times A B: A / B as a factor
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "n/a"; else printf "%.2fx", a / b }'
}
ratio() { # ratio A B: A / B as a percentage
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "n/a"; else printf "%.0f%%", 100 * a / b }'
}
spread() { # spread TEST KEY: min-max over the rounds, when there are several
    [ "$REPEAT" -gt 1 ] || return 0
    local r v vals=()
    for ((r = 1; r <= REPEAT; r++)); do
        v=$(jget "$OUT/$1.r$r.json" "$2")
        [ -n "$v" ] && vals+=("$v")
    done
    [ "${#vals[@]}" -gt 1 ] || return 0
    printf '%s\n' "${vals[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf " (%.2f-%.2f M)", v[1] / 1e6, v[NR] / 1e6 }'
}
{
    printf '\nTLS fan-out retention, 32-byte binary messages (wss ÷ ws deliveries/s; the issue aims at >= 60%%)\n'
    printf '  %-16s %26s %26s %10s %20s %11s %20s\n' "" "ws deliveries" "wss deliveries" retention "srv CPU/delivery" "by CPU" "bytes read/delivery"
    for pair in "N=100 S=1 W=32|plain-w32|tls-w32" "N=1000 S=10 W=8|plain-n1000|tls-n1000"; do
        IFS='|' read -r label a b <<<"$pair"
        printf '  %-16s %26s %26s %10s %20s %11s %20s\n' "$label" \
            "$(fmt rate "$(val "$a" deliveries_per_s)")$(spread "$a" deliveries_per_s)" \
            "$(fmt rate "$(val "$b" deliveries_per_s)")$(spread "$b" deliveries_per_s)" \
            "$(ratio "$(val "$b" deliveries_per_s)" "$(val "$a" deliveries_per_s)")" \
            "$(fmt ns "$(val "$a" server_cpu_ns_per_delivery)") / $(fmt ns "$(val "$b" server_cpu_ns_per_delivery)")" \
            "$(ratio "$(val "$a" server_cpu_ns_per_delivery)" "$(val "$b" server_cpu_ns_per_delivery)")" \
            "$(fmt bytes "$(val "$a" wire_bytes_per_delivery)") / $(fmt bytes "$(val "$b" wire_bytes_per_delivery)")"
    done
    printf '  TLS: %s. "by CPU": ws ÷ wss server CPU per delivery, the retention of a saturated\n' "$(jget "$OUT/tls-w32.r1.json" tls)"
    printf '  server core (the rate ratio understates the cost when the load generator is the limit).\n'

    printf '\npermessage-deflate, 1 KiB JSON text messages (default --deflate-threshold 128)\n'
    printf '  %-18s %26s %26s %10s %20s %11s %20s\n' "" "deflate off" "deflate on" "on ÷ off" "srv CPU/delivery" "CPU on÷off" "bytes read/delivery"
    for pair in "N=100 S=1 W=32|json-w32|deflate-w32" "N=1000 S=10 W=8|json-n1000|deflate-n1000" "N=5 S=1 W=32|json-n5|deflate-n5" "N=5 S=1 $((N5_RATE / 1000))k msg/s|json-n5-rate|deflate-n5-rate" "wss, N=100 W=32|tls-w32|tls-deflate-w32"; do
        IFS='|' read -r label a b <<<"$pair"
        if [ "$a" = tls-w32 ]; then
            # The wss + deflate run against wss without it would mix message sizes: show it alone.
            printf '  %-18s %26s %26s %10s %20s %11s %20s\n' "$label" "-" \
                "$(fmt rate "$(val "$b" deliveries_per_s)")$(spread "$b" deliveries_per_s)" "-" \
                "$(fmt ns "$(val "$b" server_cpu_ns_per_delivery)")" "-" \
                "$(fmt bytes "$(val "$b" wire_bytes_per_delivery)")"
            continue
        fi
        printf '  %-18s %26s %26s %10s %20s %11s %20s\n' "$label" \
            "$(fmt rate "$(val "$a" deliveries_per_s)")$(spread "$a" deliveries_per_s)" \
            "$(fmt rate "$(val "$b" deliveries_per_s)")$(spread "$b" deliveries_per_s)" \
            "$(ratio "$(val "$b" deliveries_per_s)" "$(val "$a" deliveries_per_s)")" \
            "$(fmt ns "$(val "$a" server_cpu_ns_per_delivery)") / $(fmt ns "$(val "$b" server_cpu_ns_per_delivery)")" \
            "$(times "$(val "$b" server_cpu_ns_per_delivery)" "$(val "$a" server_cpu_ns_per_delivery)")" \
            "$(fmt bytes "$(val "$a" wire_bytes_per_delivery)") / $(fmt bytes "$(val "$b" wire_bytes_per_delivery)")"
    done
    printf '  "CPU on÷off": server CPU per delivery with deflate ÷ without (the issue aims at <= 2x at N=5).\n'
    printf '  Closed loop, the rate is whatever the load generator reaches. It sends each message as its\n'
    printf '  fields in a stored block and a body it compressed once (herald-bench --compress-each would\n'
    printf '  compress every message, as a browser does), so its own compressing no longer limits it;\n'
    printf '  the server still inflates every message it gets (about 2-4 us for 1 KiB), which is most of\n'
    printf '  its CPU per delivery in a room of 5. The open-loop pair offers both servers the same %s\n' "$N5_RATE"
    printf '  messages/s.\n'

    printf '\nidle memory per connection (%s connections; growth of the server'"'"'s anonymous memory,\n' "$IDLE_CLIENTS"
    printf 'and of its RSS, which adds program code paged in on first use)\n'
    printf '  %-16s %12s %12s\n' "" anonymous RSS
    for t in idle:ws idle-deflate:"ws + deflate" idle-tls:wss; do
        printf '  %-16s %12s %12s\n' "${t#*:}" "$(fmt bytes "$(val "${t%%:*}" anon_per_conn_bytes)")" \
            "$(fmt bytes "$(val "${t%%:*}" rss_per_conn_bytes)")"
    done

    printf '\nload generator CPU / others (%% of one core; medians)\n'
    for t in "${TESTS[@]}"; do
        name=${t%%|*}
        printf '  %-16s %6s / %s\n' "$name" "$(fmt pct "$(val "$name" bench_cpu_pct)")" "$(fmt pct "$(val "$name" others_cpu_pct)")"
    done

    problems=""
    for ((r = 1; r <= REPEAT; r++)); do
        for t in "${TESTS[@]}"; do
            name=${t%%|*}
            quiet=1
            case "$name" in idle*) quiet=0 ;; esac # memory is not disturbed by other work
            result_problems "$OUT/$name.r$r.json" "$name (round $r)" "$quiet"
            if [ -n "$GEN_BUSY" ]; then
                problems+="  $name (round $r): the load generator used ${GEN_BUSY}% of its core: the figure is a lower bound"$'\n'
            fi
        done
    done
    if [ -n "$problems" ]; then
        printf '\nproblems:\n%s' "$problems"
    fi
    printf '\nduration %ss per broadcast run (warm-up %ss), idle hold %ss, %s round(s); details: %s\n' \
        "$DURATION" "$WARMUP" "$HOLD" "$REPEAT" "$OUT"
} | tee "$OUT/summary.txt"
