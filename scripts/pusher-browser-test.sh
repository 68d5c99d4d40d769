#!/usr/bin/env bash
# Browser test of the Pusher endpoint: pusher-js's browser build in Debian's headless
# Chromium (playwright-core), against a release build of herald with a Pusher app, and
# tests/pusher/auth_server.py as the app's authorization backend.
#
#   bash scripts/pusher-browser-test.sh
#
# Installs what it lacks, idempotently (Debian 12, as root): chromium, node and npm,
# python3, tests/browser/node_modules (playwright-core; never a browser download of its
# own) and tests/pusher/node_modules (pusher-js). The screenshot goes to target/browser/.
# HERALD_BIN=path uses that herald binary instead of building a release one.
# Exits non-zero on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT_DIR=$ROOT/target/browser
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

step() { printf '\n==== %s ====\n' "$*"; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

step "browser, node and the npm packages"
apt_pkgs=()
[[ -x $CHROMIUM ]] || apt_pkgs+=(chromium)
command -v node >/dev/null || apt_pkgs+=(nodejs)
command -v npm >/dev/null || apt_pkgs+=(npm)
command -v python3 >/dev/null || apt_pkgs+=(python3)
if ((${#apt_pkgs[@]})); then
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt_pkgs[@]}"
fi
[[ -d tests/browser/node_modules/playwright-core ]] \
    || (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
[[ -d tests/pusher/node_modules/pusher-js ]] \
    || (cd tests/pusher && npm ci --no-audit --no-fund --loglevel=error)

if [[ -n ${HERALD_BIN:-} ]]; then
    BIN=$HERALD_BIN # a build of the caller's (say target/debug/herald)
else
    step "cargo build --release"
    cargo build --release --bin herald
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/herald
    [[ $BIN = /* ]] || BIN=$ROOT/$BIN
fi

step "start herald and the auth backend"
mkdir -p "$OUT_DIR"
LOG=$OUT_DIR/pusher-herald.log
AUTH_OUT=$OUT_DIR/pusher-auth.out
SERVER_PID=
AUTH_PID=
cleanup() {
    for pid in $SERVER_PID $AUTH_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
"$BIN" --listen 127.0.0.1:0 --pusher-app 1:app-key:app-secret,client-events 2>"$LOG" &
SERVER_PID=$!
python3 tests/pusher/auth_server.py --key app-key --secret app-secret >"$AUTH_OUT" 2>/dev/null &
AUTH_PID=$!
PORT=
AUTH_PORT=
for _ in $(seq 100); do
    PORT=$(grep -o 'listening on ws://127.0.0.1:[0-9]*' "$LOG" | grep -o '[0-9]*$' || true)
    AUTH_PORT=$(grep -o '"listening": [0-9]*' "$AUTH_OUT" | grep -o '[0-9]*$' || true)
    [[ -n $PORT && -n $AUTH_PORT ]] && break
    sleep 0.1
done
[[ -n $PORT && -n $AUTH_PORT ]] || { cat "$LOG"; echo "herald or the auth server did not start"; exit 1; }
echo "herald on $PORT, auth backend on $AUTH_PORT"

step "pusher-js in Chromium"
HERALD_PORT=$PORT AUTH_PORT=$AUTH_PORT OUT_DIR=$OUT_DIR CHROMIUM=$CHROMIUM \
    node tests/browser/pusher.test.mjs
