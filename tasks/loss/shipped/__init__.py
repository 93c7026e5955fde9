"""Scripts shipped into the sandbox and run there next to the candidate; the host only reads them as text."""
