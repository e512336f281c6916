"""Read a factory definition from the team's repository: a Python module or a TOML file.

A Python definition is the team's own code (like a Dagster definitions file), imported
from the path given; it must expose a ``factory`` (or ``FACTORY``) of type ``Factory``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kibble.errors import ConfigError, UsageError
from kibble.factory.definition import Factory

DEFAULT_PATHS = ("factory.py", "kibble_factory.py", "factory.toml")


def find_definition(path: Path | None) -> Path:
    if path is not None:
        if path.is_dir():
            return find_definition_in(path)
        if not path.is_file():
            raise UsageError(f"{path} does not exist", hint="give the factory file or its folder")
        return path
    return find_definition_in(Path.cwd())


def find_definition_in(folder: Path) -> Path:
    for name in DEFAULT_PATHS:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"no factory definition in {folder} (looked for {', '.join(DEFAULT_PATHS)})",
        hint="create one with `kibble init`",
    )


def _from_python(path: Path) -> Factory:
    name = f"kibble_factory_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    factory = getattr(module, "factory", None) or getattr(module, "FACTORY", None)
    if not isinstance(factory, Factory):
        raise ConfigError(
            f"{path} defines no `factory = Factory(...)`",
            hint="assign your definition to a module-level variable named factory",
        )
    return factory


def _from_toml(path: Path) -> Factory:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return Factory.model_validate(data.get("factory", data))


def load_definition(path: Path | None = None) -> tuple[Factory, Path]:
    found = find_definition(path)
    try:
        factory = _from_toml(found) if found.suffix == ".toml" else _from_python(found)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{found}: {where}: {first['msg']}", hint="fix the definition and run `kibble validate`"
        ) from exc
    return factory, found


def digest_of(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def git_info(path: Path) -> dict[str, Any]:
    """Commit, author, message and dirty flag of the repository holding ``path``, if any."""
    folder = path.resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        author, message = git("log", "-1", "--format=%an <%ae>%n%s").split("\n", 1)
        dirty = bool(git("status", "--porcelain", "--", str(path.resolve())))
    except (subprocess.SubprocessError, FileNotFoundError, ValueError):
        return {}
    return {"commit": commit, "author": author, "message": message, "dirty": dirty}
