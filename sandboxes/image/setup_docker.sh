#!/usr/bin/env bash
# Make the docker sandbox available on a fresh Debian machine (CI): install docker.io and debootstrap,
# start dockerd in the background when none answers (log: /tmp/dockerd.log), then build the sandbox image
# (reused when its recipe label is current). Also python3-numpy/python3-sympy for the process sandbox, whose
# jobs run the system python3 when the host runs as root. Exits non-zero, saying why, if Docker cannot run.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v bwrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap \
        bubblewrap python3-numpy python3-sympy >/dev/null || { echo "setup_docker: apt-get install failed" >&2; exit 1; }
fi

if ! docker info >/dev/null 2>&1; then
    setsid nohup dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "setup_docker: dockerd did not start, see /tmp/dockerd.log" >&2; exit 1; }
fi

"$PY" -m typer sandboxes.cli run build || exit 1
"$PY" -m typer sandboxes.cli run check
