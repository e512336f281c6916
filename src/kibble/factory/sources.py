"""`kibble ingest --source NAME`: load a source the applied factory declares.

The definition says where the data is (``location``), what kind of connector reads it and
how its columns map onto the table's contract. Secrets (``connection``) are environment
variables read when the load runs, never stored: an sql source's is its database URL, an
http source's a bearer token. A ``{partition}`` in the location is replaced by the day
being loaded (e.g. ``landing/events/date={partition}``); relative paths are relative to
the directory the load runs in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from kibble.context import Context
from kibble.data.connectors import SourceOptions, source_kind
from kibble.data.ingest import IngestMode, LoadResult, ingest
from kibble.errors import ConfigError, UsageError
from kibble.factory.applied import source
from kibble.factory.definition import SecretRef, SourceSpec
from kibble.factory.validate import local_database


def secret_value(ref: SecretRef, environ: Mapping[str, str]) -> str:
    value = environ.get(ref.secret, "")
    if not value:
        raise ConfigError(
            f"secret {ref.secret} is not set",
            hint=f"export {ref.secret} in the environment of the process that loads the source",
        )
    return value


def connect(
    name: str,
    spec: SourceSpec,
    partition: str | None,
    environ: Mapping[str, str],
    options: SourceOptions,
) -> tuple[str, SourceOptions]:
    """What the connectors read for this source: a path/URL and its options."""
    location = spec.location
    if "{partition}" in location:
        if partition is None:
            raise UsageError(
                f"source {name!r} reads one partition at a time ({location})",
                hint="pass --partition YYYY-MM-DD",
            )
        location = location.replace("{partition}", partition)
    if spec.kind == "sql" and local_database(spec):
        return location, replace(options, table=spec.table, query=None)
    if spec.kind == "sql":
        assert spec.connection is not None  # validate refuses an sql source without one
        url = secret_value(spec.connection, environ)
        if source_kind(url) != "sql":
            raise ConfigError(
                f"secret {spec.connection.secret} of source {name!r} is not a database URL",
                hint="set it to an SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db",
            )
        return url, replace(options, table=location, query=None)
    if source_kind(location) != spec.kind:
        raise ConfigError(
            f"source {name!r} is declared {spec.kind} but its location {location!r} is not",
            hint=f"fix sources.{name}.location or kind in the factory and run `kibble apply`",
        )
    if spec.connection is not None:
        token = secret_value(spec.connection, environ)
        options = replace(options, headers={**options.headers, "Authorization": f"Bearer {token}"})
    return location, options


def ingest_source(
    context: Context,
    name: str,
    *,
    partition: str | None = None,
    mode: IngestMode = "merge",
    options: SourceOptions | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load the declared source ``name`` into its table (the table's contract applies)."""
    spec = source(context, name)
    base = options or SourceOptions(allow_private_urls=context.settings.allow_private_urls)
    location, opts = connect(
        name, spec, partition, os.environ if environ is None else environ, base
    )
    mapping = {column: src for src, column in spec.mapping.items()}
    return ingest(
        context, location, spec.table, partition=partition, mode=mode, mapping=mapping, options=opts
    )
