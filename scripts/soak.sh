#!/usr/bin/env bash
# A bounded soak of the herald daemon (not part of `cargo test`).
#
# Builds the release binaries, starts target/release/herald on a free loopback port
# (pinned to CPU 0 with taskset when there are two CPUs or more; the load generator gets
# CPU 1), and runs `herald-bench broadcast` against it: ~1,000 clients in one chat room,
# some of them sending, for a few minutes. Meanwhile it samples the server's resident
# memory (VmRSS) every ~10 s and prints the series.
#
# Passes (exit 0) when no message was lost, reordered or stalled, no client saw an error,
# and RSS is flat after warm-up: the last sample is at most 1.1 x the warm-up sample plus
# a small absolute slack, and the trend over the second half of the run (the
# least-squares slope of RSS against time, from at least 6 samples) is at most
# 0.05 KiB/s (3 KiB a minute: a page or two of sampling noise over a few minutes; a steady
# leak of 0.6 KiB/s fails). Exits 1 otherwise, 2 on a usage error.
#
# Usage: scripts/soak.sh [--duration SECS] [--clients N] [--senders S] [--size BYTES]
#                        [--window W] [--sample SECS] [-- HERALD_ARGS...]
#   Defaults: 180 s, 1000 clients, 50 senders, 64-byte messages, window 4, sample 10 s.
#   Arguments after `--` go to the herald daemon (e.g. `-- --idle-timeout 0`).
#   CARGO_TARGET_DIR is honoured.
#
# It kills only the server process it started (by PID).

set -euo pipefail

duration=180
clients=1000
senders=50
size=64
window=4
sample=10
server_args=()

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --clients) clients=${2:?--clients needs a value}; shift 2 ;;
        --senders) senders=${2:?--senders needs a value}; shift 2 ;;
        --size) size=${2:?--size needs a value}; shift 2 ;;
        --window) window=${2:?--window needs a value}; shift 2 ;;
        --sample) sample=${2:?--sample needs a value}; shift 2 ;;
        --) shift; server_args=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "soak: unknown argument '$1'" >&2; usage ;;
    esac
done
for n in "$duration" "$clients" "$senders" "$size" "$window" "$sample"; do
    case "$n" in
        ''|*[!0-9]*|0) echo "soak: '$n' is not a positive integer" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-soak.XXXXXX")
server_pid=""

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "soak: building release binaries in $target" >&2
(cd "$root" && cargo build --release --quiet --bin herald --bin herald-bench)
herald="$target/release/herald"
bench="$target/release/herald-bench"

# Each client is a descriptor on both sides (the server and the load generator).
want_files=$((clients * 2 + 1024))
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$want_files" ]; then
    ulimit -n "$want_files"
else
    ulimit -n "$hard"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((clients + 64)) ]; then
    echo "soak: open-file limit $(ulimit -n) is too low for $clients clients" >&2
    exit 1
fi

pin_server=()
pin_bench=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0)
    pin_bench=(taskset -c 1)
fi

# Port 0: the server picks a free port and logs it. taskset execs the server, so $! is
# the server's own PID.
RUST_LOG=info "${pin_server[@]}" "$herald" --listen 127.0.0.1:0 \
    ${server_args[@]+"${server_args[@]}"} 2>"$work/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*listening on ws:\/\/\([0-9.:]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "soak: the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
echo "soak: herald (pid $server_pid) on $addr${server_args[*]:+ with ${server_args[*]}}; $clients clients, $senders senders, $size B, window $window, $duration s" >&2

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

"${pin_bench[@]}" "$bench" broadcast --url "ws://$addr/" --clients "$clients" \
    --senders "$senders" --size "$size" --window "$window" --duration "$duration" \
    --warmup 5 --server-pid "$server_pid" --quiet >"$work/bench.json" 2>"$work/bench.txt" &
bench_pid=$!

# Sample the server's RSS every $sample seconds while the load runs.
start=$(date +%s)
: >"$work/rss"
while kill -0 "$bench_pid" 2>/dev/null; do
    rss=$(rss_kib "$server_pid")
    [ -n "$rss" ] && echo "$(($(date +%s) - start)) $rss" >>"$work/rss"
    for _ in $(seq 1 $((sample * 10))); do
        kill -0 "$bench_pid" 2>/dev/null || break
        sleep 0.1
    done
done
bench_rc=0
wait "$bench_pid" || bench_rc=$?

cat "$work/bench.txt" >&2
echo "soak: server RSS (seconds since start, KiB):" >&2
awk '{ printf "  %4d s  %8d KiB\n", $1, $2 }' "$work/rss" >&2

json=$(cat "$work/bench.json")
num() {
    printf '%s' "$json" | grep -o "\"$1\":[0-9.]*" | head -n 1 | cut -d: -f2
}
deliveries=$(num deliveries)
lost=$(num lost)
reordered=$(num reordered)
stalled=$(num stalled)
errors=$(num errors)
# shellcheck disable=SC2034 # read through ${!v} below
unexpected=$(num unexpected)

# Warm-up: the sample nearest to 30 s (a third of the run, for short runs).
warm_at=$((duration / 3 < 30 ? duration / 3 : 30))
rss_first=$(awk 'NR == 1 { print $2 }' "$work/rss")
rss_warm=$(awk -v t="$warm_at" '$1 >= t { print $2; exit }' "$work/rss")
rss_last=$(awk 'END { print $2 }' "$work/rss")
slack_kib=2048
# The trend over the second half: slope in KiB/s (x1000, an integer for the shell) and the
# number of samples it rests on.
read -r slope_milli slope_n < <(awk -v half=$((duration / 2)) '
    $1 >= half { n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
    END {
        d = n * sxx - sx * sx
        printf "%d %d\n", (n > 1 && d != 0) ? 1000 * (n * sxy - sx * sy) / d : 0, n
    }' "$work/rss")

fail=()
[ "$bench_rc" -eq 0 ] || fail+=("herald-bench exited $bench_rc")
[ -n "$deliveries" ] || fail+=("no JSON result from herald-bench")
[ "${deliveries:-0}" != 0 ] || fail+=("no deliveries")
for v in lost reordered stalled errors unexpected; do
    [ "${!v:-x}" = 0 ] || fail+=("$v=${!v:-?}")
done
if [ -z "$rss_warm" ] || [ -z "$rss_last" ]; then
    fail+=("too few RSS samples")
elif [ $((rss_last * 10)) -gt $((rss_warm * 11 + slack_kib * 10)) ]; then
    fail+=("RSS grew after warm-up: ${rss_warm} KiB at ${warm_at} s -> ${rss_last} KiB")
fi
if [ "$slope_n" -lt 6 ]; then
    fail+=("too few RSS samples in the second half to judge its trend ($slope_n)")
elif [ "$slope_milli" -gt 50 ]; then
    fail+=("RSS still climbs in the second half: $((slope_milli / 1000)).$(printf '%03d' $((slope_milli % 1000))) KiB/s")
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    fail+=("the server died")
fi

verdict=PASS
[ ${#fail[@]} -eq 0 ] || verdict="FAIL (${fail[*]})"
echo "soak: clients=$clients duration=${duration}s deliveries=${deliveries:-?} lost=${lost:-?} reordered=${reordered:-?} stalled=${stalled:-?} errors=${errors:-?} rss_start=${rss_first:-?}KiB rss_warm=${rss_warm:-?}KiB rss_end=${rss_last:-?}KiB trend=${slope_milli}e-3KiB/s $verdict"
if [ ${#fail[@]} -ne 0 ]; then
    echo "soak: last server log lines:" >&2
    tail -n 20 "$work/server.log" >&2
    exit 1
fi
