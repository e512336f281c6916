"""Recommenders: one interface, safe artifacts, offline evaluation.

>>> from kibble.recsys import Interactions, create_model, save_model, load_model
"""

from kibble.recsys.base import (
    RecContext,
    Recommendation,
    Recommender,
    create_model,
    load_model,
    model_names,
    save_model,
)
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import DEFAULT_EVENT_WEIGHTS, Interactions

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "Interactions",
    "ItemCatalog",
    "RecContext",
    "Recommendation",
    "Recommender",
    "create_model",
    "load_model",
    "model_names",
    "save_model",
]
