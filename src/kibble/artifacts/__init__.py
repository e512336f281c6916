"""Content-addressed artifact store and safe serialisation formats."""

from kibble.artifacts.formats import arrays_from_bytes, arrays_to_bytes, refuse_pickle
from kibble.artifacts.keys import check_digest, check_key
from kibble.artifacts.store import ArtifactRef, ArtifactStore, sha256_digest

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "arrays_from_bytes",
    "arrays_to_bytes",
    "check_digest",
    "check_key",
    "refuse_pickle",
    "sha256_digest",
]
