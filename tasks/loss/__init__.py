"""Loss-discovery tasks (LLM-Squared/DiscoPOP style): noisy digits and synthetic preference (each registers itself)."""
