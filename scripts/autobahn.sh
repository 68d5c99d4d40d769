#!/usr/bin/env bash
# Run the Autobahn|Testsuite (fuzzingclient) against herald's echo mode and
# summarise the report. Exits non-zero if any case fails (behavior FAILED, or
# behaviorClose FAILED/UNCLEAN), the report is missing or short, or the server dies.
#
# Usage: scripts/autobahn.sh [--all]
#   --all               also run sections 12.* and 13.* (permessage-deflate)
# Environment:
#   AUTOBAHN_ALL=1      same as --all
#   AUTOBAHN_CASES      comma-separated case patterns instead of "*" (e.g. "1.*,5.*")
#   AUTOBAHN_TIMEOUT    seconds allowed for the whole wstest run (default 1800)
#   AUTOBAHN_JOBS       wstest processes run side by side, each on a share of the cases
#                       (default: 2 with --all, whose compression cases keep the
#                       Python client busy, else 1)
#   AUTOBAHN_CACHE      where the Python 2 tooling lives (default ~/.cache/herald-autobahn)
#   AUTOBAHN_VENV       the suite's virtualenv (default $AUTOBAHN_CACHE/venv)
#   HERALD_CMD          server command to test instead of herald; "{port}" in it is
#                       replaced by the port, which is also exported as PORT
#
# The suite is Python 2 only. Debian 12 has no python2.7, so it comes from
# bullseye; pip/virtualenv/autobahntestsuite and all their dependencies are
# pinned to the last versions that work on 2.7. Installs run once (needs root
# for apt) and are skipped on later runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf '==> autobahn: %s\n' "$*"; }
die() { printf 'autobahn: error: %s\n' "$*" >&2; exit 1; }

ALL=${AUTOBAHN_ALL:-0}
for arg in "$@"; do
    case $arg in
        --all) ALL=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

HOME=${HOME:-$(cd ~ && pwd)} # tilde falls back to the passwd entry when HOME is unset
CACHE=${AUTOBAHN_CACHE:-$HOME/.cache/herald-autobahn}
VENV=${AUTOBAHN_VENV:-$CACHE/venv}
PY2=/usr/bin/python2.7 # not the pyenv shim of the same name, which has no 2.7 behind it
TIMEOUT=${AUTOBAHN_TIMEOUT:-1800}
OUT=$ROOT/target/autobahn

PIP_VERSION=20.3.4         # last pip supporting Python 2.7
VIRTUALENV_VERSION=20.15.1 # last virtualenv able to create 2.7 environments
SUITE_VERSION=0.8.2

# Everything the bootstrap and the suite pull in, at versions known to work on
# 2.7 (resolved once by pip 20.3.4, then frozen so later runs are identical).
CONSTRAINTS="\
setuptools==44.1.1
wheel==0.37.1
virtualenv==$VIRTUALENV_VERSION
configparser==4.0.2
contextlib2==0.6.0.post1
distlib==0.4.4
filelock==3.2.1
importlib-metadata==2.1.3
importlib-resources==3.3.1
pathlib2==2.3.7.post1
platformdirs==2.0.2
scandir==1.10.0
singledispatch==3.7.0
typing==3.10.0.0
zipp==1.2.0
autobahntestsuite==$SUITE_VERSION
autobahn==0.10.9
attrs==21.4.0
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==22.10.0
ipaddress==1.0.23
Jinja2==2.11.3
klein==20.6.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==21.0.0
service-identity==21.1.0
six==1.17.0
traceback2==1.4.0
Tubes==0.2.1
Twisted==20.3.0
txaio==2.1.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==5.5.2
"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

# --- Python 2.7 from Debian bullseye ------------------------------------------
install_python2() {
    # python2.7-dev: wsaccel (the suite's C UTF-8 validator) and zope.interface build from source.
    if [[ -x $PY2 && -f /usr/include/python2.7/Python.h ]] && command -v gcc >/dev/null; then
        log "python2.7 present, skipping apt"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "python2.7 is missing and installing it needs root (apt-get)"
    local list=/etc/apt/sources.list.d/bullseye.list
    if ! grep -rqsE '^[^#]*\bbullseye\b' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # Same mirror as the system's own Debian source (plain .list or deb822 .sources).
        local mirror
        mirror=$(grep -hsE '^[[:space:]]*(deb[[:space:]]|URIs:)' \
                     /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
                 | grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -n1 || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        log "adding apt source: deb ${mirror%/} bullseye main"
        echo "deb ${mirror%/} bullseye main" >"$list"
        # Low priority: bullseye only supplies what bookworm lacks, never replaces bookworm packages.
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' >/etc/apt/preferences.d/bullseye-python2
    fi
    log "installing python2.7 from bullseye"
    apt-get update -qq
    local pkgs=(python2.7 python2.7-dev)
    command -v gcc >/dev/null || pkgs+=(gcc libc6-dev)
    apt-get install -y -q --no-install-recommends "${pkgs[@]}"
    [[ -x $PY2 ]] || die "$PY2 still missing after apt-get install"
}

# --- the suite's virtualenv ----------------------------------------------------
install_suite() {
    local marker=$VENV/.herald-autobahn-installed
    local stamp
    stamp="pip=$PIP_VERSION virtualenv=$VIRTUALENV_VERSION $(printf '%s' "$CONSTRAINTS" | sha256sum | cut -c1-16)"
    if [[ -f $marker && $(<"$marker") == "$stamp" && -x $VENV/bin/wstest ]]; then
        log "autobahntestsuite $SUITE_VERSION present in $VENV, skipping install"
        return
    fi
    log "installing autobahntestsuite $SUITE_VERSION into $VENV"
    mkdir -p "$CACHE"
    local wheels=$CACHE/wheels boot=$CACHE/bootstrap constraints=$CACHE/constraints.txt
    printf '%s' "$CONSTRAINTS" >"$constraints"
    local pip_whl=$wheels/pip-$PIP_VERSION-py2.py3-none-any.whl
    if [[ ! -f $pip_whl || ! -f $wheels/virtualenv-$VIRTUALENV_VERSION-py2.py3-none-any.whl ]]; then
        # Python 2.7 has no ensurepip here, so the host's Python 3 pip fetches the wheels.
        python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is needed to fetch the pip wheel"
        python3 -m pip download -q --no-deps --only-binary=:all: \
            "pip==$PIP_VERSION" "virtualenv==$VIRTUALENV_VERSION" -d "$wheels"
    fi
    # pip runs straight from its wheel; virtualenv needs its 2.7 dependencies
    # (scandir builds from source, hence setuptools first).
    local pip2=("$PY2" "$pip_whl/pip" --no-python-version-warning)
    if [[ -e $VENV && ! -f $VENV/pyvenv.cfg ]]; then
        die "refusing to replace $VENV: it is not a virtualenv"
    fi
    rm -rf "$boot" "$VENV"
    "${pip2[@]}" install -q --no-cache-dir --target "$boot" -c "$constraints" setuptools wheel
    PYTHONPATH=$boot "${pip2[@]}" install -q --no-cache-dir --target "$boot" --upgrade \
        -c "$constraints" --find-links "$wheels" virtualenv
    # Seeds pip 20.3.4 / setuptools 44.1.1 / wheel 0.37.1 from wheels bundled in virtualenv.
    PYTHONPATH=$boot VIRTUALENV_OVERRIDE_APP_DATA=$CACHE/virtualenv-data \
        "$PY2" -m virtualenv -q --no-periodic-update --no-download -p "$PY2" "$VENV"
    "$VENV/bin/pip" install -q --no-python-version-warning --no-cache-dir \
        -c "$constraints" "autobahntestsuite==$SUITE_VERSION"
    PYTHONWARNINGS=ignore "$VENV/bin/wstest" --help >/dev/null || die "wstest does not run"
    printf '%s\n' "$stamp" >"$marker"
}

t0=$SECONDS
install_python2
install_suite
log "tooling ready ($((SECONDS - t0))s)"

# --- the server under test ----------------------------------------------------
SERVER_PID='' WSTEST_PID=''
# shellcheck disable=SC2317 # only reached through the traps below
cleanup() {
    # timeout(1) runs in its own process group, so a signal to ours does not
    # reach wstest: stop it (timeout forwards TERM) and then the server.
    local pid
    for pid in $WSTEST_PID $SERVER_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${HERALD_CMD:-} ]]; then
    log "building herald (cargo build --release)"
    cargo build --release
fi

# The kernel hands out a free port; the window before the server binds it is tiny.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT

rm -rf "$OUT"
mkdir -p "$OUT"
if [[ -n ${HERALD_CMD:-} ]]; then
    cmd=${HERALD_CMD//\{port\}/$PORT}
    log "starting server: $cmd"
    # exec, so the recorded PID is the server itself and not a wrapping shell.
    bash -c "exec $cmd" </dev/null >"$OUT/server.log" 2>&1 &
else
    log "starting target/release/herald --mode echo on 127.0.0.1:$PORT"
    target/release/herald --mode echo --listen "127.0.0.1:$PORT" --max-message-size 16777216 \
        </dev/null >"$OUT/server.log" 2>&1 &
fi
SERVER_PID=$!

server_died() {
    printf 'autobahn: error: server exited early; last lines of %s:\n' "$OUT/server.log" >&2
    tail -n 20 "$OUT/server.log" >&2
    exit 1
}
for ((i = 0; ; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || server_died
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    ((i < 300)) || die "server did not accept connections on 127.0.0.1:$PORT within 30s"
    sleep 0.1
done
log "server (pid $SERVER_PID) is listening on 127.0.0.1:$PORT"

# --- the suite -----------------------------------------------------------------
export ALL PORT AUTOBAHN_CASES="${AUTOBAHN_CASES:-*}"
python3 - "$OUT/fuzzingclient.json" <<'EOF'
import json, os, sys
spec = {
    "outdir": "target/autobahn/report-0",
    "servers": [{"agent": "herald", "url": "ws://127.0.0.1:%s" % os.environ["PORT"]}],
    "cases": [c.strip() for c in os.environ["AUTOBAHN_CASES"].split(",") if c.strip()],
    # 12.* and 13.* exercise permessage-deflate; --all includes them.
    "exclude-cases": [] if os.environ["ALL"] == "1" else ["12.*", "13.*"],
    "exclude-agent-cases": {},
}
with open(sys.argv[1], "w") as f:
    json.dump(spec, f, indent=2)
EOF
# wstest never exits when no case matches, so resolve the patterns up front;
# the count also lets the summary notice a run that stopped part way.
PYTHONWARNINGS=ignore "$VENV/bin/python" - "$OUT/fuzzingclient.json" >"$OUT/cases.txt" <<'EOF'
import json, sys
from autobahntestsuite.fuzzing import CaseSet, CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories
cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
for case in cs.parseSpecCases(json.load(open(sys.argv[1]))):
    print(case)
EOF
NCASES=$(wc -l <"$OUT/cases.txt")
((NCASES > 0)) || die "no test case matches AUTOBAHN_CASES=$AUTOBAHN_CASES"
export NCASES

# The Python client, not the server, is the slow side (above all in the compression
# cases): shares of the cases run in parallel wstest processes against one server.
JOBS=${AUTOBAHN_JOBS:-$((ALL == 1 ? 2 : 1))}
((JOBS >= 1)) || die "AUTOBAHN_JOBS must be at least 1"
python3 - "$OUT" "$JOBS" <<'EOF'
import json, sys
out, jobs = sys.argv[1], int(sys.argv[2])
spec = json.load(open(out + "/fuzzingclient.json"))
cases = open(out + "/cases.txt").read().split()
for k in range(jobs):
    share = dict(spec, cases=cases[k::jobs], outdir="target/autobahn/report-%d" % k)
    share["exclude-cases"] = []
    json.dump(share, open("%s/fuzzingclient-%d.json" % (out, k), "w"), indent=2)
EOF

log "running wstest -m fuzzingclient on $NCASES cases in $JOBS process(es) (timeout ${TIMEOUT}s, logs in ${OUT#"$ROOT"/}/wstest-*.log)"
t1=$SECONDS
WSTEST_PIDS=()
for ((k = 0; k < JOBS; k++)); do
    # Python 2 deprecation warnings from cryptography etc. are noise here.
    PYTHONWARNINGS=ignore timeout --kill-after=30 "$TIMEOUT" \
        "$VENV/bin/wstest" -m fuzzingclient -s "$OUT/fuzzingclient-$k.json" \
        </dev/null >"$OUT/wstest-$k.log" 2>&1 &
    WSTEST_PIDS+=($!)
done
WSTEST_PID="${WSTEST_PIDS[*]}"
rc=0
for pid in "${WSTEST_PIDS[@]}"; do
    wait "$pid" || rc=$?
done
WSTEST_PID=
log "wstest finished in $((SECONDS - t1))s (exit $rc)"
if ((rc != 0)); then
    tail -n 30 "$OUT"/wstest-*.log >&2
    ((rc == 124 || rc == 137)) && die "wstest timed out after ${TIMEOUT}s"
    die "wstest exited with $rc"
fi
alive=1
kill -0 "$SERVER_PID" 2>/dev/null || alive=0

# --- summary -------------------------------------------------------------------
status=0
python3 - "$OUT"/report-*/index.json <<'EOF' || status=$?
import collections, json, os, sys

cases = {}
for path in sys.argv[1:]:
    if not os.path.exists(path):
        sys.exit("autobahn: error: no report at %s" % path)
    with open(path) as f:
        for case, result in json.load(f).get("herald", {}).items():
            result["reportfile"] = os.path.join(os.path.dirname(path), result.get("reportfile", ""))
            cases[case] = result
expected = int(os.environ["NCASES"])
if len(cases) < expected:
    sys.exit("autobahn: error: report has %d of the %d selected cases" % (len(cases), expected))

key = lambda case: tuple(int(p) for p in case.split("."))
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

def counts(field):
    c = collections.Counter(r.get(field, "?") for r in cases.values())
    extra = sorted(set(c) - set(order))
    return "  ".join("%s=%d" % (k, c[k]) for k in order + extra if c[k] or k in ("OK", "FAILED"))

def ids(pred):
    return sorted((c for c, r in cases.items() if pred(r)), key=key)

print("autobahn reports: %s" % " ".join(os.path.relpath(os.path.join(os.path.dirname(p), "index.html")) for p in sys.argv[1:]))
print("cases:          %d" % len(cases))
print("behavior:       %s" % counts("behavior"))
print("behaviorClose:  %s" % counts("behaviorClose"))

for label, field, value in (("NON-STRICT:", "behavior", "NON-STRICT"),
                            ("WRONG CODE:", "behaviorClose", "WRONG CODE")):
    found = ids(lambda r: r.get(field) == value)
    if found:
        print("%-15s %s" % (label, " ".join(found)))
# The HTML report paints these red; WRONG CODE (a close code outside the
# expected set) it shows as non-strict, so that alone does not fail the run.
failed = ids(lambda r: r.get("behavior") == "FAILED" or r.get("behaviorClose") in ("FAILED", "UNCLEAN"))
for case in failed:
    r = cases[case]
    print("FAILED %-8s behavior=%s behaviorClose=%s  %s"
          % (case, r.get("behavior"), r.get("behaviorClose"),
             os.path.relpath(r["reportfile"])))
skipped = len(set(ids(lambda r: r.get("behavior") == "UNIMPLEMENTED")) - set(failed))
passed = len(cases) - len(failed) - skipped
print("autobahn: %d passed, %d failed%s" % (passed, len(failed), ", %d skipped" % skipped if skipped else ""))
sys.exit(1 if failed else 0)
EOF
# A server that died under the suite fails the run even if every case it saw passed.
((alive)) || server_died
exit "$status"
