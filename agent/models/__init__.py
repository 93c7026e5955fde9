"""Model adapters behind one async protocol."""

from agent.models.base import ApiModel, Model, ModelSettings, make_model

__all__ = ["ApiModel", "Model", "ModelSettings", "make_model"]
