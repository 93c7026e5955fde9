"""The loss family (LLM-Squared/DiscoPOP): gate and train with a candidate loss in the sandbox, grade on
the host. `problem.py` is the protocol a loss task implements."""
