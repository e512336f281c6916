"""kibble: the factory around a model, from ingestion to guarded retraining.

The public API lives here; everything else is internal and may move.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kibble")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+local"

from kibble.client import Client
from kibble.config import Settings, load_settings
from kibble.errors import KibbleError
from kibble.pipelines import Hold, Pipeline, hold, release, resume_run, run_pipeline, step

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
