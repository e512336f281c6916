"""Built-in recommenders; importing this package registers them by name."""

from kibble.recsys.models.als import ALS
from kibble.recsys.models.content import Content
from kibble.recsys.models.hybrid import Hybrid
from kibble.recsys.models.item_knn import ItemKNN
from kibble.recsys.models.popularity import Popularity

__all__ = ["ALS", "Content", "Hybrid", "ItemKNN", "Popularity"]
