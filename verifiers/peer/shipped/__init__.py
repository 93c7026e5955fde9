"""Programs shipped into the sandbox as text: self-contained (standard library and numpy only;
tests/architecture checks it)."""
