"""Settings: read once from the environment (and .env), every bad value refused by name, secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clients.errors import ConfigurationError
from worker.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-secret-3f9a7c"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the developer's shell or a .env file in the repository leaks in."""
    from worker.settings import Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_nothing_set_means_the_embedded_defaults() -> None:
    settings = load_settings()
    assert settings.DATABASE_URL.startswith("sqlite:///") and settings.REDIS_URL is None and settings.embedded
    assert settings.SALESFORCE_DAILY_API_LIMIT == 100_000 and settings.MARKETO_DAILY_QUOTA == 50_000
    assert settings.SALESFORCE_ENVIRONMENT == "sandbox"


def test_a_dotenv_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MARKETO_DAILY_QUOTA=20000\nSALESFORCE_DAILY_API_LIMIT=150000\n")
    monkeypatch.setenv("SALESFORCE_DAILY_API_LIMIT", "250000")
    settings = load_settings()
    assert settings.MARKETO_DAILY_QUOTA == 20_000 and settings.SALESFORCE_DAILY_API_LIMIT == 250_000


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SALESFORCE_DAILY_API_LIMIT", "99999", "must be at least 100,000"),
        ("SALESFORCE_DAILY_API_LIMIT", "lots", "SALESFORCE_DAILY_API_LIMIT"),
        ("SALESFORCE_ENVIRONMENT", "staging", "SALESFORCE_ENVIRONMENT"),
        ("SALESFORCE_API_VERSION", "v62.0", "must look like 62.0"),
        ("SALESFORCE_LOGIN_URL", "login.salesforce.com", "must be an http(s) URL"),
        ("MARKETO_BASE_URL", "ftp://123-ABC-456.mktorest.com", "must be an http(s) URL"),
        ("MARKETO_MAX_CONCURRENCY", "11", "MARKETO_MAX_CONCURRENCY"),
        ("MARKETO_DAILY_QUOTA", "0", "MARKETO_DAILY_QUOTA"),
        ("QUEUE_OWNER_SALES_PERSON_ID", "00G000000000001", "must be a Salesforce User id"),
        ("DELETED_PEOPLE", "archive", "DELETED_PEOPLE"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.setting == name
    assert name in str(refused.value) and says in str(refused.value)


def test_the_daily_limit_may_be_anything_from_100000_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("100000", "5000000"):
        monkeypatch.setenv("SALESFORCE_DAILY_API_LIMIT", value)
        assert int(value) == load_settings().SALESFORCE_DAILY_API_LIMIT


def test_a_lease_shorter_than_a_marketo_call_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNK_LEASE_SECONDS", "60")
    monkeypatch.setenv("MARKETO_TIMEOUT_SECONDS", "60")
    with pytest.raises(ConfigurationError, match=r"CHUNK_LEASE_SECONDS \(60\) must be longer than MARKETO_TIMEOUT"):
        load_settings()
    monkeypatch.setenv("MARKETO_TIMEOUT_SECONDS", "59")
    assert load_settings().CHUNK_LEASE_SECONDS == 60


def test_a_visibility_timeout_a_task_could_outlive_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # 60 s of visibility: a countdown may last 15 s, so two task lengths must stay under 45 s.
    monkeypatch.setenv("VISIBILITY_TIMEOUT_SECONDS", "60")
    monkeypatch.setenv("SALESFORCE_TIMEOUT_SECONDS", "15")
    monkeypatch.setenv("MARKETO_TIMEOUT_SECONDS", "15")
    monkeypatch.setenv("CHUNK_LEASE_SECONDS", "20")
    monkeypatch.setenv("TASK_TIME_LIMIT_SECONDS", "23")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert "VISIBILITY_TIMEOUT_SECONDS (60)" in str(refused.value)
    assert "twice TASK_TIME_LIMIT_SECONDS (23)" in str(refused.value)
    monkeypatch.setenv("TASK_TIME_LIMIT_SECONDS", "22")
    assert load_settings().task_soft_time_limit_seconds == pytest.approx(19.8)


def test_a_task_time_limit_shorter_than_an_api_call_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_TIME_LIMIT_SECONDS", "130")  # stopped softly at 117 s: below a 120 s call
    with pytest.raises(ConfigurationError, match=r"TASK_TIME_LIMIT_SECONDS \(130\) leaves no room for one API call"):
        load_settings()
    monkeypatch.setenv("SALESFORCE_TIMEOUT_SECONDS", "100")
    monkeypatch.setenv("MARKETO_TIMEOUT_SECONDS", "100")
    assert load_settings().TASK_TIME_LIMIT_SECONDS == 130


def test_workers_stop_tasks_at_the_time_limit_except_in_the_embedded_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.celery_app import celery_config

    embedded = celery_config(load_settings())
    assert "task_time_limit" not in embedded and "task_soft_time_limit" not in embedded
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    config = celery_config(load_settings())
    assert config["task_time_limit"] == 900 and config["task_soft_time_limit"] == 810
    assert config["broker_transport_options"] == {"visibility_timeout": 3600}


def test_jwt_login_needs_both_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_USERNAME", "integration@example.com")
    with pytest.raises(ConfigurationError, match="SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY go together"):
        load_settings()


def test_a_missing_setting_is_named_when_it_is_needed() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings().require("MARKETO_BASE_URL", "MARKETO_CLIENT_ID")
    assert refused.value.setting == "MARKETO_BASE_URL"
    assert "MARKETO_BASE_URL, MARKETO_CLIENT_ID" in str(refused.value)


def test_secrets_never_show_in_reprs_views_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALESFORCE_CLIENT_SECRET", "MARKETO_CLIENT_SECRET", "SMTP_PASSWORD", "FLOWER_BASIC_AUTH"):
        monkeypatch.setenv(name, CANARY)
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", f"https://hooks.example.com/{CANARY}")
    settings = load_settings()
    assert CANARY not in repr(settings) and CANARY not in str(settings)
    assert CANARY not in str(settings.public_view())
    assert settings.secret("MARKETO_CLIENT_SECRET") == CANARY  # the one place that sends it
    monkeypatch.setenv("MARKETO_DAILY_QUOTA", "not-a-number")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert CANARY not in str(refused.value)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "celery", "-A", "worker", "worker"],
        ["-m", "celery", "-A", "worker", "beat"],
        ["-m", "cli.main", "status"],
    ],
    ids=["worker", "beat", "cli"],
)
def test_a_process_with_a_bad_setting_stops_at_start_naming_it(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME", "LANG")}
    env.update({"SALESFORCE_DAILY_API_LIMIT": "5000", "MARKETO_CLIENT_SECRET": CANARY, "PYTHONPATH": str(REPO)})
    finished = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0
    assert "SALESFORCE_DAILY_API_LIMIT" in output and "must be at least 100,000" in output
    assert CANARY not in output
