"""Models a data scientist might bring that are not plain scikit-learn (importable, so the
probe worker and serving can load them)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np


class RaisesOnVisits:
    """Predicts from pages, but raises on rows with a given number of visits."""

    def __init__(self, visits: int = 13) -> None:
        self.visits = visits

    def predict(self, frame: Any) -> Any:
        if (frame["visits"] == self.visits).any():
            raise ValueError(f"cannot score visits={self.visits}")
        return (frame["pages"] > 6).astype(np.int64).to_numpy()


class MatchesCountry:
    """Keeps a compiled regular expression: skops cannot save one, pickle can."""

    def __init__(self) -> None:
        self.pattern = re.compile("^de$")

    def predict(self, frame: Any) -> Any:
        return np.array([1 if self.pattern.match(c) else 0 for c in frame["country"]])
