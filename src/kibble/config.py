"""Settings: defaults < kibble.toml < KIBBLE_* environment < CLI flags.

One settings object for the whole platform. Each value remembers where it came from,
so ``kibble config show`` can answer "why is it this?". Nested sections use a double
underscore in the environment: ``KIBBLE_SERVING__PORT=9000`` sets ``serving.port``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from kibble.errors import ConfigError

ENV_PREFIX = "KIBBLE_"
CONFIG_FILE_NAME = "kibble.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServingSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    model: str = Field("", description="registered model `kibble serve` serves (or --model)")
    deployment: str = Field("default", description="deployment `kibble serve` answers for")
    latency_sla_ms: float = Field(50.0, gt=0)
    catalog_table: str = Field(
        "products",
        description="lake table whose stock, seasons, species and categories filter what is "
        "served (refreshed without retraining); empty to use the training catalogue only",
    )

    public_feedback: bool = Field(
        False,
        description="take POST /v1/feedback without a token (public storefronts); "
        "only signed request ids attribute a click",
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="larger bodies are refused (413)")


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_json_depth: int = Field(32, gt=0, description="deeper JSON bodies are refused (400)")
    max_json_items: int = Field(100_000, gt=0, description="most values in one JSON body")
    allowed_hosts: str = Field(
        "127.0.0.1,localhost,::1", description="comma-separated Host header allowlist; * for any"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS")
    token_days: int = Field(90, gt=0, description="default lifetime of new API tokens")


class StorageSettings(_Section):
    """Object storage (S3-compatible) used when artifact_url or lake_url is ``s3://...``.

    Credentials come from the usual AWS_* environment variables, never from this file.
    """

    endpoint_url: str = Field("", description="e.g. http://minio:9000; empty for AWS itself")
    region: str = "us-east-1"
    allow_http: bool = Field(False, description="permit plain-HTTP endpoints (local testing)")

    def fsspec_options(self, url: str) -> dict[str, Any]:
        if not url.startswith("s3://"):
            return {}
        options: dict[str, Any] = {"client_kwargs": {"region_name": self.region}}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        return options

    def delta_options(self, url: str) -> dict[str, str]:
        """Storage options in the form delta-rs (deltalake) expects."""
        if not url.startswith("s3://"):
            return {}
        options = {"AWS_REGION": self.region}
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.allow_http:
            options["AWS_ALLOW_HTTP"] = "true"
        return options


class MonitoringSettings(_Section):
    """Where alerts go and what counts as drift. Channels: log, webhook, outbox."""

    channels: str = Field("log", description="comma-separated: log, webhook, outbox")
    webhook_url: str = Field("", description="JSON POST target for the webhook channel")
    webhook_timeout_s: float = Field(5.0, gt=0)
    outbox_path: str = Field("", description="JSON-lines file; default home/alerts.jsonl")
    drift_psi_threshold: float = Field(0.2, gt=0, description="PSI above this is drift")


class PipelineSettings(_Section):
    """How runs execute and report: executor, liveness, concurrency, OpenLineage target."""

    executor: Literal["local", "process", "ray"] = "local"
    max_workers: int = Field(2, gt=0, description="process-pool size for `process`")
    ray_address: str = Field("", description="Ray cluster address for the `ray` executor")
    max_concurrent_runs: int = Field(8, gt=0, description="running pipeline runs per project")
    heartbeat_s: float = Field(5.0, gt=0, description="how often a live run says so")
    crash_after_s: float = Field(30.0, gt=0, description="silent this long: the run crashed")
    held_recheck_s: float = Field(300.0, gt=0, description="scheduler re-checks held runs")
    openlineage_url: str = Field("", description="HTTP endpoint for OpenLineage events")
    openlineage_file: str = Field("", description="JSON-lines file; default home/openlineage")


class Settings(_Section):
    """Effective settings. Paths are absolute once loaded."""

    home: Path = Field(
        Path(".kibble"), description="folder for the embedded database, artifacts, lake"
    )
    project: str = Field("default", description="project (tenant) used when none is given")
    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite in home")
    artifact_url: str = Field("", description="folder or fsspec URL; default: home/artifacts")
    lake_url: str = Field(
        "", description="folder or object-store URL for tables; default: home/lake"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = "text"
    api_url: str = Field(
        "", description="talk to a remote control plane instead of the local store"
    )
    token: str = Field("", description="API token for api_url", repr=False)
    secret_key: str = Field(
        "",
        description="signs request ids and dashboard forms; set the same on every replica "
        "(default: a random key kept in home/secret.key)",
        repr=False,
    )
    allow_private_urls: bool = Field(
        False, description="let connectors and webhooks reach loopback/private addresses"
    )
    serving: ServingSettings = Field(default_factory=ServingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    pipelines: PipelineSettings = Field(default_factory=PipelineSettings)

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _derive_locations(self) -> Settings:
        home = self.home.expanduser()
        object.__setattr__(self, "home", home if home.is_absolute() else Path.cwd() / home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'kibble.db'}")
        if not self.artifact_url:
            object.__setattr__(self, "artifact_url", str(self.home / "artifacts"))
        if not self.lake_url:
            object.__setattr__(self, "lake_url", str(self.home / "lake"))
        return self

    @property
    def sources(self) -> dict[str, str]:
        """Where each dotted key's value came from (default, file:PATH, env:NAME, cli)."""
        return dict(self._sources)

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain JSON-able data, secrets masked."""
        data = self.model_dump(mode="json")
        for secret in ("token", "secret_key"):
            if data.get(secret):
                data[secret] = "***"  # a mask, not a password
        return data


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _known_keys() -> set[str]:
    return set(_flatten(Settings.model_construct().model_dump()))


def _find_config_file(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"KIBBLE_CONFIG points to {path}, which does not exist",
                hint="create it or unset KIBBLE_CONFIG",
            )
        return path
    local = Path.cwd() / CONFIG_FILE_NAME
    return local if local.is_file() else None


def _read_file(path: Path, known: set[str]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the line it names") from exc
    flat = _flatten(data.get("kibble", data))
    unknown = sorted(k for k in flat if k not in known)
    if unknown:
        raise ConfigError(
            f"{path} sets unknown settings: {', '.join(unknown)}",
            hint="run `kibble config show` to list valid keys",
        )
    return flat


def _read_env(environ: Mapping[str, str], known: set[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG":
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if dotted in known:
            found[dotted] = (value, name)
    return found


def load_settings(
    cli: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve the layered settings. ``cli`` holds dotted keys given as flags."""
    env = os.environ if environ is None else environ
    known = _known_keys()
    merged: dict[str, Any] = {}
    sources: dict[str, str] = dict.fromkeys(known, "default")

    path = config_file or _find_config_file(env)
    if path is not None:
        for key, value in _read_file(path, known).items():
            merged[key], sources[key] = value, f"file:{path}"
    for key, (value, name) in _read_env(env, known).items():
        merged[key], sources[key] = value, f"env:{name}"
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}", hint="run `kibble config show`")
        merged[key], sources[key] = value, "cli"

    try:
        settings = Settings.model_validate(_nest(merged))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        origin = sources.get(key, "default")
        raise ConfigError(
            f"setting {key} from {origin} is invalid: {first['msg']}",
            hint="correct the value or remove it to use the default",
        ) from exc
    settings._sources = sources
    return settings
