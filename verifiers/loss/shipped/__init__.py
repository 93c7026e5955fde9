"""Programs shipped into the sandbox as text: self-contained (standard library, numpy, torch and
their siblings in the job directory only; tests/architecture checks it)."""
