"""The dashboard in a real headless Chromium, against a real `kibble api` on a home filled
by `kibble demo --quick`: sign in, every page, numbers checked against the REST API,
click-throughs, releasing a held run, no console errors, a screenshot of every page.

Everything is made with the real CLI (demo, a gated pipeline run, tokens, the server);
numbers are read from the API at test time, never hard-coded, so the demo may grow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.api.procs import env_for, kibble_cli
from tests.api.test_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
PROJECT = "default"  # where `kibble demo` writes
NAV = ["overview", "runs", "data", "models", "deployments", "monitoring", "lineage", "explain"]
GATED_FLOW = """
from kibble import Pipeline, hold, step


@step
def arrive() -> dict:
    return {"rows": 0}


@step
def gate(arrive: dict) -> None:
    raise hold("no events arrived for today (0 rows)")


@step
def train(arrive: dict, gate: None) -> int:
    return arrive["rows"]


gated = Pipeline("gated", [arrive, gate, train])
"""


@dataclass
class Site:
    url: str
    home: Path
    tokens: dict[str, str]
    held_run: str

    def api(self, path: str, who: str = "admin", project: str = PROJECT, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1/projects/{project}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of a paginated list."""
        rows: list[dict[str, Any]] = []
        while True:
            chunk = self.api(path, limit=1000, offset=len(rows), **params)
            rows += chunk
            if len(chunk) < 1000:
                return rows


def _token(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["token"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/system-deps.sh")
    shutil.rmtree(SHOTS, ignore_errors=True)  # the screenshots are this run's only
    root = Path(tmp_path_factory.mktemp("ui-browser"))
    home = root / "home"
    demo = kibble_cli(home, "demo", "--quick", "--until", "2026-11-30", "--json")
    assert demo.returncode == 0, demo.stderr[-3000:]
    flows = root / "gated_flow.py"
    flows.write_text(GATED_FLOW)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kibble", "--home", str(home), "api", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env_for(home),
    )
    try:
        # independent commands at once: each CLI start costs seconds of imports
        with ThreadPoolExecutor(4) as pool:
            held = pool.submit(kibble_cli, home, "run", f"{flows}:gated", "--json")
            admin = pool.submit(
                kibble_cli,
                home,
                "admin",
                "init",
                "--project",
                PROJECT,
                "--user",
                "ada",
                "--force",  # `kibble api` may have made the local user admin already
                "--json",
            )
            viewer = pool.submit(
                kibble_cli, home, "tokens", "create", "--user", "vic", "--role", "viewer", "--json"
            )
            # a project with nothing in it: every page must degrade to "no data"
            empty = pool.submit(
                kibble_cli, home, "admin", "init", "--project", "empty", "--user", "eve", "--json"
            )
        assert held.result().returncode == 3, held.result().stdout + held.result().stderr  # held
        held_run = json.loads(held.result().stdout)["run_id"]
        tokens = {
            "admin": _token(admin.result()),
            "viewer": _token(viewer.result()),
            "empty": _token(empty.result()),
        }
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the API did not come up within 60 s"
            time.sleep(0.1)
        yield Site(url, home, tokens, held_run)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visitor:
    """One signed-in browser session that records console and page errors."""

    site: Site
    page: Any
    errors: list[str] = field(default_factory=list)

    def open(self, path: str, shot: str | None = None) -> Any:
        response = self.page.goto(f"{self.site.url}/ui{path}")
        assert response is not None and response.status == 200, (path, response)
        self.settle(shot)
        return self.page

    def settle(self, shot: str | None) -> None:
        """Wait for every chart on the page to be drawn, check errors, save a screenshot."""
        self.page.wait_for_load_state("load")
        charts = self.page.locator("[data-spec]")
        for i in range(charts.count()):
            charts.nth(i).locator("svg.main-svg").first.wait_for(state="attached")
            assert charts.nth(i).get_attribute("data-rendered") == "true"
        assert self.errors == [], f"console or page errors on {self.page.url}: {self.errors}"
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text()).strip()

    def card(self, key: str) -> str:
        return self.text(f'[data-card="{key}"] .value')

    def rows(self, table_id: str) -> int:
        """Data rows of a table (its "nothing yet" row does not count)."""
        return int(
            self.page.locator(f"table#{table_id} tbody tr:not(:has(td.muted[colspan]))").count()
        )


def _visitor(site: Site, browser: Any, who: str) -> Iterator[Visitor]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    visitor = Visitor(site, page)
    page.on("console", lambda m: visitor.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visitor.errors.append(str(e)))
    page.goto(f"{site.url}/ui/login")
    page.fill("#token", site.tokens[who])
    page.click("#sign-in")
    page.wait_for_url("**/ui/overview")
    try:
        yield visitor
    finally:
        context.close()


@pytest.fixture
def admin(site: Site, browser: Any) -> Iterator[Visitor]:
    yield from _visitor(site, browser, "admin")


@pytest.fixture
def viewer(site: Site, browser: Any) -> Iterator[Visitor]:
    yield from _visitor(site, browser, "viewer")


@pytest.fixture
def newcomer(site: Site, browser: Any) -> Iterator[Visitor]:
    yield from _visitor(site, browser, "empty")


def test_a_bad_token_is_refused(site: Site, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.url}/ui/overview")
    assert page.url.endswith("/ui/login")  # not signed in: sent to sign in
    page.fill("#token", "kb_not-a-real-token")
    page.click("#sign-in")
    assert "not valid" in page.locator("#login-error").inner_text()
    context.close()


def test_every_page_shows_what_the_api_says(site: Site, admin: Visitor) -> None:
    runs = site.all("/runs")
    alerts = site.all("/alerts")
    models = site.all("/models")
    deployments = site.all("/deployments")
    datasets = site.all("/datasets")
    assert runs and alerts  # the demo ran days and raised alerts

    page = admin.open("/overview", "overview")
    assert [a.get_attribute("data-nav") for a in page.locator("#nav a").all()] == NAV
    assert page.locator("#project").inner_text() == PROJECT
    day_ago = datetime.now(UTC) - timedelta(days=1)
    today = [r for r in runs if datetime.fromisoformat(r["created_at"]) >= day_ago]
    assert admin.card("runs_today") == str(len(today))
    assert admin.card("held") == str(sum(r["status"] == "held" for r in runs))
    assert admin.card("open_alerts") == str(sum(a["status"] == "open" for a in alerts))
    assert admin.card("deployments") == str(len(deployments))

    page = admin.open("/runs", "runs")
    assert f"{len(runs)} run(s)" in page.locator("main").inner_text()
    assert admin.rows("runs") == min(len(runs), 50)
    for run in runs[:50]:
        assert page.locator(f"#run-link-{run['id']}").count() == 1

    admin.open("/data", "data")
    assert admin.rows("tables") == len(datasets)
    for dataset in datasets:
        versions = site.all(f"/datasets/{dataset['name']}/versions")
        row = admin.page.locator(
            "table#tables tr", has=admin.page.locator(f"#table-{dataset['name']}")
        )
        assert row.locator("td").nth(1).inner_text() == str(len(versions))

    if datasets:  # one table's versions, checks and loads
        first = datasets[0]["name"]
        admin.page.click(f"#table-{first}")
        admin.settle("data-table")
        versions = site.all(f"/datasets/{first}/versions")
        assert admin.rows("versions") == min(len(versions), 50)
        assert admin.page.locator("table#checks").count() == 1

    admin.open("/models", "models")
    assert admin.rows("models") == len(models)
    for model in models:
        versions = site.all(f"/models/{model['name']}/versions")
        row = admin.page.locator(
            "table#models tr", has=admin.page.locator(f"#model-{model['name']}")
        )
        assert row.locator("td").nth(1).inner_text() == str(len(versions))

    admin.open("/deployments", "deployments")
    assert admin.rows("deployments") == len(deployments)

    page = admin.open("/monitoring", "monitoring")
    assert admin.rows("alerts") == min(len(alerts), 50)
    for alert in alerts[:50]:
        assert page.locator("table#alerts", has_text=alert["message"]).count() == 1
    drawn = page.locator("#alerts-per-day [data-rendered='true'] svg.main-svg")
    assert drawn.count() >= 1  # the alerts the demo raised are charted
    families = [
        (str(a.get_attribute("id")), int(a.locator("xpath=../../td[2]").inner_text()))
        for a in page.locator("table#metric-families a").all()
    ]
    for link_id, count in families:  # every metric of every family is charted
        page.click(f"#{link_id}")
        admin.settle(f"monitoring-{link_id}")
        assert page.locator("section.chart-block[id^='metric-']").count() == min(count, 24)

    page = admin.open("/lineage", "lineage")
    assert page.locator("#lineage-search").count() == 1
    assert admin.rows("lineage-models") == len(models)

    page = admin.open("/explain", "explain")
    assert page.locator("#explain-search").count() == 1
    served = page.locator("table#served tbody a")
    assert served.count() >= 1  # the demo's A/B customers were served and logged
    request_id = served.first.inner_text()
    served.first.click()
    admin.settle("explain-request")
    assert parse_qs(urlparse(page.url).query)["request"] == [request_id]
    logged = site.api(f"/requests/{request_id}")
    assert admin.card("model_version") == logged["model_version"]
    items = page.locator("table#served-items tbody tr")
    assert items.count() == len(logged["items"])
    first = logged["items"][0]
    # the product's title, then its id: what support reads and what the log stores
    assert items.first.locator("td").nth(1).inner_text().endswith(f"({first['item_id']})")
    shown = items.first.locator("td").nth(3).inner_text()
    for reason in first["reasons"]:  # "because of ITEM (share)", the item by its title
        item = reason.removeprefix("because of ").split(" ")[0]
        assert f"({item})" in shown, (reason, shown)
    assert admin.rows("served-feedback") == len(logged["feedback"])
    page.click("#explain-lineage-link")  # why: the request back to the data
    admin.settle("lineage-request")
    assert f"Request {request_id}" in admin.text("main p.muted")
    assert admin.page.locator("#lineage-graph svg.main-svg").count() >= 1
    name, _, number = logged["model_version"].rpartition(":")
    assert f"{name} v{number}" in admin.text("main p.muted")


def test_click_through_run_model_deployment_lineage(site: Site, admin: Visitor) -> None:
    """run -> the model it registered -> the deployment serving it -> the champion's
    lineage, which leads back to the run; and a run -> its outputs' lineage."""
    runs = site.all("/runs")
    produced = [  # model versions a recorded run registered
        (model, version)
        for model in site.all("/models")
        for version in site.all(f"/models/{model['name']}/versions")
        if version["run_id"]
    ]
    assert produced, "the demo registers its versions from the day's run"
    model, version = produced[0]
    admin.open(f"/runs/{version['run_id']}", "run-with-model")
    admin.page.click(f"#model-link-{model['name']}-{version['version']}")
    admin.settle("model")
    assert admin.text("#page-title") == f"Model {model['name']}"
    versions = site.all(f"/models/{model['name']}/versions")
    assert admin.rows("versions") == min(len(versions), 50)
    deployed = [d for d in site.all("/deployments") if d["model_name"] == model["name"]]
    assert deployed, "the demo's A/B tests record the deployment they ran on"
    assert admin.rows("model-deployments") == len(deployed)

    deployment = deployed[0]
    admin.page.click(f"#deployment-{deployment['name']}")
    admin.settle("deployment")
    assert deployment["name"] in admin.text("main p.muted")
    arms = deployment["policy"]["arms"]
    rows = admin.page.locator("table#arms tbody tr")
    assert rows.count() == len(arms)
    for i, (arm, share) in enumerate(arms.items()):
        assert rows.nth(i).locator("td").nth(0).inner_text() == arm
        assert rows.nth(i).locator("td").nth(2).inner_text() == f"{100 * share:.1f}%"
    history = site.api(f"/deployments/{deployment['name']}/rollouts")
    measured = [
        (r, [d for d in r["decisions"] if "ctr_challenger" in d["numbers"]][-1]["numbers"])
        for r in history
        if any("ctr_challenger" in d["numbers"] for d in r["decisions"])
    ]
    assert measured and admin.rows("ab-results") == len(measured)
    for i, (rollout, numbers) in enumerate(measured):  # newest first, like the API
        cells = admin.page.locator("table#ab-results tbody tr").nth(i).locator("td")
        assert cells.nth(0).inner_text() == rollout["challenger"]
        assert cells.nth(3).inner_text() == f"{numbers['ctr_challenger']:.4f}"
        assert cells.nth(5).inner_text() == (
            f"{numbers['lift_ci_low']:+.4f} .. {numbers['lift_ci_high']:+.4f}"
        )
    assert admin.rows("rollouts") == len(history)
    # the A/B customers the demo logged: each arm's share of live answers per day
    assert admin.page.locator("#arm-traffic [data-rendered='true'] svg.main-svg").count() >= 1

    # the arm with the most traffic now (the champion, or a challenger at its last step)
    busiest = max(arms, key=lambda arm: arms[arm])
    admin.page.click(f"#arm-lineage-{list(arms).index(busiest)}")
    admin.settle("lineage-champion")
    name, _, number = busiest.rpartition(":")
    assert f"{name} v{number}" in admin.text("main p.muted")
    assert admin.page.locator("#lineage-graph svg.main-svg").count() >= 1
    served = admin.page.locator("table#lineage-deployments").inner_text()
    assert deployment["name"] in served  # forward: the deployment it feeds
    champion_version = next(v for v in versions if v["version"] == int(number))
    recorded = (champion_version.get("lineage") or {}).get("tables") or {}
    tables = admin.text("table#lineage-tables")
    for table_name, table_version in recorded.items():  # the table versions it was trained on
        assert f"{table_name}\t{table_version}" in tables
    admin.page.click("#lineage-registered-by")  # back: the run that registered it
    admin.settle(None)
    assert champion_version["run_id"] in admin.page.url

    finished = next(r for r in runs if r["status"] == "succeeded")
    admin.open("/runs", None)
    admin.page.click(f"#run-link-{finished['id']}")
    admin.settle("run")
    steps = site.api(f"/runs/{finished['id']}/steps")
    assert admin.page.locator(".dag .node").count() == len(steps)
    assert admin.card("steps") == str(len(steps))
    assert admin.card("cached") == str(sum(s["cached"] for s in steps))
    traced = next(s for s in steps if (s["outputs"].get("value") or {}).get("digest"))
    admin.page.click(f"#trace-{traced['name']}")
    admin.settle("lineage-artifact")
    digest = traced["outputs"]["value"]["digest"]
    assert digest in admin.text("main p.muted")
    assert admin.page.locator("#lineage-graph svg.main-svg").count() >= 1
    made_by = admin.page.locator("table#lineage-upstream").inner_text()
    assert finished["id"][:8] in made_by and traced["name"] in made_by


def test_a_viewer_is_refused_and_an_admin_releases(
    site: Site, viewer: Visitor, admin: Visitor
) -> None:
    run_id = site.held_run
    assert site.api(f"/runs/{run_id}")["status"] == "held"

    viewer.open(f"/runs/{run_id}", "held-run-viewer")
    assert "no events arrived" in viewer.text("table#held-reasons")
    assert viewer.page.locator("form#release").count() == 0
    assert "cannot release" in viewer.text("#release-denied")
    csrf = viewer.page.locator("input[name=csrf]").first.get_attribute("value")
    refused = viewer.page.request.post(
        f"{site.url}/ui/runs/{run_id}/release", form={"reason": "let me", "csrf": csrf}
    )
    assert refused.status == 403 and "Not allowed" in refused.text()
    assert site.api(f"/runs/{run_id}")["status"] == "held"  # nothing changed

    admin.open(f"/runs/{run_id}", "held-run-admin")
    admin.page.fill("form#release input[name=reason]", "backfilled by hand, checked the counts")
    admin.page.click("form#release button[type=submit]")
    admin.page.wait_for_selector("#flash")
    assert admin.text("#flash").startswith("released")
    admin.settle("released-run")
    assert admin.text('[data-card="status"] .value') == "released"
    after = site.api(f"/runs/{run_id}")
    assert after["status"] == "released"
    assert after["tags"]["released"]["by"] == "ada"
    audit = site.api("/audit", action="run.release")
    assert [(e["actor"], e["target"]) for e in audit] == [("ada", run_id)]


def test_an_empty_project_degrades_to_tables(site: Site, newcomer: Visitor) -> None:
    assert site.api("/runs", who="empty", project="empty") == []
    for slug in NAV:
        page = newcomer.open(f"/{slug}", f"empty-{slug}")
        assert page.locator("#project").inner_text() == "empty"
        assert page.locator("[data-spec]").count() == 0  # nothing to draw
    page = newcomer.open("/monitoring")
    fallback = page.locator("#metrics")
    assert "no data yet" in fallback.inner_text()
    assert fallback.locator("table.chart-table").count() == 1
    assert newcomer.rows("alerts") == 0 and "no alerts" in newcomer.text("table#alerts")
    newcomer.open("/models")
    assert newcomer.rows("models") == 0
    newcomer.open("/lineage")
    assert "no registered models" in newcomer.text("table#lineage-models")
