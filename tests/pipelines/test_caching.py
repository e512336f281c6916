"""Cache hits and misses on each component of the key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kibble.context import Context
from kibble.pipelines import Pipeline, RunResult, step
from kibble.store.models import Dataset, TableVersion
from kibble.store.repositories.pipelines import RunRecords


def cached_steps(ctx: Context, result: RunResult) -> dict[str, bool]:
    with ctx.store.session() as session:
        return {s.name: s.cached for s in RunRecords(session, ctx.project_id).steps(result.run_id)}


def add_table_version(ctx: Context, name: str, version: int) -> None:
    with ctx.store.session() as session:
        dataset = session.query(Dataset).filter_by(project_id=ctx.project_id, name=name).first()
        if dataset is None:
            dataset = Dataset(project_id=ctx.project_id, name=name, uri=f"lake/{name}")
            session.add(dataset)
            session.flush()
        session.add(TableVersion(project_id=ctx.project_id, dataset_id=dataset.id, version=version))


def counting_pipeline(calls: list[str], **options: Any) -> Pipeline:
    @step(tables=["events"], **options)
    def source(k: int = 1) -> int:
        calls.append("source")
        return k

    @step
    def sink(source: int, scale: int = 10) -> int:
        calls.append("sink")
        return source * scale

    return Pipeline("cached", [source, sink])


def test_rerun_with_same_key_hits_and_reuses_outputs(context: Context) -> None:
    calls: list[str] = []
    pipe = counting_pipeline(calls)
    first = pipe.run({"k": 2}, context=context)
    second = pipe.run({"k": 2}, context=context)
    assert calls == ["source", "sink"]
    assert cached_steps(context, first) == {"source": False, "sink": False}
    assert cached_steps(context, second) == {"source": True, "sink": True}
    assert second.output("sink") == 20
    assert second.outputs == first.outputs


def test_param_change_misses_only_the_steps_using_it(context: Context) -> None:
    calls: list[str] = []
    pipe = counting_pipeline(calls)
    pipe.run({"k": 2}, context=context)
    calls.clear()
    pipe.run({"k": 2, "scale": 3}, context=context)
    assert calls == ["sink"]


def test_input_digest_change_misses_downstream(context: Context) -> None:
    calls: list[str] = []
    pipe = counting_pipeline(calls)
    pipe.run({"k": 2}, context=context)
    calls.clear()
    pipe.run({"k": 3}, context=context)  # source output changes, so sink's input digest does
    assert calls == ["source", "sink"]


def test_table_version_change_misses(context: Context) -> None:
    calls: list[str] = []
    pipe = counting_pipeline(calls)
    add_table_version(context, "events", 1)
    pipe.run(context=context)
    calls.clear()
    pipe.run(context=context)
    assert calls == []
    add_table_version(context, "events", 2)
    result = pipe.run(context=context)
    assert calls == ["source"]  # same output digest, so sink still hits
    with context.store.session() as session:
        step = RunRecords(session, context.project_id).step(result.run_id, "source")
        assert step is not None and step.inputs["tables"] == {"events": 2}


def test_source_change_misses(context: Context) -> None:
    calls: list[str] = []

    def make(body: Callable[[], int]) -> Pipeline:
        return Pipeline("edited", [step(name="value")(body)])

    def v1() -> int:
        calls.append("v1")
        return 1

    def v2() -> int:
        calls.append("v2")
        return 1

    make(v1).run(context=context)
    make(v1).run(context=context)
    make(v2).run(context=context)
    assert calls == ["v1", "v2"]


def test_declared_dependency_change_misses(context: Context) -> None:
    calls: list[str] = []
    counting_pipeline(calls, depends_on=["features-v1"]).run(context=context)
    counting_pipeline(calls, depends_on=["features-v1"]).run(context=context)
    counting_pipeline(calls, depends_on=["features-v2"]).run(context=context)
    assert calls.count("source") == 2


def test_no_cache_and_cache_false_opt_out(context: Context) -> None:
    calls: list[str] = []
    pipe = counting_pipeline(calls)
    pipe.run(context=context)
    pipe.run(context=context, no_cache=True)
    assert calls == ["source", "sink"] * 2
    calls.clear()
    uncached = counting_pipeline(calls, cache=False)
    uncached.run(context=context)
    uncached.run(context=context)
    assert calls == ["source", "source"]  # sink's key still matches
