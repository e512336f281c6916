"""Signed request ids: what the server sealed reads back; anything altered does not."""

from __future__ import annotations

import pytest

from kibble.serving.requestids import MAX_LENGTH, Attribution, RequestIds

KEY = b"k" * 32


def test_an_issued_id_verifies_to_its_arm_and_propensity() -> None:
    ids = RequestIds(KEY, "default", "recs")
    for arm, p in [("recs:1", 0.05), ("recs:12345", 1.0), ("recs:3", 1.23456789e-05)]:
        request_id = ids.issue(arm, p)
        assert len(request_id) <= MAX_LENGTH
        sealed = ids.verify(request_id)
        assert sealed == Attribution(arm, pytest.approx(p, rel=1e-5))


def test_altered_foreign_or_made_up_ids_do_not_verify() -> None:
    ids = RequestIds(KEY, "default", "recs")
    real = ids.issue("recs:1", 0.5)
    nonce, _, rest = real.split("_", 2)
    forged = [
        f"{nonce}_2_{rest}",  # another arm, same signature
        real[:-1] + ("A" if real[-1] != "A" else "B"),
        RequestIds(b"x" * 32, "default", "recs").issue("recs:1", 0.5),  # another key
        RequestIds(KEY, "other", "recs").issue("recs:1", 0.5),  # another deployment
        "0" * 32,
        "",
        ".",
        "a" * 200,
    ]
    assert [ids.verify(f) for f in forged] == [None] * len(forged)


def test_only_the_deployments_model_is_issued() -> None:
    with pytest.raises(ValueError, match="not a version"):
        RequestIds(KEY, "default", "recs").issue("other:1", 0.5)
