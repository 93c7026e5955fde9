"""The typed exceptions of assay.

A candidate's own failure (wrong answer, crash, timeout) is *data*: a `Verdict`. Exceptions are reserved for
failures of the infrastructure (the model API, the sandbox, a verifier's own machinery) and for bad input
from the user, so callers can tell "the hypothesis was bad" from "we could not judge it".
"""

from __future__ import annotations


class AssayError(Exception):
    """Base of every error assay raises on purpose; the CLI prints these as one line."""


class ConfigError(AssayError):
    """The user's configuration, flags or task selection are invalid."""


class UnknownNameError(ConfigError):
    """A name (task, strategy, model provider, sandbox) is not in its registry."""


class ModelError(AssayError):
    """The model could not produce a completion (after retries, or for a reason retrying cannot fix)."""


class TransientModelError(ModelError):
    """A model failure worth retrying (429, 5xx, timeout, connection reset, malformed or empty reply)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MissingCredentialsError(ModelError, ConfigError):
    """A provider needs an API key that is not set; the message names the environment variable."""


class SandboxError(AssayError):
    """The sandbox itself failed (daemon gone, container died); the job should be retried, not scored."""


class VerifierError(AssayError):
    """A verifier's own machinery failed, independently of the candidate."""


class ParseError(AssayError):
    """A completion could not be turned into a hypothesis; becomes an `invalid` verdict with this message."""


class StoreError(AssayError):
    """The run store cannot be opened or written."""
