"""What the global flags decided, shared by every subcommand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # imported on first use: `kibble --help` needs neither
    from kibble.config import Settings
    from kibble.context import Context


@dataclass
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    _settings: Settings | None = None
    _context: Context | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from kibble.config import load_settings

            self._settings = load_settings(self.overrides)
        return self._settings

    def default_project(self, project: str) -> None:
        """Use ``project`` unless one was chosen by flag, environment or kibble.toml."""
        if self.settings().sources.get("project", "default") == "default":
            self.overrides["project"] = project
            self._settings = None
            self._context = None

    def context(self) -> Context:
        if self._context is None:
            from kibble.context import Context

            self._context = Context.open(self.settings())
        return self._context


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
