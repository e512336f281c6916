"""Batch scoring writes a logged model's answers as a new version of a lake table."""

from __future__ import annotations

import kibble
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.models.batch import score_table
from tests.models.shapes import FEATURES, classifier, visitors, write_table


def test_score_table_writes_a_versioned_table_of_answers(context: Context) -> None:
    train, held = visitors(300), visitors(50, seed=1)
    write_table(context, held)
    kibble.log_model(classifier(train), "buyers", training_frame=train[FEATURES], context=context)
    first = score_table(context, "buyers", "visitors", "visitor_scores", keys=["visitor_id"])
    again = score_table(context, "buyers", "visitors", "visitor_scores", keys=["visitor_id"])
    assert (first["rows"], first["model"]) == (50, "buyers:1")
    assert again["version"] == first["version"] + 1
    frame = Tables(context).polars("visitor_scores")
    assert frame.columns == ["visitor_id", "prediction", "score", "model_version"]
    assert frame["score"].is_between(0, 1).all() and frame.height == 50
