"""The recommender tests' small shop, for the gate's offline evidence."""

from tests.recsys.conftest import shop

__all__ = ["shop"]
