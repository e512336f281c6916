"""Safety probe against real worker subprocesses loading allowlisted test models."""

from __future__ import annotations

import json

import pytest

from kibble.context import Context
from kibble.registry.probe import run_probe
from tests.registry.bad_models import ITEMS

MOD = "tests.registry.bad_models"


def _probe(context: Context, cls: str, *, allow: bool = True, load: int = 50) -> dict[str, bool]:
    name = f"{MOD}:{cls}"
    digest = context.save_artifact(json.dumps({"class": name}).encode(), "application/json").digest
    report = run_probe(
        context,
        digest,
        known_users=["alice", "bob", "carol"],
        valid_items=set(ITEMS),
        allow=[name] if allow else [],
        load_requests=load,
    )
    return {c.name: c.passed for c in report.checks} | {"overall": report.passed}


@pytest.mark.slow
def test_good_model_passes_and_broken_ones_fail(context: Context) -> None:
    good = _probe(context, "GoodModel")
    assert good["overall"], good
    assert good["malformed_rejected"] and good["p99_latency_ms"] and good["rss_mb"]
    assert _probe(context, "CrashOnUnknownUser") == {"no_crash": False, "overall": False}
    dup = _probe(context, "DuplicateItems")
    assert dup["no_crash"] and not dup["exact_k_unique_valid"]
    slow = _probe(context, "SlowModel", load=10)
    assert not slow["p99_latency_ms"] and not slow["overall"]


def test_class_outside_allowlist_is_refused(context: Context) -> None:
    assert _probe(context, "GoodModel", allow=False) == {"loads": False, "overall": False}
