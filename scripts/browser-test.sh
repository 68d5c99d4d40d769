#!/usr/bin/env bash
# Browser test of the chat page: Debian's headless Chromium, driven by playwright-core
# from Node, against a release build of herald on a free loopback port.
#
#   bash scripts/browser-test.sh
#
# Installs what it lacks, idempotently (Debian 12, as root): the chromium package and
# tests/browser/node_modules (playwright-core, pinned in tests/browser/package-lock.json;
# never a browser download of Playwright's own). Screenshots go to target/browser/.
# Exits non-zero on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT_DIR=$ROOT/target/browser
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

step() { printf '\n==== %s ====\n' "$*"; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
elapsed() { echo "$((SECONDS - $1))s"; }

step "browser and node"
t=$SECONDS
apt_pkgs=()
[[ -x $CHROMIUM ]] || apt_pkgs+=(chromium)
command -v node >/dev/null || apt_pkgs+=(nodejs)
command -v npm >/dev/null || apt_pkgs+=(npm)
if ((${#apt_pkgs[@]})); then
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt_pkgs[@]}"
fi
"$CHROMIUM" --version 2>/dev/null || true
echo "node $(node --version)"

cd "$ROOT/tests/browser"
want=$(node -p 'require("./package.json").devDependencies["playwright-core"]')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [[ $have != "$want" ]]; then
    # The lock file pins the exact version; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps any
    # install hook from fetching a browser of its own.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
echo "playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version')"
cd "$ROOT"
echo "installs took $(elapsed "$t")"

step "cargo build --release"
t=$SECONDS
cargo build --release --bin herald
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/herald
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
echo "build took $(elapsed "$t")"

step "start herald"
mkdir -p "$OUT_DIR"
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# A free port can be taken between asking and binding: try a few.
for try in 1 2 3; do
    PORT=$(free_port)
    "$BIN" --listen "127.0.0.1:$PORT" >"$OUT_DIR/herald.log" 2>&1 &
    SERVER_PID=$!
    up=
    for _ in $(seq 1 200); do # 200 x 50 ms: 10 s at most
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.05
    done
    [[ -n $up ]] && break
    cleanup
    SERVER_PID=
    echo "herald did not come up on port $PORT (try $try):"
    cat "$OUT_DIR/herald.log"
done
if [[ -z $up ]]; then
    echo "FAIL browser chat test: herald did not start"
    exit 1
fi
echo "herald (pid $SERVER_PID) listening on 127.0.0.1:$PORT"

step "node tests/browser/chat.test.mjs"
t=$SECONDS
status=0
HERALD_URL="http://127.0.0.1:$PORT/" HERALD_PID=$SERVER_PID HERALD_BIN=$BIN \
    CHROMIUM=$CHROMIUM OUT_DIR=$OUT_DIR \
    timeout 90 node tests/browser/chat.test.mjs || status=$?
echo "browser test took $(elapsed "$t")"
if ((status != 0)); then
    echo "--- herald log ---"
    tail -n 40 "$OUT_DIR/herald.log" || true
fi
exit "$status"
