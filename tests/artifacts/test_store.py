from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kibble.artifacts import ArtifactStore, arrays_from_bytes, arrays_to_bytes, sha256_digest
from kibble.artifacts.formats import refuse_pickle
from kibble.errors import IntegrityError, NotFoundError, UnsafeInputError


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_round_trip_is_verified_by_digest(store: ArtifactStore) -> None:
    ref = store.put_bytes("k9s", b"hello", "text/plain")
    assert ref.digest == sha256_digest(b"hello")
    assert ref.size == 5
    assert store.get_bytes("k9s", ref.digest) == b"hello"


def test_same_bytes_are_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    a = store.put_bytes("k9s", b"same", "x")
    b = store.put_bytes("k9s", b"same", "x")
    assert a == b
    assert len(list((tmp_path / "artifacts" / "k9s").rglob("*"))) == 4  # blobs/sha256/xx/file


def test_put_file_streams_and_matches_put_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    ref = store.put_file("k9s", source, "application/octet-stream")
    assert ref.digest == sha256_digest(b"x" * (3 << 20))
    assert store.local_path("k9s", ref.digest).read_bytes() == source.read_bytes()


def test_files_are_private(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes("k9s", b"secret", "x")
    blob = store.local_path("k9s", ref.digest)
    assert blob.stat().st_mode & 0o777 == 0o600


def test_corrupted_blob_is_refused(store: ArtifactStore) -> None:
    ref = store.put_bytes("k9s", b"original", "x")
    store.local_path("k9s", ref.digest).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="corrupted"):
        store.get_bytes("k9s", ref.digest)


def test_projects_do_not_see_each_other(store: ArtifactStore) -> None:
    ref = store.put_bytes("alpha", b"mine", "x")
    with pytest.raises(NotFoundError, match="not in project 'beta'"):
        store.get_bytes("beta", ref.digest)


@pytest.mark.parametrize(
    "digest",
    ["../../etc/passwd", "/etc/passwd", "sha256:../../x", "sha256:" + "A" * 64, "md5:abc", ""],
)
def test_bad_digests_are_refused(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(UnsafeInputError):
        store.get_bytes("k9s", digest)


@pytest.mark.parametrize("project", ["../other", "/abs", "a/b", "", "UPPER", "x" * 80])
def test_bad_project_names_are_refused(store: ArtifactStore, project: str) -> None:
    with pytest.raises(Exception, match="not allowed"):
        store.put_bytes(project, b"x", "x")


def test_arrays_round_trip_without_pickle() -> None:
    arrays = {"factors": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": np.array(["a", "b"])}
    loaded = arrays_from_bytes(arrays_to_bytes(arrays))
    assert np.array_equal(loaded["factors"], arrays["factors"])
    assert list(loaded["ids"]) == ["a", "b"]


def test_object_arrays_are_refused() -> None:
    with pytest.raises(UnsafeInputError, match="dtype object"):
        arrays_to_bytes({"bad": np.array([{"a": 1}], dtype=object)})


def test_npz_with_pickled_objects_is_refused_on_load(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, evil=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeInputError, match="pickle"):
        arrays_from_bytes(path.read_bytes())


def test_pickle_payloads_are_refused() -> None:
    import pickle

    with pytest.raises(UnsafeInputError, match="pickle"):
        refuse_pickle(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeInputError):
        refuse_pickle(b"{}", "application/x-python-pickle")
    refuse_pickle(b'{"ok": true}', "application/json")
