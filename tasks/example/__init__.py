"""An example task plugin: the smallest complete task (see docs/adding-a-domain.md)."""
