"""The service's settings: one typed object, read once from the environment and an optional .env."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clients.errors import ConfigurationError

SALESFORCE_MIN_DAILY_LIMIT = 100_000
_SECRET_NAMES = frozenset(
    {
        "SALESFORCE_CLIENT_SECRET",
        "SALESFORCE_PRIVATE_KEY",
        "MARKETO_CLIENT_SECRET",
        "SMTP_PASSWORD",
        "NOTIFY_WEBHOOK_URL",
        "FLOWER_BASIC_AUTH",
    }
)


class Settings(BaseSettings):
    """Every knob of the service. Names are the environment variables, so deployments are predictable."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    # --- storage and broker -------------------------------------------------------------
    DATABASE_URL: str = "sqlite:///var/msi-sync.db"
    # Unset means "embedded": in-memory broker, in-process worker, process-local limiter.
    REDIS_URL: str | None = None
    # Redis redelivers an unacknowledged task after this long; every task and every
    # countdown is kept well under it (see worker/celery_app.py and _tasks_end_before_redelivery).
    VISIBILITY_TIMEOUT_SECONDS: int = Field(default=3600, ge=60)
    # The longest any task may run: past it the worker kills the task (a tenth earlier, the
    # task is told and gives its work back cleanly).
    TASK_TIME_LIMIT_SECONDS: int = Field(default=900, ge=5)

    # --- Salesforce ---------------------------------------------------------------------
    SALESFORCE_LOGIN_URL: str | None = None
    SALESFORCE_CLIENT_ID: str | None = None
    SALESFORCE_CLIENT_SECRET: SecretStr | None = None
    # JWT bearer instead of client credentials when both of these are set.
    SALESFORCE_USERNAME: str | None = None
    SALESFORCE_PRIVATE_KEY: SecretStr | None = None
    SALESFORCE_ENVIRONMENT: Literal["sandbox", "production"] = "sandbox"
    SALESFORCE_API_VERSION: str = "62.0"
    SALESFORCE_DAILY_API_LIMIT: int = SALESFORCE_MIN_DAILY_LIMIT
    SALESFORCE_TIMEOUT_SECONDS: float = Field(default=120.0, gt=0)

    # --- Marketo ------------------------------------------------------------------------
    MARKETO_BASE_URL: str | None = None
    MARKETO_CLIENT_ID: str | None = None
    MARKETO_CLIENT_SECRET: SecretStr | None = None
    MARKETO_DAILY_QUOTA: int = Field(default=50_000, ge=1)
    # Marketo allows 100 calls per 20 s for the whole instance, shared with every other
    # integration; Adobe advises an integration to stay at or under half of it.
    MARKETO_CALLS_PER_20S: int = Field(default=50, ge=1, le=100)
    MARKETO_MAX_CONCURRENCY: int = Field(default=5, ge=1, le=10)
    # 20 s in production; a time-scaled simulator shortens it for benchmarks.
    MARKETO_RATE_WINDOW_SECONDS: float = Field(default=20.0, gt=0)
    MARKETO_TIMEOUT_SECONDS: float = Field(default=120.0, gt=0)
    # Marketo's longest server-side timeout: a write whose answer was lost is not sent again
    # before this long after it left (it may still be applied; two copies make duplicates).
    MARKETO_SERVER_TIMEOUT_SECONDS: float = Field(default=90.0, ge=0)

    # --- the sync -----------------------------------------------------------------------
    SYNC_INTERVAL_SECONDS: int = Field(default=300, ge=10)
    WATERMARK_OVERLAP_SECONDS: int = Field(default=300, ge=0)
    DELETED_PEOPLE: Literal["keep", "delete"] = "keep"
    # Owners that are queues (00G...) have no Sales Person; optionally give them one.
    QUEUE_OWNER_SALES_PERSON_ID: str | None = None
    FIELD_MAPPING_FILE: Path | None = None
    CHUNK_LEASE_SECONDS: int = Field(default=300, ge=5)
    SWEEPER_INTERVAL_SECONDS: int = Field(default=60, ge=5)

    # --- write-back ---------------------------------------------------------------------
    WRITEBACK_INTERVAL_SECONDS: int = Field(default=900, ge=10)
    WRITEBACK_SALESFORCE_SHARE: float = Field(default=0.25, gt=0, le=1)
    WRITEBACK_MARKETO_SHARE: float = Field(default=0.2, gt=0, le=1)
    # >>> write-back passes (issue 4; pipeline/writeback/, docs/writeback.md) >>>
    # JSON {"marketoField": "Salesforce_Field__c" or null to drop} over the MSI package defaults.
    WRITEBACK_FIELD_MAPPING_FILE: Path | None = None
    # Marketo calls one pass may spend; unset means the write-back's daily share spread evenly
    # over the day's passes: MARKETO_DAILY_QUOTA x WRITEBACK_MARKETO_SHARE x interval / 86,400.
    WRITEBACK_MARKETO_CALLS_PER_PASS: int | None = Field(default=None, ge=2)
    # How long a pass trusts the last describe of the target fields before asking again.
    WRITEBACK_DESCRIBE_CACHE_SECONDS: int = Field(default=3600, ge=0)
    # <<< write-back passes <<<

    # --- notifications ------------------------------------------------------------------
    SMTP_HOST: str | None = None
    SMTP_PORT: int = Field(default=25, ge=1, le=65535)
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_STARTTLS: bool = False
    NOTIFY_EMAIL_FROM: str = "msi-sync@localhost"
    NOTIFY_EMAIL_TO: str | None = None
    NOTIFY_WEBHOOK_URL: SecretStr | None = None
    NOTIFY_PERIOD_SECONDS: int = Field(default=3600, ge=0)

    # --- operator tools: notifications and checks (issue 5, ops/) -------------------------
    # Open failed records (errors, not warnings) at which a person is told they are piling up.
    NOTIFY_FAILURES_THRESHOLD: int = Field(default=100, ge=1)
    # Each email or webhook attempt gives up after this long; a notification never holds a task up for long.
    NOTIFY_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    # --- end of the operator tools block ----------------------------------------------------

    # --- operations ---------------------------------------------------------------------
    FLOWER_BASIC_AUTH: SecretStr | None = None
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("SALESFORCE_DAILY_API_LIMIT")
    @classmethod
    def _daily_limit_floor(cls, value: int) -> int:
        if value < SALESFORCE_MIN_DAILY_LIMIT:
            raise ValueError(
                f"must be at least {SALESFORCE_MIN_DAILY_LIMIT:,} (Salesforce's smallest daily "
                f"allocation for an integration of this kind); got {value:,}"
            )
        return value

    @field_validator("SALESFORCE_API_VERSION")
    @classmethod
    def _api_version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}\.0", value):
            raise ValueError(f"must look like 62.0 (no leading v); got {value!r}")
        return value

    @field_validator("SALESFORCE_LOGIN_URL", "MARKETO_BASE_URL")
    @classmethod
    def _https_or_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"must be an http(s) URL such as https://host; got {value!r}")
        return value.rstrip("/")

    @field_validator("QUEUE_OWNER_SALES_PERSON_ID")
    @classmethod
    def _queue_owner_is_a_user_id(cls, value: str | None) -> str | None:
        from clients.sfids import to_18

        if value is None:
            return None
        if not value.startswith("005"):
            raise ValueError("must be a Salesforce User id (starting 005)")
        return to_18(value)

    @model_validator(mode="after")
    def _jwt_needs_both(self) -> Settings:
        if (self.SALESFORCE_USERNAME is None) != (self.SALESFORCE_PRIVATE_KEY is None):
            raise ValueError("SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY go together (JWT bearer login)")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_marketo_call(self) -> Settings:
        # A chunk renews its lease right before each Marketo request. A request that may last
        # longer than the lease lets another worker take the chunk over and send the same keys
        # while the first is still in flight: Marketo then creates the records twice.
        if self.CHUNK_LEASE_SECONDS <= self.MARKETO_TIMEOUT_SECONDS:
            raise ValueError(
                f"CHUNK_LEASE_SECONDS ({self.CHUNK_LEASE_SECONDS}) must be longer than "
                f"MARKETO_TIMEOUT_SECONDS ({self.MARKETO_TIMEOUT_SECONDS:g}), so that no chunk is taken "
                "over while its Marketo call may still be in flight"
            )
        return self

    @model_validator(mode="after")
    def _tasks_end_before_redelivery(self) -> Settings:
        # A message stays unacknowledged in Redis from delivery to the end of its task: through
        # its countdown, while it waits for a busy pool process (at most one task's length, as a
        # worker prefetches one message per process) and while it runs. Redis hands it out again
        # past the visibility timeout, so all three together must end before it.
        longest_call = max(self.MARKETO_TIMEOUT_SECONDS, self.SALESFORCE_TIMEOUT_SECONDS)
        if self.task_soft_time_limit_seconds <= longest_call:
            raise ValueError(
                f"TASK_TIME_LIMIT_SECONDS ({self.TASK_TIME_LIMIT_SECONDS}) leaves no room for one API call: "
                f"nine tenths of it must be longer than MARKETO_TIMEOUT_SECONDS and SALESFORCE_TIMEOUT_SECONDS "
                f"({longest_call:g})"
            )
        unacknowledged = self.max_countdown_seconds + 2 * self.TASK_TIME_LIMIT_SECONDS
        if unacknowledged >= self.VISIBILITY_TIMEOUT_SECONDS:
            raise ValueError(
                f"VISIBILITY_TIMEOUT_SECONDS ({self.VISIBILITY_TIMEOUT_SECONDS}) must be longer than a "
                f"countdown ({self.max_countdown_seconds:g}) plus twice TASK_TIME_LIMIT_SECONDS "
                f"({self.TASK_TIME_LIMIT_SECONDS}), or Redis would hand a task that is still waiting or "
                "running to a second worker"
            )
        return self

    @property
    def task_soft_time_limit_seconds(self) -> float:
        """When a running task is told to give its work back (SoftTimeLimitExceeded)."""
        return 0.9 * self.TASK_TIME_LIMIT_SECONDS

    @property
    def extract_task_seconds(self) -> float:
        """How long an extract task reads pages before it hands the rest to a new task."""
        return self.task_soft_time_limit_seconds / 2

    @property
    def max_countdown_seconds(self) -> float:
        """The longest a task may wait as a Celery countdown; longer waits are parked for the sweeper.

        A countdown message stays unacknowledged in Redis while it waits; past the visibility
        timeout Redis hands it out again and the task would run twice.
        """
        return min(300.0, self.VISIBILITY_TIMEOUT_SECONDS / 4)

    @property
    def extract_lease_seconds(self) -> float:
        return 2.0 * self.CHUNK_LEASE_SECONDS

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: everything runs in one process."""
        return self.REDIS_URL is None

    def require(self, *names: str) -> None:
        """Raise ConfigurationError naming every listed setting that is not set."""
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            raise ConfigurationError(
                "missing setting" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing),
                setting=missing[0],
            )

    def secret(self, name: str) -> str:
        """The plain value of a secret setting, for the one place that sends it."""
        value = getattr(self, name)
        if value is None:
            raise ConfigurationError(f"missing setting: {name}", setting=name)
        return str(value.get_secret_value())

    def public_view(self) -> dict[str, Any]:
        """Every setting with secrets masked: what `msi-sync doctor` and logs may show."""
        view: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in _SECRET_NAMES:
                view[name] = None if value is None else "********"
            elif isinstance(value, Path):
                view[name] = str(value)
            else:
                view[name] = value
        return view


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        # A check across settings names them in its own message.
        lines.append(f"{name}: {message}" if name else message)
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; a bad value raises ConfigurationError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]["loc"]
        raise ConfigurationError(
            "invalid settings: " + _describe(error),
            setting=str(first[0]) if first else None,
        ) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def settings_as_json(settings: Settings) -> str:
    return json.dumps(settings.public_view(), indent=2, default=str)
