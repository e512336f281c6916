"""Content-addressed, immutable artifacts on a local folder or any fsspec URL.

Layout: ``<root>/<project>/blobs/sha256/<2 hex>/<64 hex>``. Writes land in a temporary
name and are renamed into place, so a crash never leaves a half blob under a digest;
reads hash the bytes again, so corruption is caught instead of trained on.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from kibble.artifacts.keys import blob_key, check_key
from kibble.core.names import validate_project_name
from kibble.errors import IntegrityError, NotFoundError

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactRef:
    digest: str
    size: int
    media_type: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ArtifactStore:
    def __init__(self, root_url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root_url = root_url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.root_url, **(storage_options or {}))
        self.is_local = isinstance(self.fs, LocalFileSystem)
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, project: str, key: str) -> str:
        return f"{self.root}/{validate_project_name(project)}/{check_key(key)}"

    # -- content-addressed blobs ------------------------------------------------------

    def put_bytes(self, project: str, data: bytes, media_type: str) -> ArtifactRef:
        digest = sha256_digest(data)
        path = self._path(project, blob_key(digest))
        if not self.fs.exists(path):
            self._write_atomic(path, data)
        return ArtifactRef(digest, len(data), media_type)

    def put_file(self, project: str, source: str | Path, media_type: str) -> ArtifactRef:
        hasher, size = hashlib.sha256(), 0
        with open(source, "rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        digest = "sha256:" + hasher.hexdigest()
        path = self._path(project, blob_key(digest))
        if not self.fs.exists(path):
            with open(source, "rb") as handle:
                self._write_atomic(path, handle)
        return ArtifactRef(digest, size, media_type)

    def get_bytes(self, project: str, digest: str) -> bytes:
        path = self._path(project, blob_key(digest))
        try:
            data: bytes = self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"artifact {digest} is not in project {project!r}",
                hint="check the digest and the project (`kibble artifacts list`)",
            ) from exc
        if sha256_digest(data) != digest:
            raise IntegrityError(
                f"artifact {digest} is corrupted: its bytes no longer match their digest",
                hint="restore it from a backup or re-run the step that produced it",
            )
        return data

    def local_path(self, project: str, digest: str, cache_dir: Path | None = None) -> Path:
        """A verified local file with the blob's bytes (downloads remote blobs)."""
        data = self.get_bytes(project, digest)
        if self.is_local:
            return Path(self._path(project, blob_key(digest)))
        cache = cache_dir or Path(tempfile.gettempdir()) / "kibble-artifacts"
        target = cache / project / digest.split(":", 1)[1]
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return target

    def exists(self, project: str, digest: str) -> bool:
        return bool(self.fs.exists(self._path(project, blob_key(digest))))

    def delete(self, project: str, digest: str) -> None:
        path = self._path(project, blob_key(digest))
        if self.fs.exists(path):
            self.fs.rm_file(path)

    def project_bytes(self, project: str) -> int:
        """Storage used by a project (for quotas)."""
        base = f"{self.root}/{validate_project_name(project)}"
        if not self.fs.exists(base):
            return 0
        return int(sum(info.get("size", 0) for info in self.fs.find(base, detail=True).values()))

    # -- writing -------------------------------------------------------------------

    def _write_atomic(self, path: str, data: bytes | IO[bytes]) -> None:
        if not self.is_local:
            payload = data if isinstance(data, bytes) else data.read()
            self.fs.pipe_file(path, payload)
            return
        directory = Path(path).parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    while chunk := data.read(CHUNK):
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o600)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
