"""Loss-discovery tasks (LLM-Squared/DiscoPOP style): noisy digits and synthetic preference.

Each task module registers itself through its `assay.tasks` entry point."""
