"""The deployment kit in deploy/ agrees with the code: the env example is the generated one,
every VG_ variable named exists in the settings, every `vitalgate-cloud` command named exists,
the YAML parses, the systemd units verify, and the ports agree across the kit.

Docker and helm are not run here (no engine, no registry): this is what can be checked
without them."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from cloud.cli import app
from cloud.settings import CloudSettings
from cloud.settings_doc import env_names, render
from gateway.uplink.settings import MqttSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HELM = DEPLOY / "helm/vitalgate"
COMPOSE = DEPLOY / "compose/compose.yaml"
# The cloud's roles and the commands the kit runs (docs/architecture.md, "Process model").
ROLES = {"serve", "ingest", "worker", "sink", "run"}
KIT_COMMANDS = ROLES | {"migrate", "purge"}
# Files of the cloud's kit (the gateway's unit and example, and the dev tools, are not).
CLOUD_KIT = [
    p
    for p in sorted(DEPLOY.rglob("*"))
    if p.is_file() and not {"gateway", "dev"} & set(p.relative_to(DEPLOY).parts)
]
SERVE_PORT = 8000
METRICS_PORT = 9100


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def commands() -> set[str]:
    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_the_env_example_is_the_generated_one() -> None:
    committed = (DEPLOY / "cloud/cloud.env.example").read_text()
    assert committed == render(), (
        "run: python -m cloud.settings_doc > deploy/cloud/cloud.env.example"
    )


def test_every_setting_is_documented_in_the_example() -> None:
    text = (DEPLOY / "cloud/cloud.env.example").read_text()
    for name in env_names():
        block = text.split(f"#{name}=")[0].rstrip().rsplit("\n\n", 1)[-1]
        assert block.startswith("# "), name
    assert {"VG_DATABASE_URL", "VG_MQTT__HOST", "VG_INFLUX__URL", "VG_METRICS_PORT"} <= env_names()


def test_every_variable_the_kit_names_is_a_setting() -> None:
    named: dict[str, set[str]] = {}
    for path in CLOUD_KIT:
        for name in re.findall(r"\bVG_[A-Z0-9_]+\b", path.read_text()):
            if not name.endswith("__"):  # a nested prefix (VG_MQTT__*), not a variable
                named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in named.items() if name not in env_names()}
    assert not unknown
    assert len(named) > 10  # the scan found the kit's variables


def test_every_yaml_file_parses() -> None:
    files = [p for p in CLOUD_KIT if p.suffix in {".yaml", ".yml"} and "templates" not in p.parts]
    assert len(files) >= 6
    for path in files:
        assert load(path) is not None, path
    templates = sorted((HELM / "templates").glob("*.yaml"))
    assert len(templates) >= 6
    for path in templates:  # Go templates: every action closed on its line, at least
        for line in path.read_text().splitlines():
            assert line.count("{{") == len(re.findall(r"\{\{.*?\}\}", line)), (path, line)


def test_the_roles_and_kit_commands_exist_in_the_cli() -> None:
    assert KIT_COMMANDS - commands() == set()


def _commands_named() -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}

    def add(cmd: str, where: Path) -> None:
        named.setdefault(cmd, set()).add(str(where.relative_to(ROOT)))

    for path in CLOUD_KIT:
        for cmd in re.findall(r"(?<![/\w-])vitalgate-cloud ([a-z][a-z-]*)", path.read_text()):
            add(cmd, path)
    for service in load(COMPOSE)["services"].values():
        if "vitalgate-cloud" in str(service.get("image", "")) and "command" in service:
            add(service["command"][0], COMPOSE)
    for path in (HELM / "templates").glob("*.yaml"):
        for cmd in re.findall(r"args: \[([a-z]+)", path.read_text()):
            add(cmd, path)
    cmd = re.search(r'^CMD \["([a-z]+)"', (DEPLOY / "container/Containerfile").read_text(), re.M)
    assert cmd is not None
    add(cmd.group(1), DEPLOY / "container/Containerfile")
    return named


def test_every_command_the_kit_names_exists() -> None:
    named = _commands_named()
    assert {"serve", "ingest", "worker", "sink", "migrate", "purge"} <= named.keys()
    # `schema`, `pki`, `broker`… appear in comments as advice: they must exist too.
    unknown = {cmd: where for cmd, where in named.items() if cmd not in commands()}
    assert not unknown


def _serve_default_port() -> int:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    [port] = [p.default for p in serve.params if p.name == "port"]
    return int(port)


def test_ports_agree_across_the_kit() -> None:
    compose = load(COMPOSE)
    services = compose["services"]
    env = compose["x-cloud"]["environment"]
    values = load(HELM / "values.yaml")
    scrape = load(DEPLOY / "compose/scrape.yaml")
    targets = {
        t for job in scrape["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    mosquitto_conf = (DEPLOY / "compose/mosquitto.conf").read_text()

    # MQTT: the settings' default, the compose broker, its listener, the Helm values.
    mqtt = MqttSettings().port
    assert mqtt == 1883
    assert f"{mqtt}:{mqtt}" in services["mosquitto"]["ports"]
    assert re.findall(r"^listener (\d+)", mosquitto_conf, re.M) == [str(mqtt)]
    assert env["VG_MQTT__PORT"] == str(mqtt)
    assert values["env"]["VG_MQTT__PORT"] == str(mqtt)
    assert values["emqx"]["service"]["mqtt"] == mqtt
    # HTTP: serve's default port everywhere serve runs or is scraped.
    assert _serve_default_port() == SERVE_PORT
    assert services["serve"]["command"][-1] == str(SERVE_PORT)
    assert f"{SERVE_PORT}:{SERVE_PORT}" in services["serve"]["ports"]
    assert values["serve"]["port"] == SERVE_PORT
    assert f"serve:{SERVE_PORT}" in targets
    unit = (DEPLOY / "systemd/vitalgate-serve.service").read_text()
    assert f"--port {SERVE_PORT}" in unit
    containerfile = (DEPLOY / "container/Containerfile").read_text()
    assert f'"--port", "{SERVE_PORT}"' in containerfile
    assert f"EXPOSE {SERVE_PORT} {METRICS_PORT}" in containerfile
    # Metrics of the other roles: one port in every container, scraped there.
    assert env["VG_METRICS_PORT"] == str(METRICS_PORT)
    assert values["metricsPort"] == METRICS_PORT
    roles = [
        n for n, s in services.items() if s.get("command", [""])[0] in {"ingest", "worker", "sink"}
    ]
    assert roles
    assert {f"{n}:{METRICS_PORT}" for n in roles} == targets - {f"serve:{SERVE_PORT}"}
    # The time-series store: written to by the sink and read by Grafana at one address.
    datasource = load(DEPLOY / "grafana/provisioning/datasources/vitalgate.yaml")
    assert (
        datasource["datasources"][0]["url"]
        == env["VG_INFLUX__URL"]
        == "http://victoriametrics:8428"
    )
    assert "-httpListenAddr=:8428" in services["victoriametrics"]["command"]


def test_compose_runs_each_role_and_the_parts_it_needs() -> None:
    services = load(COMPOSE)["services"]
    run = {
        s["command"][0] for s in services.values() if "vitalgate-cloud" in str(s.get("image", ""))
    }
    assert run >= {"serve", "ingest", "worker", "sink", "migrate"}
    assert {"postgres", "mosquitto", "victoriametrics", "grafana"} <= services.keys()
    ids = [
        s["environment"].get("VG_INGEST_CLIENT_ID")
        for s in services.values()
        if s.get("command") == ["ingest"]
    ]
    assert len(ids) == len(set(ids)) >= 2  # each worker its own broker session
    mounts = " ".join(services["grafana"]["volumes"])
    assert "../grafana/dashboards:" in mounts
    assert "../grafana/provisioning:" in mounts


def test_the_helm_chart_runs_n_ingest_workers_on_emqx() -> None:
    chart, values = load(HELM / "Chart.yaml"), load(HELM / "values.yaml")
    assert [d["name"] for d in chart["dependencies"]] == ["emqx"]
    assert values["emqx"]["enabled"] is True
    assert values["ingest"]["replicas"] >= 2
    assert values["env"]["VG_INGEST_GROUP"] == CloudSettings().ingest_group
    ingest = (HELM / "templates/ingest.yaml").read_text()
    assert "replicas: {{ .Values.ingest.replicas }}" in ingest
    assert "VG_INGEST_CLIENT_ID" in ingest
    assert "fieldPath: metadata.name" in ingest


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    exe = ROOT / ".venv/bin/vitalgate-cloud"
    if not exe.exists():
        pytest.skip("no .venv/bin/vitalgate-cloud")
    me = getpass.getuser()
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/vitalgate/bin/vitalgate-cloud", str(exe))
        text = re.sub(r"^(User|Group)=vitalgate$", rf"\1={me}", text, flags=re.M)
        text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
        (tmp_path / unit.name).write_text(text)
    shutil.copy(tmp_path / "vitalgate-ingest@.service", tmp_path / "vitalgate-ingest@9101.service")
    units = sorted(str(p) for p in tmp_path.iterdir() if p.name != "vitalgate-ingest@.service")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    expected = {
        "vitalgate-serve.service", "vitalgate-ingest@.service", "vitalgate-worker.service",
        "vitalgate-sink.service", "vitalgate-migrate.service", "vitalgate-purge.service",
        "vitalgate-purge.timer", "vitalgate-cloud.target",
    }  # fmt: skip
    assert {p.name for p in (DEPLOY / "systemd").iterdir()} == expected
