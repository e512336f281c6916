"""Names that end up in paths, URLs and keys: one rule, checked everywhere."""

from __future__ import annotations

import re

from kibble.errors import UsageError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UsageError(
            f"{what} {name!r} is not allowed",
            hint="use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


def validate_project_name(name: str) -> str:
    return validate_name(name, "project name")
