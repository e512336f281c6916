"""Routers of the control-plane API.

``PROJECT_ROUTERS`` are mounted under ``/api/v1/projects/{project}``; each route there
declares its action (``openapi_extra=action("area.verb")``) and depends on ``scoped``.
"""

from fastapi import APIRouter

from kibble.api.routers import (
    alerts,
    artifacts,
    audit,
    data,
    deployments,
    members,
    models,
    projects,
    requests,
    runs,
    tokens,
)

ROOT_ROUTERS: list[APIRouter] = [projects.router]
PROJECT_ROUTERS: list[APIRouter] = [
    projects.project_router,
    members.router,
    tokens.router,
    audit.router,
    artifacts.router,
    data.router,
    runs.router,
    models.router,
    deployments.router,
    requests.router,
    alerts.router,
]
