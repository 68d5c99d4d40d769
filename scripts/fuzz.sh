#!/usr/bin/env bash
# Run herald's fuzz targets (fuzz/, cargo-fuzz on a nightly toolchain): every target, or
# those named, for SECONDS each (default 60), starting from the seed corpus in
# fuzz/corpus/TARGET and keeping what they find in fuzz/corpus-work/TARGET (not
# committed). A crash leaves its input in fuzz/artifacts/TARGET/ and fails the run; turn
# each into a regression test, and add it to fuzz/seeds/make.py if it is a good seed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   targets: head frames deflate response roundtrip server api
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(head frames deflate response roundtrip server api)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain (cargo +nightly): cannot fuzz" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

cargo +nightly fuzz build

mkdir -p fuzz/corpus-work
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-work/$t"
    # The server target talks TCP with 5 s read timeouts (a stuck server costs an input
    # about 15 s at most): give it longer per input. libFuzzer's watchdog is a SIGALRM
    # every timeout/2 + 1 s, which interrupts those reads (EINTR); keeping it short enough
    # to fire a few times in a 30 s run keeps the harness's retry exercised.
    timeout=10
    [[ $t == server ]] && timeout=20
    log="fuzz/corpus-work/$t.log"
    printf '\n==== fuzz %s for %ss ====\n' "$t" "$seconds"
    status=0
    cargo +nightly fuzz run "$t" "fuzz/corpus-work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 ||
        status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    if [[ $status -ne 0 ]]; then
        grep -E -A12 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -40 || true
        failed+=("$t")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no failure"
