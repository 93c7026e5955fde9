"""Real test doubles for the outside world (HTTP servers on 127.0.0.1), never mocks of assay's own code."""

from tests.support.llm_server import RecordedRequest, Reply, ScriptedLLMServer, by_prompt, sequence

__all__ = ["RecordedRequest", "Reply", "ScriptedLLMServer", "by_prompt", "sequence"]
