"""Identity for a multi-tenant platform: tokens, roles per project, quotas.

- ``roles``: the role order and the permission table (pure).
- ``tokens``: token values and their hashes (pure).
- ``service``: authenticate, issue, revoke, bootstrap the first admin.
- ``quotas``: per-project limits on runs, storage bytes and deployments.
"""

from kibble.auth.principal import Principal
from kibble.auth.quotas import Limits, Usage, enforce
from kibble.auth.roles import PERMISSIONS, ROLES, at_least, require
from kibble.auth.service import (
    IssuedToken,
    authenticate,
    authorize_header,
    bootstrap_admin,
    issue_token,
    resolve,
)

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "IssuedToken",
    "Limits",
    "Principal",
    "Usage",
    "at_least",
    "authenticate",
    "authorize_header",
    "bootstrap_admin",
    "enforce",
    "issue_token",
    "require",
    "resolve",
]
