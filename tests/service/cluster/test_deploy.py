"""The cluster's deployment files say what the service does: the Kubernetes example's
probes ask endpoints the app has, its commands are the roles ``python -m service``
takes, and every CATSVC_* variable they (and compose's cluster profile) set is a setting."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.settings import Settings
from service.supervisor import ROLES

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "deploy" / "kubernetes" / "catvnoncat.yaml"


def docs() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(MANIFEST.read_text())}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_the_api_is_probed_on_its_health_endpoints_and_served_by_the_service() -> None:
    d = docs()
    api = container(d[("Deployment", "catvnoncat-api")])
    assert api["args"] == ["python", "-m", "service", "api"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    service = d[("Service", "catvnoncat")]
    labels = d[("Deployment", "catvnoncat-api")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert d[("Deployment", "catvnoncat-api")]["spec"]["replicas"] >= 2


def test_the_trainers_run_the_trainer_role() -> None:
    trainer = container(docs()[("Deployment", "catvnoncat-trainer")])
    assert trainer["args"][-1] in ROLES and trainer["args"] == ["python", "-m", "service", "trainer"]


def test_every_variable_set_is_a_setting() -> None:
    names = {f"CATSVC_{n.upper()}" for n in Settings.model_fields}
    text = MANIFEST.read_text() + (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\bCATSVC_[A-Z0-9_]+\b", text))
    assert used and used <= names, used - names
