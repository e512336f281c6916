"""Built-in recommenders; importing this package registers them by name."""

from kibble.recsys.models.als import ALS
from kibble.recsys.models.content import Content
from kibble.recsys.models.ease import EASE
from kibble.recsys.models.hybrid import Hybrid
from kibble.recsys.models.item_knn import ItemKNN
from kibble.recsys.models.popularity import Popularity
from kibble.recsys.models.rp3beta import RP3beta
from kibble.recsys.models.sequence import Sequence

__all__ = ["ALS", "EASE", "Content", "Hybrid", "ItemKNN", "Popularity", "RP3beta", "Sequence"]
