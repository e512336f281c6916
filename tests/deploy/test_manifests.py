"""The Kubernetes manifests render offline with kubectl kustomize and validate against the
bundled schemas of a supported Kubernetes version."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kibble.config import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.32.0"
CUSTOM_KINDS = {"RayCluster"}  # CRDs: no bundled schema; checked by hand below


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=["dev", "production"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_every_builtin_resource_validates(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_http_deployments_have_probes_resources_and_scrape_annotations(
    docs: list[dict[str, Any]],
) -> None:
    deployments = by_kind(docs, "Deployment")
    assert {"kibble-api", "kibble-serving", "kibble-scheduler"} <= set(deployments)
    for name in ("kibble-api", "kibble-serving"):
        pod = deployments[name]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"]
        assert container["livenessProbe"]["httpGet"]["path"]
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            refs = [e.get("secretRef", {}).get("name") for e in container["envFrom"]]
            assert "kibble-secrets" in refs


def test_serving_scales_and_migrations_run_first(docs: list[dict[str, Any]]) -> None:
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["kibble-serving"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "kibble-serving"
    for name, deployment in by_kind(docs, "Deployment").items():
        init = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init[0]["args"] == ["db", "upgrade"], name
    assert by_kind(docs, "NetworkPolicy")["kibble"]["spec"]["policyTypes"] == [
        "Ingress",
        "Egress",
    ]


def test_secrets_are_the_operators_and_documented(docs: list[dict[str, Any]]) -> None:
    """No Secret ships (no placeholders to forget); the keys pods read are documented."""
    assert by_kind(docs, "Secret") == {}
    example = (KUBERNETES / "secrets.example.env").read_text()
    assert "KIBBLE_DATABASE_URL=" in example
    assert "CHANGE_ME" not in example
    operator_guide = (ROOT / "docs" / "operator.md").read_text()
    assert "secrets.example.env" in operator_guide
    assert "kubectl apply -k deploy/kubernetes/overlays/production" in operator_guide


def test_configmap_and_secret_keys_are_real_settings(docs: list[dict[str, Any]]) -> None:
    """Every KIBBLE_* key in the ConfigMap and the Secret maps to a setting kibble knows."""
    from kibble.config import _known_keys

    known = _known_keys() | {"ray_address"}
    config = next(iter(by_kind(docs, "ConfigMap").values()))
    lines = (KUBERNETES / "secrets.example.env").read_text().splitlines()
    secret = [line.split("=", 1)[0] for line in lines if line.startswith("KIBBLE_")]
    for key in [*config["data"], *secret]:
        dotted = key.removeprefix("KIBBLE_").lower().replace("__", ".")
        assert dotted in known, f"{key} is not a kibble setting"
    assert Settings.model_fields  # the settings model is importable alongside


def test_production_has_a_ray_cluster() -> None:
    docs = render("production")
    ray = by_kind(docs, "RayCluster")["kibble-ray"]
    assert ray["apiVersion"] == "ray.io/v1"
    assert ray["spec"]["workerGroupSpecs"][0]["maxReplicas"] >= 1
    assert by_kind(render("dev"), "RayCluster") == {}


def test_image_builds_from_the_projects_own_lock() -> None:
    containerfile = (ROOT / "deploy" / "Containerfile").read_text()
    assert (
        "pip install --no-cache-dir --require-hashes -r deploy/requirements.lock" in containerfile
    )
    assert '--no-deps ".[postgres,s3,ray]"' in containerfile
    assert "USER 10001" in containerfile


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_holds_every_pin_of_the_image_at_its_version() -> None:
    """A pin changed in pyproject without re-running scripts/lock.sh fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pins = [*project["dependencies"], *extras["postgres"], *extras["s3"], *extras["ray"]]
    lines = (ROOT / "deploy" / "requirements.lock").read_text().splitlines()
    pins_locked = [line.removesuffix(" \\") for line in lines if "==" in line]
    locked = dict((_name(line), line.split("==", 1)[1]) for line in pins_locked)
    hashes = [line.strip() for line in lines if line.strip().startswith("--hash=sha256:")]
    assert len(hashes) == len(pins_locked), "every locked package has its hash"
    assert len(locked) > len(pins)  # the transitive dependencies are locked too
    for pin in pins:
        name, version = _name(pin), pin.split("==", 1)[1]
        found = locked.get(name)
        assert found == version, f"{pin}: the lock has {found}; run scripts/lock.sh"
