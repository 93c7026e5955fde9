"""Loss-function discovery tasks (LLM-Squared/DiscoPOP style); importing this registers them."""

from tasks.loss import noisy_digits_task, preference_task

__all__ = ["noisy_digits_task", "preference_task"]
