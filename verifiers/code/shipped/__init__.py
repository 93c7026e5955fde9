"""Programs shipped into the sandbox: self-contained (standard library, numpy, torch and their siblings only)."""
