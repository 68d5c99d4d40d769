#!/usr/bin/env bash
# Independent clients chat through the herald daemon: Python `websockets` (plain and over
# TLS, with a certificate made here by openssl) and Node `ws`. Installs its tools itself
# (a Python venv and npm packages in target/interop), idempotently. 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=target/interop
mkdir -p "$work"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

if [[ ! -x "$work/venv/bin/python" ]]; then
    python3 -m venv "$work/venv"
fi
"$work/venv/bin/python" -c 'import websockets' 2>/dev/null \
    || "$work/venv/bin/pip" install --quiet 'websockets==15.0.1'
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y --no-install-recommends nodejs npm
fi
cp tests/interop/package.json tests/interop/chat.mjs tests/interop/cross.mjs "$work/"
(cd "$work" && { [[ -d node_modules/ws ]] || npm install --silent --no-audit --no-fund; })

if [[ ! -f "$work/cert.pem" ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" \
        2>/dev/null
fi

cargo build --release --bin herald
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "interop: herald did not start on port $1" >&2
    return 1
}

plain=$(free_port)
target/release/herald --listen "127.0.0.1:$plain" 2>"$work/plain.log" &
pids+=($!)
secure=$(free_port)
target/release/herald --listen "127.0.0.1:$secure" --tls-cert "$work/cert.pem" \
    --tls-key "$work/key.pem" 2>"$work/tls.log" &
pids+=($!)
wait_port "$plain"
wait_port "$secure"

"$work/venv/bin/python" tests/interop/chat.py "ws://127.0.0.1:$plain/"
"$work/venv/bin/python" tests/interop/chat.py "wss://localhost:$secure/" "$work/cert.pem"
node "$work/chat.mjs" "ws://127.0.0.1:$plain/"

# A compressed message goes on as it came (permessage-deflate): each library must inflate
# what the other compressed. The receiver says "ready" once connected, then the other sends.
cross() { # cross RECEIVER SENDER (python|node), in a room of their own
    local room=/room/cross-$1-$2 out=$work/cross-$1.out pid i
    case $1 in
        python) "$work/venv/bin/python" tests/interop/cross.py receive "ws://127.0.0.1:$plain$room" >"$out" & ;;
        node) node "$work/cross.mjs" receive "ws://127.0.0.1:$plain$room" >"$out" & ;;
    esac
    pid=$!
    for i in $(seq 100); do grep -q ready "$out" && break; sleep 0.1; done
    case $2 in
        python) "$work/venv/bin/python" tests/interop/cross.py send "ws://127.0.0.1:$plain$room" ;;
        node) node "$work/cross.mjs" send "ws://127.0.0.1:$plain$room" ;;
    esac
    wait "$pid"
    grep -v ready "$out"
}
cross node python
cross python node
echo "interop: 5 passed, 0 failed"
