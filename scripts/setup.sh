#!/usr/bin/env bash
# Install everything the streamer and its tests need: Debian packages (when root),
# a Python venv from requirements.txt, and the client's npm packages.
# Idempotent: re-running it only installs what is missing or changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# chromium: browser tests. nftables, iptables, libnetfilter-queue-dev: link emulation (bench profiles).
# coturn: the TURN server of the NAT lab and its tests (they start their own; see install_debian).
# janus: the SFU (server.py --sfu janus starts its own with its own configuration; never the service).
# openssl: self-signed certificates for the HTTPS tests.
WANT_DEBIAN="${SETUP_DEBIAN_PACKAGES:-chromium nftables iptables libnetfilter-queue-dev coturn janus openssl}"

install_debian() {
    local missing=()
    for pkg in $WANT_DEBIAN; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: not root, cannot install Debian packages: ${missing[*]} (tests that need them will fail)" >&2
        return 0
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    # coturn's and janus's packages would start and enable system-wide servers; the streamer and the tests
    # run their own instances with their own config. Keep the packages from starting services while installing.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        [ "$created_policy" -eq 1 ] && rm -f "$policy"; return 1; }
    [ "$created_policy" -eq 1 ] && rm -f "$policy"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        for service in coturn janus; do  # installed for the streamer and the tests, not as services
            [[ " ${missing[*]} " == *" $service "* ]] && systemctl disable --now "$service" >/dev/null 2>&1 || true
        done
    fi
}

install_python() {
    local py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup: Python 3.11 or newer is needed (found: $("$py" --version 2>&1)); set PYTHON=..." >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "setup: creating .venv"
        "$py" -m venv .venv
    fi
    local stamp=.venv/.requirements.sha
    local want
    want="$(sha256sum requirements.txt | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup: installing Python packages"
        .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
        echo "$want" > "$stamp"
    fi
    # numba compiles the point coder and the synthetic scene's ray caster once and caches them beside the code
    # (codec/__pycache__, data/__pycache__), so that neither the streamer's first frame nor the first test
    # waits for them
    echo "setup: compiling the point coder and the synthetic scene (numba; cached after the first time)"
    .venv/bin/python -c "from codec import spherical; spherical.warm_up(encoding=True)
from data.synthetic import SyntheticSource; SyntheticSource().frame(0)"
    # link emulation needs libnetfilter_queue's headers to build; without them bench profiles are unavailable
    if [ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] && ! .venv/bin/python -c "import netfilterqueue" 2>/dev/null; then
        echo "setup: installing link-emulation packages"
        .venv/bin/pip install -q --disable-pip-version-check -r requirements-netem.txt
    fi
}

install_ouster() {
    # ouster-sdk pins rosbags 0.9.23, the recordings need 0.11: it gets a venv of its own (data/ouster.py)
    local py="${PYTHON:-python3}"
    if [ ! -x .venv-ouster/bin/python ]; then
        echo "setup: creating .venv-ouster (ouster-sdk)"
        "$py" -m venv .venv-ouster
    fi
    local stamp=.venv-ouster/.requirements.sha
    local want
    want="$(sha256sum requirements-ouster.txt | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup: installing ouster-sdk"
        .venv-ouster/bin/pip install -q --disable-pip-version-check -r requirements-ouster.txt
        echo "$want" > "$stamp"
    fi
}

install_npm() {
    if ! command -v npm >/dev/null; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            echo "setup: installing Node.js and npm (Debian packages)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
        else
            echo "setup: npm not found: install Node.js (18 or newer) and npm, then re-run" >&2
            exit 1
        fi
    fi
    local stamp=client/node_modules/.package-lock.sha
    local want
    want="$(sha256sum client/package-lock.json | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup: installing client packages (npm ci)"
        (cd client && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
    # the bundles the pages load (client/build.mjs): rebuilt every time, a second or two
    (cd client && npm run --silent build)
}

if [ "${1:-}" != "--no-debian" ]; then install_debian; fi
install_python
install_ouster
install_npm
