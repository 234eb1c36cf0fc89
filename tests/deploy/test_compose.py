"""docker-compose.yml, the env files and the Dockerfile, checked without Docker: real entry points, real settings."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.deploy.compose import (
    DEMO_ENV,
    ENV_EXAMPLE,
    REPO,
    active_values,
    command_of,
    compose,
    env_file_lines,
    healthcheck_command,
    interpolate,
    parse_celery,
    parse_msi_sync,
    services,
    variables_used,
)
from worker.queues import QUEUES
from worker.settings import Settings, load_settings

SETTINGS = set(Settings.model_fields)
SECRET_SETTINGS = {
    name for name, field in Settings.model_fields.items() if SecretStr in typing.get_args(field.annotation)
}
# Variables that are not our settings but are known to their readers: compose itself, the
# postgres image, and requests (the CA bundle the demo's workers trust).
KNOWN_ELSEWHERE = {
    "COMPOSE_PROFILES",
    "MSI_SYNC_ENV_FILE",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "REQUESTS_CA_BUNDLE",
}
THIRD_PARTY_IMAGES = {"redis", "postgres"}
DEMO_ONLY = {"salesforce-sim", "marketo-sim", "demo-connect", "demo-sync"}
ONE_SHOT = {"demo-connect", "demo-sync"}


def demo_variables() -> dict[str, str]:
    return active_values(DEMO_ENV)


def production_variables() -> dict[str, str]:
    """.env.example as an operator fills it in: every empty required value given one."""
    return {name: value or "filled-in" for name, value in active_values(ENV_EXAMPLE).items()}


def ours() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if name not in THIRD_PARTY_IMAGES}


def test_services_and_the_demo_profile() -> None:
    assert (
        set(services())
        == {"redis", "postgres", "worker-sync", "worker-marketo", "worker-writeback", "beat", "flower"} | DEMO_ONLY
    )
    for name, service in services().items():
        assert service.get("profiles") == (["demo"] if name in DEMO_ONLY else None), name
    for name, service in ours().items():
        assert service["image"] == "msi-sync:local" and service["build"] == ".", name


@pytest.mark.parametrize("variables", [demo_variables, production_variables], ids=["demo", "production"])
def test_every_command_is_one_of_our_entry_points(variables: Any) -> None:
    values = variables()
    for name, service in ours().items():
        argv = command_of(service, values)
        if argv[0] == "celery":
            sub, _ = parse_celery(argv)
            assert sub in ("worker", "beat", "flower"), name
        else:
            path, _ = parse_msi_sync(argv)
            assert path in ("simulate salesforce", "simulate marketo", "connect", "sync"), name


def test_each_queue_has_exactly_one_worker_family() -> None:
    consumed: dict[str, str] = {}
    for name, service in ours().items():
        argv = command_of(service, demo_variables())
        if argv[:4] != ["celery", "-A", "worker", "worker"]:
            continue
        _, params = parse_celery(argv)
        assert params["queues"], f"{name} would consume every queue"
        for queue in params["queues"]:
            assert queue not in consumed, f"{queue} is read by {consumed[queue]} and {name}"
            consumed[queue] = name
        assert not params.get("beat"), f"{name} embeds a beat"
    assert consumed == {"sync": "worker-sync", "marketo": "worker-marketo", "writeback": "worker-writeback"}
    assert set(consumed) == {queue.name for queue in QUEUES}


def test_the_marketo_worker_runs_as_many_processes_as_the_limiter_lets_call_at_once() -> None:
    service = services()["worker-marketo"]
    assert "${MARKETO_MAX_CONCURRENCY:-5}" in service["command"]
    assert Settings.model_fields["MARKETO_MAX_CONCURRENCY"].default == 5
    _, params = parse_celery(command_of(service, {"MARKETO_MAX_CONCURRENCY": "10"}))
    assert params["concurrency"] == 10  # Marketo's own ceiling for the whole instance


def test_exactly_one_beat_with_its_schedule_in_a_volume() -> None:
    beats = [name for name, service in ours().items() if command_of(service, demo_variables())[3:4] == ["beat"]]
    assert beats == ["beat"]
    _, params = parse_celery(command_of(services()["beat"], demo_variables()))
    schedule_dir = str(Path(params["schedule"]).parent)
    assert any(volume.split(":")[1] == schedule_dir for volume in services()["beat"]["volumes"])


def test_workers_answer_their_health_check_by_their_own_node_name() -> None:
    for name in ("worker-sync", "worker-marketo", "worker-writeback"):
        service = services()[name]
        argv = command_of(service, demo_variables())
        sub, params = parse_celery(healthcheck_command(service, demo_variables()))
        assert sub == "inspect" and params["command"] == "ping"
        # `-n sync@%h` names the node after the container's hostname, which $HOSTNAME holds.
        node_name = argv[argv.index("-n") + 1]
        assert node_name.endswith("@%h")
        assert params["destination"] == [node_name.replace("%h", "$HOSTNAME")], name


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in services().items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), name
    assert services()["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "pg_isready" in services()["postgres"]["healthcheck"]["test"][1]
    assert "/healthcheck" in " ".join(services()["flower"]["healthcheck"]["test"])


def test_dependencies_and_volumes_exist() -> None:
    declared = set(compose()["volumes"])
    for name, service in services().items():
        for needed in service.get("depends_on", {}):
            assert needed in services(), (name, needed)
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared, (name, volume)
    # Production must start without the demo: the simulators are optional dependencies.
    for name, service in services().items():
        if name not in DEMO_ONLY:
            for needed, how in service.get("depends_on", {}).items():
                assert needed not in DEMO_ONLY or how.get("required") is False, (name, needed)


def test_redis_never_evicts_and_keeps_its_data() -> None:
    command = " ".join(services()["redis"]["command"])
    assert "--maxmemory-policy noeviction" in command
    assert "--appendonly yes" in command
    assert any(volume.endswith(":/data") for volume in services()["redis"]["volumes"])


def test_flower_needs_a_login_and_loads_our_config() -> None:
    flower = services()["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    with pytest.raises(ValueError, match="FLOWER_BASIC_AUTH is required"):
        interpolate(flower["environment"]["FLOWER_BASIC_AUTH"], {})
    assert "FLOWER_UNAUTHENTICATED_API" not in (REPO / "docker-compose.yml").read_text()
    from flower.options import default_options

    arguments = command_of(flower, demo_variables())[4:]
    for argument in arguments:
        option = argument.removeprefix("--").split("=")[0].replace("_", "-")
        assert option in default_options._options, argument
    conf = next(a.split("=", 1)[1] for a in arguments if a.startswith("--conf="))
    assert (REPO / conf).is_file()
    # /metrics and /healthcheck need no login in Flower: keep the port on this machine.
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])


def test_every_variable_a_container_gets_is_a_setting_or_known() -> None:
    allowed = SETTINGS | KNOWN_ELSEWHERE
    for name, service in services().items():
        if name not in THIRD_PARTY_IMAGES:
            assert set(service.get("environment", {})) <= allowed, name
    assert variables_used() <= allowed
    assert {n for n, *_ in env_file_lines(ENV_EXAMPLE)} <= allowed
    assert set(demo_variables()) <= allowed


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    demo = demo_variables()
    for name in SECRET_SETTINGS | {"POSTGRES_PASSWORD"}:
        if demo.get(name):
            assert demo[name] not in text, name
    for name, service in services().items():
        for key, value in service.get("environment", {}).items():
            if key in SECRET_SETTINGS or re.search("PASSWORD|SECRET|AUTH|KEY", key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[-?][^}]*)?\}", str(value)), (name, key)
    url = services()["worker-sync"]["environment"]["DATABASE_URL"]
    assert re.search(r":\$\{POSTGRES_PASSWORD:\?[^}]*\}@", url)


def test_env_example_lists_every_setting_with_a_comment_and_no_secret() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    listed = {name: (value, active, number) for name, value, active, number in env_file_lines(ENV_EXAMPLE)}
    assert SETTINGS - set(listed) == set(), "settings missing from .env.example"
    for name in SETTINGS:
        value, active, number = listed[name]
        comment = lines[number - 1].strip()
        assert comment.startswith("#") and "=" not in comment.split()[1], f"{name} has no comment above it"
        if name in SECRET_SETTINGS:
            assert value == "", f"{name} must be empty in .env.example"
        default = Settings.model_fields[name].default
        if not active and value and default is not None:
            assert value.lower() == str(default).lower(), f"{name}: .env.example says {value}, the code {default}"
    assert listed["POSTGRES_PASSWORD"][:2] == ("", True)
    # The required compose values are there to fill in, and the rest is valid as it stands.
    required = {m.group(1) for m in re.finditer(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.yml").read_text())}
    assert required <= {name for name, (_, active, _) in listed.items() if active}
    load_settings(**{k: v for k, v in active_values(ENV_EXAMPLE).items() if k in SETTINGS})


def test_demo_env_points_the_services_at_the_demo_simulators() -> None:
    demo = demo_variables()
    settings = load_settings(**{k: v for k, v in demo.items() if k in SETTINGS})
    sims = services()
    _, salesforce = parse_msi_sync(command_of(sims["salesforce-sim"], demo))
    _, marketo = parse_msi_sync(command_of(sims["marketo-sim"], demo))
    every_interface = "0.0.0.0"  # noqa: S104 - inside the compose network, where the workers are
    assert salesforce["host"] == every_interface and marketo["host"] == every_interface
    assert salesforce["public_host"] == "salesforce-sim"
    assert f"https://salesforce-sim:{salesforce['port']}" == settings.SALESFORCE_LOGIN_URL
    assert f"http://marketo-sim:{marketo['port']}" == settings.MARKETO_BASE_URL
    tls_dir = str(salesforce["tls_dir"])
    assert demo["REQUESTS_CA_BUNDLE"] == f"{tls_dir}/ca.pem"
    ca_volume = next(v.split(":")[0] for v in sims["salesforce-sim"]["volumes"] if v.split(":")[1] == tls_dir)
    for name in ("worker-sync", "worker-marketo", "worker-writeback", "demo-connect", "demo-sync"):
        assert f"{ca_volume}:{tls_dir}:ro" in sims[name]["volumes"], name
    for sim, prefix in ((salesforce, "SALESFORCE"), (marketo, "MARKETO")):
        assert demo[f"{prefix}_CLIENT_ID"] == sim["client_id"]
        assert demo[f"{prefix}_CLIENT_SECRET"] == sim["client_secret"]
    assert salesforce["sandbox"] and settings.SALESFORCE_ENVIRONMENT == "sandbox"
    # The same file gives compose its values and every container its settings.
    assert interpolate(sims["worker-sync"]["env_file"], demo) == "deploy/demo.env" == str(DEMO_ENV.relative_to(REPO))
    assert interpolate(sims["worker-sync"]["env_file"], production_variables()) == ".env"
    assert demo["COMPOSE_PROFILES"] == "demo"


def test_the_dockerfile_installs_every_package_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip()]
    assert lines[[line.startswith("FROM") for line in lines].index(True)] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(re.search(r"\bpip install \.(\s|$)", line) for line in lines)
    copied = {source for line in lines if line.startswith("COPY ") for source in line.split()[1:-1]}
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    assert {"pyproject.toml", "README.md"} <= copied
    cmd = next(line for line in reversed(lines) if line.startswith("CMD "))
    assert cmd.startswith('CMD ["msi-sync"')
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git"} <= ignored
