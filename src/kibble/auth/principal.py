"""Who is calling: a user acting in one project with one role, through one token."""

from __future__ import annotations

from dataclasses import dataclass, field

from kibble.auth.roles import at_least, require, scope_allows
from kibble.errors import PermissionDeniedError


@dataclass(frozen=True)
class Principal:
    actor: str
    project: str
    project_id: str
    role: str | None
    token_id: str = ""
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def at_least(self, role: str) -> bool:
        return at_least(self.role, role)

    def authorize(self, action: str, minimum: str | None = None) -> None:
        """Raise PermissionDeniedError unless the role and the token's scopes allow it."""
        require(self.role, action, minimum)
        if not scope_allows(self.scopes, action):
            raise PermissionDeniedError(
                f"this token's scopes ({', '.join(self.scopes)}) do not include {action}",
                hint="create a token with that scope: `kibble tokens create --scope ...`",
            )
