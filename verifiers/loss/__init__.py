"""The loss family (LLM-Squared/DiscoPOP): gate and train with a candidate loss in the sandbox, grade on
the host. The trusted trainer and the candidate loss run in two processes there (`shipped/harness.py`,
`shipped/loss_server.py`); `problem.py` is the protocol a loss task implements."""
