"""Notifications that need a person: email and/or webhook, each kind at most once per NOTIFY_PERIOD_SECONDS."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from clients.errors import ApiError, BudgetExhausted, GuardError, MsiSyncError
from models.base import utcnow
from models.db import session_scope
from models.operations import Connection, NotificationSent
from models.upsert import insert_for
from worker.settings import Settings

log = logging.getLogger("msi_sync.notify")

# Token-looking strings that must never leave the process, whatever a caller put in a message.
_TOKEN_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/!=-]{8,}"),
    re.compile(r"(?i)((?:access_token|client_secret|password|session_id)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
)
_MASK = "********"


@dataclass(frozen=True)
class Notice:
    """One thing a person must hear about: `kind` decides the once-per-period rule."""

    kind: str
    title: str
    happened: str
    next_step: str


@dataclass(frozen=True)
class _Claim:
    kind: str
    claimed_at: datetime
    previous: datetime | None
    held_back: int


# --- the five kinds --------------------------------------------------------------------------
def notify_run_failed(run_id: int, error: BaseException, settings: Settings | None = None) -> str:
    return send_notice(
        Notice(
            kind="run-failed",
            title=f"sync run {run_id} failed",
            happened=f"Run {run_id} stopped: {error}",
            next_step=(
                "Run `msi-sync status` and `msi-sync failures list` to see what it reached, fix the cause "
                "named above, then let the next cycle run (or `msi-sync sync`). Watermarks did not move, "
                "so nothing is lost."
            ),
        ),
        settings,
    )


def notify_budget_exhausted(error: MsiSyncError, settings: Settings | None = None) -> str:
    system = error.system if isinstance(error, ApiError) else "api"
    wait = error.retry_after if isinstance(error, BudgetExhausted) else None
    resumes = f" Work resumes by itself at about {_at(wait)}." if wait else ""
    return send_notice(
        Notice(
            kind=f"budget:{system}",
            title=f"{_system_name(system)} daily API budget used up",
            happened=f"{error}.{resumes} Chunks wait as `waiting` until then (see `msi-sync status`).",
            next_step=(
                "Nothing, if this is rare. If it happens every day: ask the vendor for a larger daily "
                "allocation, or make cycles less frequent (SYNC_INTERVAL_SECONDS), or lower the write-back's "
                "share (WRITEBACK_*_SHARE)."
            ),
        ),
        settings,
    )


def notify_credentials(error: MsiSyncError, settings: Settings | None = None) -> str:
    system = error.system if isinstance(error, ApiError) else "api"
    names = "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (or SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY)"
    if system == "marketo":
        names = "MARKETO_CLIENT_ID and MARKETO_CLIENT_SECRET, and the API user's role"
    return send_notice(
        Notice(
            kind=f"credentials:{system}",
            title=f"{_system_name(system)} refused the service's credentials",
            happened=f"{error}. Syncing is paused; waiting chunks are tried again every 10 minutes.",
            next_step=(
                f"Check {names}; then run `msi-sync doctor` to confirm, and restart the workers if you "
                "changed a setting."
            ),
        ),
        settings,
    )


def notify_guard(error: GuardError, settings: Settings | None = None) -> str:
    return send_notice(
        Notice(
            kind="guard",
            title="sync refused: Salesforce org or environment changed",
            happened=f"{error.message} No cycle runs until this is resolved.",
            next_step="Follow the instruction above; `msi-sync doctor` shows the recorded and the current org.",
        ),
        settings,
    )


def notify_failures_piling_up(
    open_count: int, threshold: int, top_codes: list[tuple[str, int]], settings: Settings | None = None
) -> str:
    codes = ", ".join(f"{code} ({count})" for code, count in top_codes) or "-"
    return send_notice(
        Notice(
            kind="failures",
            title=f"{open_count} records are failing to reach Marketo",
            happened=(
                f"{open_count} failed records are open (threshold NOTIFY_FAILURES_THRESHOLD={threshold}). "
                f"Most common codes: {codes}."
            ),
            next_step=(
                "Run `msi-sync failures list` and `msi-sync failures show ID` to read Marketo's or "
                "Salesforce's reason; fix the records or the mapping, then `msi-sync failures retry` "
                "(or `dismiss` the ones that should not sync)."
            ),
        ),
        settings,
    )


# --- sending -----------------------------------------------------------------------------------
def send_notice(notice: Notice, settings: Settings | None = None) -> str:
    """Send `notice` through every configured channel unless its kind went out within the period.

    Returns "sent", "held-back" (sent recently), "no-channel" or "failed". Never raises: a
    notification must not break the work it reports on.
    """
    if settings is None:
        from worker import context

        settings = context.settings()
    happened, next_step = scrub(notice.happened, settings), scrub(notice.next_step, settings)
    log.error("%s: %s What to do: %s", notice.title, happened, next_step)
    if not channels(settings):
        return "no-channel"
    try:
        with session_scope(settings.DATABASE_URL) as session:
            claim = _claim(session, notice.kind, settings.NOTIFY_PERIOD_SECONDS, happened)
            origin = _origin(session)
    except Exception as error:  # the database being down must not hide the original problem
        log.error("notification %s not sent: database unavailable (%s)", notice.kind, type(error).__name__)
        return "failed"
    if claim is None:
        return "held-back"
    text = _body(notice.title, happened, next_step, origin, claim)
    delivered = _deliver(settings, notice, happened, next_step, text, origin, claim)
    if not delivered:
        _release(settings.DATABASE_URL, claim)
        return "failed"
    return "sent"


def channels(settings: Settings) -> list[str]:
    found = []
    if settings.SMTP_HOST and settings.NOTIFY_EMAIL_TO:
        found.append("email")
    if settings.NOTIFY_WEBHOOK_URL is not None:
        found.append("webhook")
    return found


def _claim(session: Session, kind: str, period_seconds: int, message: str) -> _Claim | None:
    """Take this period's slot for `kind`, or count one more held-back notice.

    The conditional UPDATE is the lock: on PostgreSQL a second writer re-reads the row after
    the first commits and no longer matches; SQLite lets one writer at a time.
    """
    now = utcnow()
    # RETURNING tells whether a row was written: psycopg reports no rowcount for these statements.
    inserted = session.execute(
        insert_for(session, NotificationSent)
        .values(kind=kind, last_sent_at=now, suppressed=0, last_message=message[:2000])
        .on_conflict_do_nothing(index_elements=["kind"])
        .returning(NotificationSent.kind)
    ).first()
    if inserted is not None:
        return _Claim(kind, now, None, 0)
    before = session.execute(
        select(NotificationSent.last_sent_at, NotificationSent.suppressed).where(NotificationSent.kind == kind)
    ).one()
    taken = session.execute(
        update(NotificationSent)
        .where(NotificationSent.kind == kind, NotificationSent.last_sent_at <= now - timedelta(seconds=period_seconds))
        .values(last_sent_at=now, suppressed=0, last_message=message[:2000])
        .returning(NotificationSent.kind)
    ).first()
    if taken is not None:
        return _Claim(kind, now, before.last_sent_at, int(before.suppressed))
    session.execute(
        update(NotificationSent).where(NotificationSent.kind == kind).values(suppressed=NotificationSent.suppressed + 1)
    )
    return None


def _release(database_url: str, claim: _Claim) -> None:
    """Nothing went out: give the slot back so the next occurrence tries again."""
    try:
        with session_scope(database_url) as session:
            mine = (NotificationSent.kind == claim.kind, NotificationSent.last_sent_at == claim.claimed_at)
            if claim.previous is None:
                session.execute(delete(NotificationSent).where(*mine))
            else:
                session.execute(
                    update(NotificationSent)
                    .where(*mine)
                    .values(last_sent_at=claim.previous, suppressed=claim.held_back)
                )
    except Exception as error:  # best effort; the period simply runs out
        log.warning("could not release notification slot %s (%s)", claim.kind, type(error).__name__)


def _origin(session: Session) -> str:
    row = session.scalars(select(Connection).where(Connection.active.is_(True))).first()
    return f"Salesforce org {row.org_id} ({row.environment})" if row else "no Salesforce org recorded yet"


def _body(title: str, happened: str, next_step: str, origin: str, claim: _Claim) -> str:
    lines = [f"msi-sync: {title}", "", happened, "", f"What to do: {next_step}", "", f"Deployment: {origin}."]
    if claim.held_back:
        lines.append(
            f"{claim.held_back} more notices of this kind were held back since {claim.previous:%Y-%m-%d %H:%M} UTC."
        )
    return "\n".join(lines)


def _deliver(
    settings: Settings, notice: Notice, happened: str, next_step: str, text: str, origin: str, claim: _Claim
) -> bool:
    delivered = False
    if "email" in channels(settings):
        delivered |= _send_email(settings, f"[msi-sync] {notice.title}", text)
    if "webhook" in channels(settings):
        payload = {
            "source": "msi-sync",
            "kind": notice.kind,
            "title": notice.title,
            "happened": happened,
            "what_to_do": next_step,
            "deployment": origin,
            "held_back": claim.held_back,
            "at": claim.claimed_at.isoformat(),
            # Chat tools' incoming webhooks (Slack, Teams, Mattermost) show "text" as is.
            "text": text,
        }
        delivered |= _post_webhook(settings, payload)
    return delivered


def _send_email(settings: Settings, subject: str, text: str) -> bool:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.NOTIFY_EMAIL_FROM
    message["To"] = str(settings.NOTIFY_EMAIL_TO)
    message.set_content(text)
    try:
        with smtplib.SMTP(str(settings.SMTP_HOST), settings.SMTP_PORT, timeout=settings.NOTIFY_TIMEOUT_SECONDS) as smtp:
            if settings.SMTP_STARTTLS:
                smtp.starttls(context=ssl.create_default_context())
            if settings.SMTP_USERNAME:
                smtp.login(settings.SMTP_USERNAME, settings.secret("SMTP_PASSWORD"))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException, MsiSyncError) as error:
        log.error("notification email not sent: %s", type(error).__name__)
        return False
    return True


class _HideWebhookUrl(logging.Filter):
    """urllib3 logs every request's path and query at DEBUG; a webhook URL's path is its secret
    (Slack, Teams and Mattermost put the token there), so it is masked in those records."""

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        self.hidden = [part for part in (parts.path, parts.query) if len(part) > 1]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._masked(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True

    def _masked(self, text: str) -> str:
        for part in self.hidden:
            text = text.replace(part, _MASK)
        return text


def _hide_in_http_logs(url: str) -> None:
    """Install the filter once per webhook URL (this runs before every post)."""
    logger = logging.getLogger("urllib3.connectionpool")
    hide = _HideWebhookUrl(url)
    if hide.hidden not in [getattr(f, "hidden", None) for f in logger.filters]:
        logger.addFilter(hide)


def _post_webhook(settings: Settings, payload: dict[str, object]) -> bool:
    url = settings.secret("NOTIFY_WEBHOOK_URL")
    _hide_in_http_logs(url)
    try:
        response = requests.post(url, json=payload, timeout=settings.NOTIFY_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        # The exception's text holds the URL, which may carry the webhook's token: name the type only.
        log.error("notification webhook not sent: %s", type(error).__name__)
        return False
    if response.status_code >= 300:
        log.error("notification webhook refused: HTTP %s", response.status_code)
        return False
    return True


# --- helpers -------------------------------------------------------------------------------------
def scrub(text: str, settings: Settings) -> str:
    """`text` with every configured secret and anything token-shaped masked."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 4:
            text = text.replace(value.get_secret_value(), _MASK)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + _MASK, text)
    return text


def _system_name(system: str) -> str:
    return {"salesforce": "Salesforce", "marketo": "Marketo"}.get(system, system)


def _at(seconds: float) -> str:
    return f"{utcnow() + timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"
