"""A "will this visitor buy this week" classifier, trained in plain scikit-learn, and the
lake table it is evaluated on; shared by the models tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from kibble.context import Context
from kibble.data.contracts import Contract
from kibble.data.contracts.model import Column
from kibble.data.tables import Tables

FEATURES = ["pages", "visits", "country"]


def visitors(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pages = rng.gamma(2.0, 3.0, n)
    visits = rng.integers(1, 20, n)
    country = rng.choice(["de", "fr", "nl"], n)
    logit = 0.25 * pages + 0.1 * visits - 3 + (country == "de") * 0.8
    bought = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(
        {
            "visitor_id": [f"v{i}" for i in range(n)],
            "pages": pages,
            "visits": visits.astype(np.int64),
            "country": country,
            "bought": bought,
        }
    )


def classifier(frame: pd.DataFrame) -> Any:
    """Plain scikit-learn: no kibble code in the model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("country", OneHotEncoder(handle_unknown="ignore"), ["country"])],
        remainder="passthrough",
    )
    model = make_pipeline(encode, HistGradientBoostingClassifier(max_iter=30, random_state=0))
    return model.fit(frame[FEATURES], frame["bought"])


def write_table(context: Context, frame: pd.DataFrame, name: str = "visitors") -> None:
    tables = Tables(context)
    tables.register(
        Contract(
            name=name,
            columns=[
                Column(name="visitor_id", type="string"),
                Column(name="pages", type="float64"),
                Column(name="visits", type="int64"),
                Column(name="country", type="string"),
                Column(name="bought", type="int64"),
            ],
        )
    )
    tables.write(name, pl.from_pandas(frame), mode="overwrite")
