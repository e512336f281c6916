"""The control-plane REST API (FastAPI): ``create_app(settings)``; run it with `kibble api`.

Adding a router for your area is a 2-line change:

1. write ``kibble/api/routers/<area>.py`` with ``router = APIRouter(tags=["<area>"])`` and
   routes like::

       @router.get("/things", openapi_extra=action("things.read", "viewer"))
       def list_things(s: Scoped = Depends(scoped)) -> list[dict[str, Any]]:
           with s.session() as session: ...   # always filter by s.project_id

   (mutating routes return ``idempotent(s, request, work)`` so Idempotency-Key works);
2. append ``<area>.router`` to ``PROJECT_ROUTERS`` in ``kibble/api/routers/__init__.py``.

It is then served under ``/api/v1/projects/{project}``, authenticated, role-checked,
audited, and walked by the route-table security test without further changes.
"""

from kibble.api.app import create_app

__all__ = ["create_app"]
