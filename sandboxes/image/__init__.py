"""Building the sandbox image."""
