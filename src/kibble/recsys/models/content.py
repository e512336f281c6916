"""Content-based scores: TF-IDF of item text, category, species and price band, matched
against the weighted profile of the items a user interacted with. Needs no interactions
on the item side, so it reaches new and seasonal items that CF cannot."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from kibble.recsys.base import (
    Arrays,
    FloatArray,
    IntArray,
    Recommender,
    csr_arrays,
    csr_from,
    register,
)
from kibble.recsys.catalog import ItemCatalog, price_band
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence


def item_documents(items: ItemCatalog) -> list[str]:
    """One document per item: its text plus tokens for category path, species, price."""
    docs = []
    for text, category, species, price in zip(
        items.texts, items.category, items.species, items.price.tolist(), strict=True
    ):
        tokens = [text]
        if category:
            path = category.replace(">", "/").split("/")
            tokens += ["cat_" + "_".join(path[: i + 1]).replace(" ", "_") for i in range(len(path))]
        if species:
            tokens.append(f"species_{species}")
        tokens.append(price_band(float(price)))
        docs.append(" ".join(t for t in tokens if t))
    return docs


def tfidf_matrix(items: ItemCatalog | None, n_items: int, max_features: int) -> sp.csr_matrix:
    """L2-normalised item x term matrix; all zeros when there is no content at all."""
    docs = item_documents(items) if items is not None else []
    if not any(docs):
        return sp.csr_matrix((n_items, 1), dtype=np.float32)
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        max_features=max_features,
        token_pattern=r"(?u)\b\w[\w-]*\b",  # noqa: S106
    )
    matrix = vectorizer.fit_transform(docs)
    return sp.csr_matrix(normalize(matrix), dtype=np.float32)


@register
class Content(Recommender):
    """Cosine between an item's TF-IDF vector and the user's history profile."""

    name = "content"
    defaults: ClassVar[dict[str, Any]] = {"max_features": 50_000}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.features: sp.csr_matrix = sp.csr_matrix((0, 1), dtype=np.float32)

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        self.features = tfidf_matrix(items, len(self.item_ids), int(self._params["max_features"]))

    def profiles(self, rows: IntArray) -> sp.csr_matrix:
        """Users' normalised taste vectors in term space."""
        weights = confidence(self.history[rows], "log", 1.0)
        return sp.csr_matrix(normalize(weights @ self.features), dtype=np.float32)

    def _score(self, rows: IntArray) -> FloatArray:
        # Dense over the terms these users' profiles use: a sparse x sparse product is
        # dense anyway (every item shares a term with someone), and ~50x slower to build.
        profiles = self.profiles(rows)
        terms = np.unique(profiles.indices)
        scores = self.features[:, terms] @ profiles[:, terms].toarray().T
        return np.asarray(scores, dtype=np.float32).T

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        targets = self.features if others is None else self.features[others]
        return np.asarray((targets @ self.features[item].T).toarray(), dtype=np.float32).ravel()

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, csr_arrays("features", self.features)

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.features = csr_from("features", arrays)
