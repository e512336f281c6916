"""What a pipeline *is*: steps, their data dependencies and typed parameters.

A step's arguments name what it needs. An argument named like another step of the
pipeline receives that step's output (a data dependency, so the DAG is inferred);
every other argument is a pipeline parameter, typed by its annotation and validated
with pydantic before anything runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from kibble.core.names import validate_name
from kibble.errors import UsageError
from kibble.pipelines.graph import topological_levels
from kibble.pipelines.hashing import source_hash

F = TypeVar("F", bound=Callable[..., Any])


class Hold(Exception):
    """Raised by a gate step: end the run ``held`` (not ``failed``) with these reasons.

    A held run keeps every finished step. ``release(run_id, reason)`` lets it go on
    (audited), or the scheduler re-runs the gate step later and continues when it passes.
    """

    def __init__(self, reasons: Sequence[str] | str) -> None:
        self.reasons = [reasons] if isinstance(reasons, str) else [str(r) for r in reasons]
        if not self.reasons:
            raise UsageError("Hold needs at least one reason", hint="say why the run must wait")
        super().__init__("; ".join(self.reasons))


def hold(*reasons: str) -> Hold:
    """``raise hold("late data", "row count dropped 40%")`` in a gate step."""
    return Hold(list(reasons))


@dataclass(frozen=True)
class Step:
    """A function plus how to run it. Create with ``@step``."""

    func: Callable[..., Any]
    name: str
    retries: int = 0
    backoff_s: float = 0.5
    timeout_s: float | None = None
    cache: bool = True
    tables: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    cpus: float = 1.0
    memory_mb: int | None = None
    arguments: tuple[str, ...] = field(default=())
    source: str = ""

    @property
    def ref(self) -> str:
        """``module:qualname``: how another process finds the function."""
        return f"{self.func.__module__}:{self.func.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling a step calls the plain function (handy in notebooks and unit tests)."""
        return self.func(*args, **kwargs)


@overload
def step(func: F, /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    backoff_s: float = 0.5,
    timeout_s: float | None = None,
    cache: bool = True,
    tables: Sequence[str] = (),
    depends_on: Sequence[str] = (),
    cpus: float = 1.0,
    memory_mb: int | None = None,
) -> Callable[[F], Step]: ...


def step(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    backoff_s: float = 0.5,
    timeout_s: float | None = None,
    cache: bool = True,
    tables: Sequence[str] = (),
    depends_on: Sequence[str] = (),
    cpus: float = 1.0,
    memory_mb: int | None = None,
) -> Step | Callable[[F], Step]:
    """Declare a step. ``tables`` are tables it reads (their versions join the cache key
    and the lineage); ``depends_on`` are other things its result depends on (a feature
    version, a model name); ``cpus``/``memory_mb`` are what Ray reserves for it."""

    def wrap(fn: F) -> Step:
        if retries < 0 or (timeout_s is not None and timeout_s <= 0):
            raise UsageError("retries must be >= 0 and timeout_s > 0", hint="fix the @step args")
        return Step(
            func=fn,
            name=name or fn.__name__,
            retries=retries,
            backoff_s=backoff_s,
            timeout_s=timeout_s,
            cache=cache,
            tables=tuple(tables),
            depends_on=tuple(depends_on),
            cpus=cpus,
            memory_mb=memory_mb,
            arguments=tuple(inspect.signature(fn).parameters),
            source=source_hash(fn),
        )

    return wrap(func) if func is not None else wrap


class Pipeline:
    """A named DAG of steps. ``pipeline.run(...)`` runs it here; the CLI and the
    scheduler run the same object by reference (``module:attribute``)."""

    def __init__(self, name: str, steps: Sequence[Step], *, description: str = "") -> None:
        self.name = validate_name(name, "pipeline name")
        self.description = description
        self.steps: dict[str, Step] = {}
        for item in steps:
            if not isinstance(item, Step):
                raise UsageError(
                    f"{item!r} is not a step", hint="decorate the function with @kibble.step"
                )
            if item.name in self.steps:
                raise UsageError(f"two steps are named {item.name!r}", hint="rename one")
            self.steps[item.name] = item
        self.deps: dict[str, list[str]] = {
            s.name: [a for a in s.arguments if a in self.steps] for s in self.steps.values()
        }
        self.levels = topological_levels(self.deps)
        self.params_model = self._params_model()

    def _params_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for item in self.steps.values():
            hints = get_type_hints(item.func)
            signature = inspect.signature(item.func)
            for arg, parameter in signature.parameters.items():
                if arg in self.steps:
                    continue
                annotation = hints.get(arg, Any)
                default = ... if parameter.default is inspect.Parameter.empty else parameter.default
                if arg in fields and fields[arg][1] is ... and default is not ...:
                    continue
                fields[arg] = (annotation, default)
        model = create_model(  # type: ignore[call-overload]
            f"{self.name.title()}Params", __config__=ConfigDict(extra="forbid"), **fields
        )
        return cast(type[BaseModel], model)

    @property
    def order(self) -> list[str]:
        return [name for level in self.levels for name in level]

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Typed, defaulted parameters as JSON-able data, or a UsageError naming the bad one."""
        try:
            model = self.params_model.model_validate(dict(params))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise UsageError(
                f"parameter {where} of pipeline {self.name!r}: {first['msg']}",
                hint=f"valid parameters: {', '.join(self.params_model.model_fields) or 'none'}",
            ) from exc
        return model.model_dump(mode="json")

    def run(self, params: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Run now, in this process (see ``kibble.pipelines.run_pipeline`` for options)."""
        from kibble.pipelines.runner import run_pipeline

        return run_pipeline(self, params or {}, **options)

    def resume(self, run_id: str, **options: Any) -> Any:
        from kibble.pipelines.runner import resume_run

        return resume_run(self, run_id, **options)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={self.order})"
