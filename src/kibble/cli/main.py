"""Entry point of the `kibble` command: global flags, subcommands, one-line errors.

Exit codes (the same kind of mistake gets the same code in every command):
0 ok; 1 the command ran and the outcome is a failure (a check or gate failed, a record
is missing or in conflict, an unexpected error); 2 bad usage or bad input (a flag, a
path, a file that is empty, binary, truncated or without the columns asked for; nothing
was written). Errors print as one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

import kibble.cli.admin_cmd as admin_cmd
import kibble.cli.data_cmd as data_cmd
import kibble.cli.demo_cmd as demo_cmd
import kibble.cli.models_cmd as models_cmd
import kibble.cli.monitoring_cmd as monitoring_cmd
import kibble.cli.pipelines_cmd as pipelines_cmd
import kibble.cli.recsys_cmd as recsys_cmd
import kibble.cli.serving_cmd as serving_cmd
from kibble.cli import artifacts_cmd, config_cmd, db_cmd, factory_cmd, projects_cmd
from kibble.cli.output import err_console
from kibble.cli.state import state
from kibble.errors import KibbleError
from kibble.logs import configure_logging

app = typer.Typer(
    name="kibble",
    help=(
        "kibble: the ML factory around your model.\n\n"
        "Runs on embedded defaults (SQLite, local folders) in ./.kibble; point it at "
        "PostgreSQL, object storage or Ray through settings. Start with `kibble demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help renderer imports markdown-it, ~0.3 s
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(recsys_cmd.app, name="recsys")
app.add_typer(demo_cmd.app, name="k9s")
app.command("demo")(demo_cmd.demo)
app.add_typer(db_cmd.app, name="db")
app.add_typer(models_cmd.app, name="models")
app.add_typer(projects_cmd.app, name="projects")
app.add_typer(artifacts_cmd.app, name="artifacts")
app.command("api")(admin_cmd.serve_api)
app.add_typer(admin_cmd.admin_app, name="admin")
app.add_typer(admin_cmd.tokens_app, name="tokens")
app.add_typer(admin_cmd.audit_app, name="audit")
app.add_typer(monitoring_cmd.monitor_app, name="monitor")
app.add_typer(monitoring_cmd.alerts_app, name="alerts")
app.command("serve")(serving_cmd.serve)
app.add_typer(serving_cmd.rollout_app, name="rollout")
app.add_typer(serving_cmd.requests_app, name="requests")
pipelines_cmd.register(app)
app.command("ingest")(data_cmd.ingest)
app.command("check")(data_cmd.check)
app.add_typer(data_cmd.tables_app, name="tables")
app.add_typer(factory_cmd.app, name="factory")
app.command("init")(factory_cmd.init)
app.command("validate")(factory_cmd.validate)
app.command("plan")(factory_cmd.plan)
app.command("apply")(factory_cmd.apply)


def _version(value: bool) -> None:
    if value:
        from kibble import __version__

        typer.echo(f"kibble {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", help="home folder (default ./.kibble)"),
    project: str | None = typer.Option(None, "--project", "-p", help="project (tenant)"),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks and debug logs"),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    cli = state(ctx)
    cli.debug = debug
    cli.overrides.update(
        {
            key: value
            for key, value in {
                "home": home,
                "project": project,
                "database_url": database_url,
                "log_level": "DEBUG" if debug else None,
            }.items()
            if value is not None
        }
    )
    if ctx.resilient_parsing:
        return
    settings = cli.settings()
    configure_logging(settings.log_level, settings.log_format)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Typer handles usage errors (exit 2); kibble errors print one line."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    try:
        app(args=argv)
    except KibbleError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not the user's mistake: still one line, then how to see more
        if debug:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err_console.print(
            f"[red]error:[/red] unexpected {type(exc).__name__}: {detail} "
            "(run again with --debug for the traceback, and report it)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
