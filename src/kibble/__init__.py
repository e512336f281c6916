"""kibble: the factory around a model, from ingestion to guarded retraining.

The public API lives here; everything else is internal and may move.
"""

from typing import TYPE_CHECKING, Any

from kibble.errors import KibbleError

if TYPE_CHECKING:
    from kibble.client import Client
    from kibble.config import Settings, load_settings
    from kibble.pipelines import Hold, Pipeline, hold, release, resume_run, run_pipeline, step

_LAZY = {
    "Client": "kibble.client",
    "Settings": "kibble.config",
    "load_settings": "kibble.config",
    **dict.fromkeys(
        ("Hold", "Pipeline", "hold", "release", "resume_run", "run_pipeline", "step"),
        "kibble.pipelines",
    ),
}


def __getattr__(name: str) -> Any:
    """Import on first use: every `kibble` command starts faster without the whole API."""
    if name == "__version__":  # importlib.metadata is slow to import; most commands never ask
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kibble")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            return "0.0.0+local"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "Client",
    "Hold",
    "KibbleError",
    "Pipeline",
    "Settings",
    "__version__",
    "hold",
    "load_settings",
    "release",
    "resume_run",
    "run_pipeline",
    "step",
]
