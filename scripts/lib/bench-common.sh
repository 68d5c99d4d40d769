# shellcheck shell=bash
# Helpers shared by scripts/bench.sh, scripts/bench-tls-deflate.sh and
# scripts/bench-cluster.sh (sourced, not run). Loopback only; every process a script
# starts goes into PIDS and is stopped on exit, and no other.

say() { printf '%s\n' "$*" >&2; }

# --- processes we start, and only those, are stopped on exit ------------------------------
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$pid"; done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# raise_open_files N: lift the soft limit on open files to at least N if the hard limit
# allows, and set OPEN_FILES to the limit in force. (Not in a $(...): a subshell's limit
# would not reach this shell.)
raise_open_files() {
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$1" ]; then
        ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    fi
    OPEN_FILES=$(ulimit -n) # read by the scripts that source this file
    export OPEN_FILES
}

# pin_processes NAME: server on CPU 0, load generator on CPU 1 (SERVER_PIN, BENCH_PIN),
# both at nice -10 when NICE=1 and root.
pin_processes() {
    SERVER_PIN=()
    BENCH_PIN=()
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        SERVER_PIN=(taskset -c 0)
        BENCH_PIN=(taskset -c 1)
    else
        say "$1: no taskset or fewer than 2 CPUs: server and load generator are not pinned"
    fi
    if [ "${NICE:-0}" = 1 ]; then
        if [ "$(id -u)" = 0 ]; then
            SERVER_PIN=(nice -n -10 "${SERVER_PIN[@]}")
            BENCH_PIN=(nice -n -10 "${BENCH_PIN[@]}")
        else
            say "$1: --nice needs root; running at normal priority"
        fi
    fi
}

# --- ports, from /proc/net/tcp (no extra tools) ------------------------------------------
port_in_use() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
port_listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'NR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# --- a quiet machine ------------------------------------------------------------------------
busy_pct() { # how busy the machine is over one second, in %
    local a b
    read -ra a < <(head -n 1 /proc/stat)
    sleep 1
    read -ra b < <(head -n 1 /proc/stat)
    local busy=$(((b[1] + b[2] + b[3] + b[8]) - (a[1] + a[2] + a[3] + a[8])))
    local idle=$(((b[4] + b[5]) - (a[4] + a[5])))
    echo $((100 * busy / (busy + idle > 0 ? busy + idle : 1)))
}
wait_quiet() { # up to WAIT_QUIET seconds for the machine to be under 25% busy
    [ "${WAIT_QUIET:-0}" -gt 0 ] || return 0
    local end=$((SECONDS + WAIT_QUIET)) pct
    while :; do
        pct=$(busy_pct)
        [ "$pct" -lt 25 ] && return 0
        if [ "$SECONDS" -ge "$end" ]; then
            say "   (the machine is still ${pct}% busy after ${WAIT_QUIET}s: measuring anyway)"
            return 0
        fi
    done
}

# --- results --------------------------------------------------------------------------------
jget() { # jget FILE KEY: a field of the flat JSON object in FILE ("" if absent or null)
    [ -s "$1" ] || return 0
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1" | tr -d '"' | sed 's/^null$//'
}

# result_problems FILE LABEL QUIET_MATTERS: append to `problems` what is wrong with one
# herald-bench result (it failed, or counted errors, losses and the like; other processes
# busy meanwhile, unless QUIET_MATTERS is 0, as for memory), each line prefixed by LABEL.
# Sets GEN_BUSY to the load generator's CPU (% of a core) if it was above 85%, else "":
# callers word that one themselves (per round, or once per test).
result_problems() {
    local f=$1 label=$2 quiet=$3 k v
    GEN_BUSY=""
    if [ ! -s "$f" ]; then
        problems+="  $label: failed ($(tail -n 1 "${f%.json}.txt" 2>/dev/null || true))"$'\n'
        return 0
    fi
    for k in errors lost reordered stalled unexpected failures close_timeouts; do
        v=$(jget "$f" "$k")
        if [ -n "$v" ] && [ "$v" != 0 ]; then problems+="  $label: $k $v"$'\n'; fi
    done
    v=$(jget "$f" bench_cpu_pct)
    if [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 85) }'; then
        GEN_BUSY=$v
    fi
    v=$(jget "$f" others_cpu_pct)
    [ "$quiet" = 0 ] && v=""
    if [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 15) }'; then
        problems+="  $label: other processes used ${v}% of a core meanwhile: the figure is noisy"$'\n'
    fi
}

# --- servers: a free port, started pinned (SERVER_PIN), waited for until it listens ------
SERVER_PID=""
SERVER_PORT=""
# start_server TEMPLATE LOG: run TEMPLATE ({port} replaced by a free port) with `exec`, so
# that SERVER_PID is the server itself (its CPU is what the benches read); sets SERVER_PID
# and SERVER_PORT. Five ports are tried; returns 1 if none got a listening server.
start_server() {
    local template=$1 log=$2 attempt port cmd i
    for ((attempt = 0; attempt < 5; attempt++)); do
        port=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
        port_in_use "$port" && continue
        cmd=${template//\{port\}/$port}
        "${SERVER_PIN[@]}" bash -c "exec $cmd" >"$log" 2>&1 &
        SERVER_PID=$!
        PIDS+=("$SERVER_PID")
        for ((i = 0; i < 200; i++)); do # 10 s at most
            if port_listening "$port"; then
                SERVER_PORT=$port
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        stop_server
    done
    say "$(basename "$0"): the server did not start listening: $template (log: $log)"
    tail -n 5 "$log" >&2 || true
    return 1
}
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    stop_pid "$SERVER_PID"
    local keep=() pid
    for pid in "${PIDS[@]}"; do [ "$pid" != "$SERVER_PID" ] && keep+=("$pid"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
    SERVER_PID=""
}
