"""The temporal split every offline number rests on: train before a cut, test after.

Pure (no I/O). Evaluation, tuning and the learned blend all carve their validation
periods with it, so no choice ever sees an event from the period it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from kibble.errors import UsageError
from kibble.recsys.interactions import Interactions


@dataclass(frozen=True)
class Split:
    train: Interactions
    test: Interactions
    cut: float

    @property
    def cut_date(self) -> datetime:
        return datetime.fromtimestamp(self.cut, UTC)


def temporal_split(
    interactions: Interactions,
    *,
    test_fraction: float = 0.2,
    cut: float | datetime | None = None,
) -> Split:
    """Events before ``cut`` train, the rest test; default cut: the (1 - fraction) quantile
    of event times. Both halves keep the same id mappings."""
    times = interactions.times
    if isinstance(cut, datetime):
        cut = (cut if cut.tzinfo else cut.replace(tzinfo=UTC)).timestamp()
    if cut is None:
        if not 0.0 < test_fraction < 1.0:
            raise UsageError(
                f"test fraction {test_fraction} is not between 0 and 1",
                hint="use e.g. --test-fraction 0.2",
            )
        cut = float(np.quantile(times, 1.0 - test_fraction)) if len(times) else 0.0
    before = times < cut
    if not before.any() or before.all():
        raise UsageError(
            "the temporal split leaves one side empty",
            hint="check the time column (are all timestamps equal?) or move the cut",
        )
    return Split(interactions.select(before), interactions.select(~before), float(cut))


def relevant_items(test: Interactions) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """Users with at least one positive test event, and their test items."""
    matrix = test.matrix
    users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    items = [
        matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]].astype(np.int64) for u in users
    ]
    return users.astype(np.int64), items
