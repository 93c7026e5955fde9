"""Model adapters behind one async protocol."""

from agent.kernel.model import Model
from agent.models.base import ApiModel, ModelSettings, make_model

__all__ = ["ApiModel", "Model", "ModelSettings", "make_model"]
