#!/usr/bin/env bash
# The smallest useful herald for low-resource hosts (`scripts/bench.sh size` runs this):
# the echo example built with `default-features = false` (core packages only), its
# stripped size in the `small` profile (opt-level s, LTO, one codegen unit, panic=abort)
# and in the plain release profile, and its resident memory (VmRSS) idle and holding
# 1,000 connections (herald-bench idle). Builds what it measures; kills only what it starts.
#
#   scripts/size.sh [--clients N]        [default: 1000]
#
# HERALD_BENCH=PATH uses that herald-bench instead of building the release one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS=${2:?--clients needs a value}; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "size.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
cd "$ROOT"

cargo build --profile small --no-default-features --example echo
cargo build --release --no-default-features --example echo
BENCH=${HERALD_BENCH:-}
if [ -z "$BENCH" ]; then
    cargo build --release --bin herald-bench
    BENCH=target/release/herald-bench
fi

small=target/small/examples/echo
release_stripped=$(mktemp)
SERVER_PID=""
cleanup() {
    rm -f "$release_stripped"
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
cp target/release/examples/echo "$release_stripped"
strip "$release_stripped"
kib() { echo $(( ($(stat -c %s "$1") + 1023) / 1024 )); }

# VmRSS counts the shared libraries' resident pages (glibc: ~1.2 MiB shared with every
# process on the host); RssAnon is the server's own memory; Pss shares the rest out.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

port=$((20000 + RANDOM % 12000))
"$small" "127.0.0.1:$port" >/dev/null &
SERVER_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
idle=$(rss_kib "$SERVER_PID") idle_anon=$(anon_kib "$SERVER_PID") idle_pss=$(pss_kib "$SERVER_PID")
"$BENCH" idle --url "ws://127.0.0.1:$port/" --server-pid "$SERVER_PID" \
    --clients "$CLIENTS" --hold 1 >/dev/null
# After the hold: the memory the connections took stays with the process (malloc keeps it);
# VmHWM is the peak.
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
held_anon=$(anon_kib "$SERVER_PID") held_pss=$(pss_kib "$SERVER_PID")

printf '%-52s %8s\n' "echo, default-features = false" ""
printf '  %-50s %6s KiB\n' "stripped, profile small (opt-level s, LTO, abort)" "$(kib "$small")"
printf '  %-50s %6s KiB\n' "stripped, profile release" "$(kib "$release_stripped")"
printf '  %-50s %6s KiB\n' "idle: VmRSS (shared libraries included)" "$idle"
printf '  %-50s %6s KiB\n' "idle: RssAnon (the server's own memory)" "$idle_anon"
printf '  %-50s %6s KiB\n' "idle: Pss (shared pages divided among users)" "$idle_pss"
printf '  %-50s %6s KiB\n' "$CLIENTS connections: VmRSS peak (VmHWM)" "$peak"
printf '  %-50s %6s KiB\n' "$CLIENTS connections: RssAnon after the hold" "$held_anon"
printf '  %-50s %6s KiB\n' "$CLIENTS connections: Pss after the hold" "$held_pss"
