"""The dashboard as a FastAPI app: sign in with an API token, then browse one project.

The token is kept in an HTTP-only, SameSite=Strict cookie; every form post carries a
CSRF token derived from it and is refused when the Origin is foreign. Pages are rendered
on the server with autoescaping; charts read JSON data blocks, so no inline script runs
and the Content-Security-Policy stays strict.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from kibble.auth.keys import derived_key
from kibble.context import Context
from kibble.errors import KibbleError
from kibble.ui import data_view, deployments_view, lineage_view, pages
from kibble.ui.views import Page

COOKIE = "kibble_session"
ROLE_RANK = {"viewer": 0, "editor": 1, "deployer": 2, "admin": 3}
NAV = [
    ("overview", "Overview"),
    ("runs", "Runs"),
    ("data", "Data"),
    ("models", "Models"),
    ("deployments", "Deployments"),
    ("monitoring", "Monitoring"),
    ("lineage", "Lineage"),
    ("explain", "Explain"),
]
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


@dataclass(frozen=True)
class Principal:
    actor: str
    project: str
    project_id: str
    role: str

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


TokenResolver = Callable[[Session, str], Principal | None]
Releaser = Callable[[Context, str, str, str], None]
PageHook = Callable[[Session, Principal, str, dict[str, str]], Page]


def plotly_js() -> Path:
    """Plotly's browser bundle, shipped inside the installed ``plotly`` Python package."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def create_ui(
    context: Context,
    *,
    resolve_token: TokenResolver,
    release_run: Releaser | None = None,
    extra_pages: dict[str, PageHook] | None = None,
    prefix: str = "",
) -> FastAPI:
    """Build the dashboard. ``extra_pages`` lets other areas own a nav page's content."""
    app = FastAPI(title="kibble dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    here = Path(__file__).parent
    templates = Environment(
        loader=FileSystemLoader(here / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    hooks = dict(extra_pages or {})
    secret = derived_key(context.settings, "ui-csrf")  # random, kept with the home

    def csrf_for(token: str) -> str:
        return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()

    def render(
        request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        token = request.cookies.get(COOKIE, "")
        html = templates.get_template(template).render(
            prefix=prefix, nav=NAV, csrf=csrf_for(token) if token else "", **values
        )
        return HTMLResponse(html, status_code=status_code)

    def principal_of(request: Request) -> Principal | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        with context.store.session() as session:
            return resolve_token(session, token)

    def scoped(principal: Principal) -> Context:
        """The context narrowed to the signed-in project and person (for audit)."""
        return Context(
            settings=context.settings,
            store=context.store,
            artifacts=context.artifacts,
            project=principal.project,
            project_id=principal.project_id,
            actor=principal.actor,
        )

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin:
            return True  # non-browser clients; the CSRF token still has to match
        return urlparse(origin).netloc == request.headers.get("host")

    def check_form(request: Request, csrf: str) -> bool:
        token = request.cookies.get(COOKIE, "")
        return bool(token) and same_origin(request) and hmac.compare_digest(csrf, csrf_for(token))

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.get(f"{prefix}/static/kibble.css", include_in_schema=False)
    def css() -> FileResponse:
        return FileResponse(here / "static" / "kibble.css", media_type="text/css")

    @app.get(f"{prefix}/static/kibble.js", include_in_schema=False)
    def js() -> FileResponse:
        return FileResponse(here / "static" / "kibble.js", media_type="text/javascript")

    @app.get(f"{prefix}/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript")

    @app.get(f"{prefix}/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return render(request, "login.html", title="Sign in", principal=None)

    @app.post(f"{prefix}/login")
    def login(request: Request, token: str = Form("")) -> Response:
        with context.store.session() as session:
            principal = resolve_token(session, token.strip()) if token.strip() else None
        if principal is None or not same_origin(request):
            return render(
                request,
                "login.html",
                status_code=401,
                title="Sign in",
                principal=None,
                error="That token is not valid (expired or revoked?).",
            )
        response = RedirectResponse(f"{prefix}/overview", status_code=303)
        response.set_cookie(
            COOKIE,
            token.strip(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=12 * 3600,
        )
        return response

    @app.post(f"{prefix}/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        if not check_form(request, csrf):
            return Response("refused: bad CSRF token", status_code=403)
        response = RedirectResponse(f"{prefix}/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def root() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/overview", status_code=303)

    for path in {prefix or "/", f"{prefix}/"}:  # `/ui` and `/ui/` both open the dashboard
        app.get(path, include_in_schema=False)(root)

    def page_response(
        request: Request, active: str, build: Callable[[Session, Principal], Page | None]
    ) -> Response:
        principal = principal_of(request)
        if principal is None:
            return RedirectResponse(f"{prefix}/login", status_code=303)
        try:
            with context.store.session() as session:
                page = build(session, principal)
        except KibbleError as exc:
            return render(
                request,
                "error.html",
                status_code=exc.http_status,
                title="Error",
                principal=principal,
                active=active,
                heading="Something is wrong",
                message=str(exc),
            )
        if page is None:
            return render(
                request,
                "error.html",
                status_code=404,
                title="Not found",
                principal=principal,
                active=active,
                heading="Not found",
                message="Nothing by that name in this project.",
            )
        flash = request.query_params.get("flash", "")
        return render(
            request,
            "page.html",
            title=page.title,
            subtitle=page.subtitle,
            sections=page.sections,
            principal=principal,
            active=active,
            flash=flash[:200],
        )

    def hooked(
        slug: str, default: Callable[[Session, Principal, dict[str, str]], Page | None]
    ) -> Callable[[Session, Principal, dict[str, str]], Page | None]:
        hook = hooks.get(slug)
        if hook is None:
            return default
        return lambda s, p, q: hook(s, p, prefix, q)

    def query(request: Request) -> dict[str, str]:
        return {k: v[:200] for k, v in request.query_params.items()}

    def offset_of(q: dict[str, str]) -> int:
        try:
            return max(0, int(q.get("offset", "0")))
        except ValueError:
            return 0

    overview = hooked("overview", lambda s, p, q: pages.overview(s, p.project_id, prefix))
    runs = hooked(
        "runs",
        lambda s, p, q: pages.runs(
            s,
            p.project_id,
            prefix,
            status_filter=q.get("status", ""),
            pipeline=q.get("pipeline", ""),
            offset=offset_of(q),
        ),
    )
    data = hooked("data", lambda s, p, q: data_view.data(s, p.project_id, prefix, q))
    models = hooked("models", lambda s, p, q: pages.models(s, p.project_id, prefix))
    deployments = hooked(
        "deployments", lambda s, p, q: deployments_view.deployments(s, p.project_id, prefix, q)
    )
    monitoring = hooked(
        "monitoring",
        lambda s, p, q: pages.monitoring(s, p.project_id, prefix, q.get("family", "")),
    )
    lineage = hooked("lineage", lambda s, p, q: lineage_view.lineage(scoped(p), s, prefix, q))
    explain = hooked(
        "explain",
        lambda s, p, q: lineage_view.explain(
            s,
            p.project_id,
            prefix,
            q.get("request", ""),
            titles=lambda ids: lineage_view.item_titles(scoped(p), ids),
        ),
    )

    for slug, builder in [
        ("overview", overview),
        ("runs", runs),
        ("data", data),
        ("models", models),
        ("deployments", deployments),
        ("monitoring", monitoring),
        ("lineage", lineage),
        ("explain", explain),
    ]:

        def endpoint(request: Request, _slug: str = slug, _build: Any = builder) -> Response:
            q = query(request)
            return page_response(request, _slug, lambda s, p: _build(s, p, q))

        app.add_api_route(
            f"{prefix}/{slug}",
            endpoint,
            methods=["GET"],
            response_class=HTMLResponse,
            name=f"ui-{slug}",
        )

    @app.get(f"{prefix}/runs/{{run_id}}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> Response:
        return page_response(
            request,
            "runs",
            lambda s, p: pages.run_detail(
                s,
                p.project_id,
                prefix,
                run_id[:64],
                can_release=release_run is not None and p.at_least("deployer"),
            ),
        )

    @app.post(f"{prefix}/runs/{{run_id}}/release")
    def release(
        request: Request, run_id: str, reason: str = Form(""), csrf: str = Form("")
    ) -> Response:
        principal = principal_of(request)
        if principal is None:
            return RedirectResponse(f"{prefix}/login", status_code=303)
        if not check_form(request, csrf):
            return Response("refused: bad CSRF token or foreign origin", status_code=403)
        if release_run is None or not principal.at_least("deployer"):
            return render(
                request,
                "error.html",
                status_code=403,
                title="Forbidden",
                principal=principal,
                active="runs",
                heading="Not allowed",
                message="Your role cannot release held runs; ask a deployer or an admin.",
            )
        if not reason.strip():
            return render(
                request,
                "error.html",
                status_code=400,
                title="Reason needed",
                principal=principal,
                active="runs",
                heading="A reason is required",
                message="Say why it is safe to release the run; it goes in the audit log.",
            )
        try:
            release_run(scoped(principal), run_id[:64], reason.strip()[:500], principal.actor)
        except KibbleError as exc:
            return render(
                request,
                "error.html",
                status_code=exc.http_status,
                title="Error",
                principal=principal,
                active="runs",
                heading="Could not release",
                message=str(exc),
            )
        return RedirectResponse(
            f"{prefix}/runs/{run_id}?flash=released:+the+scheduler+resumes+it", status_code=303
        )

    @app.get(f"{prefix}/models/{{name}}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> Response:
        return page_response(
            request, "models", lambda s, p: pages.model_detail(s, p.project_id, prefix, name[:128])
        )

    return app
