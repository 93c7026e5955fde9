"""The local provider without its runtime: importing works, building a model says how to install it."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_need_the_runtime() -> None:
    """Where llama-cpp-python is absent, importing the provider works and building a model says what to do."""
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "from agent.models import make_model\n"
        "from agent.models.local_model import LocalRuntimeMissing\n"
        "try:\n"
        "    make_model('local/smollm2-135m')\n"
        "except LocalRuntimeMissing as e:\n"
        "    print('MISSING', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "MISSING" in proc.stdout
    assert "GGML_NATIVE=OFF" in proc.stdout
