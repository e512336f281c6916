"""Lineage: where every artifact came from and what was derived from it.

``upstream(ctx, target)`` walks from an artifact (or a registered model) back through
the steps that made it to their inputs, parameters, code version and table versions;
``downstream`` walks forward. Each step also emits OpenLineage run events
(``kibble.lineage.openlineage``) so Marquez or DataHub can draw the same graph.
"""

from kibble.lineage.graph import downstream, resolve_target, upstream
from kibble.lineage.openlineage import LineageEmitter

__all__ = ["LineageEmitter", "downstream", "resolve_target", "upstream"]
