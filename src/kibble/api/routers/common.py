"""Parameter types shared by routers, so every list paginates and every name is bounded."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

Limit = Annotated[int, Query(ge=1, le=1000, description="most rows to return")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
Name = Annotated[str, Path(min_length=1, max_length=128)]
Id = Annotated[str, Path(min_length=1, max_length=64)]
UserName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Digest = Annotated[str, Path(pattern=r"^sha256:[0-9a-f]{64}$", max_length=71)]
