"""The code family: run a candidate against tests in the sandbox (`run.py`), grade it outside (`verifier.py`).

The problem it needs is data: a `CodeSpec` of test cases. A task with a host-side check of its own (circle
packing) builds its verifier on `run_code` and keeps it with the task."""
