"""Which Salesforce org the service serves: `msi-sync connect`, switching orgs, and the guard every cycle passes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clients.errors import AuthenticationFailed, ConfigurationError, GuardError
from models.base import utcnow
from models.db import session_scope
from models.operations import Connection, WritebackState
from models.records import Failure, IdMap, Watermark
from models.runs import RUN_RUNNING, StagedRecord, SyncRun

if TYPE_CHECKING:
    from clients.salesforce import Identity
    from worker.settings import Settings

log = logging.getLogger(__name__)

SANDBOX, PRODUCTION = "sandbox", "production"
# What belongs to one org and goes when the service moves to another: the tables, as people name them.
ORG_STATE: tuple[tuple[str, Any], ...] = (
    ("id map", IdMap),
    ("watermarks", Watermark),
    ("failures", Failure),
    ("staged records", StagedRecord),
    ("write-back memory", WritebackState),
)
REPLACE_FLAG = "--replace-org-and-clear-sync-state"


class SalesforceCheck(Protocol):
    def identity(self) -> Identity: ...

    def is_sandbox(self) -> bool: ...


class MarketoCheck(Protocol):
    def usage_today(self) -> int: ...


@dataclass(frozen=True)
class OrgSeen:
    """The org the configured credentials reach, as Salesforce itself describes it."""

    org_id: str
    user_id: str
    instance_url: str
    environment: str


@dataclass(frozen=True)
class Recorded:
    org_id: str
    environment: str


@dataclass(frozen=True)
class ConnectPlan:
    """What `connect` will do. `action`: record, recheck, relabel, switch-to-production or replace-org."""

    action: str
    found: OrgSeen
    previous: Recorded | None
    to_clear: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def clears(self) -> bool:
        return self.action in ("switch-to-production", "replace-org")

    def describe(self) -> str:
        found = f"{self.found.org_id} ({self.found.environment})"
        before = f"{self.previous.org_id} ({self.previous.environment})" if self.previous else ""
        return {
            "record": f"record org {found} as this deployment's Salesforce org",
            "recheck": f"org {found} is already the connected org; credentials checked",
            "relabel": f"org {found} is the connected org; its environment was recorded as "
            f"{self.previous.environment if self.previous else '?'} and is corrected",
            "switch-to-production": f"switch from sandbox {before} to production {found}",
            "replace-org": f"replace org {before} by org {found}",
        }[self.action]


@dataclass(frozen=True)
class ConnectOutcome:
    plan: ConnectPlan
    applied: bool
    cleared: dict[str, int]
    marketo_used_today: int

    def as_dict(self) -> dict[str, Any]:
        previous = self.plan.previous
        return {
            "status": "connected" if self.applied else "cancelled",
            "action": self.plan.action,
            "summary": self.plan.describe(),
            "org_id": self.plan.found.org_id,
            "environment": self.plan.found.environment,
            "user_id": self.plan.found.user_id,
            "instance_url": self.plan.found.instance_url,
            "previous": {"org_id": previous.org_id, "environment": previous.environment} if previous else None,
            "cleared": self.cleared,
            "would_clear": self.plan.to_clear if not self.applied else {},
            "notes": list(self.plan.notes),
            "marketo_calls_today": self.marketo_used_today,
        }


# --- connect ---------------------------------------------------------------------------------------
def check_credentials(settings: Settings, salesforce: SalesforceCheck, marketo: MarketoCheck) -> tuple[OrgSeen, int]:
    """Get both tokens and make one cheap call each; cross-check the environment with the org itself.

    Raises AuthenticationFailed (a token refused) or ConfigurationError (SALESFORCE_ENVIRONMENT
    contradicts Organization.IsSandbox).
    """
    identity = salesforce.identity()
    environment = SANDBOX if salesforce.is_sandbox() else PRODUCTION
    if environment != settings.SALESFORCE_ENVIRONMENT:
        raise ConfigurationError(
            f"SALESFORCE_ENVIRONMENT is {settings.SALESFORCE_ENVIRONMENT}, but org {identity.org_id} is a "
            f"{environment} org (Organization.IsSandbox). Set SALESFORCE_ENVIRONMENT={environment} if this "
            "is the org you mean, or point SALESFORCE_LOGIN_URL and the credentials at the right org.",
            setting="SALESFORCE_ENVIRONMENT",
        )
    used_today = marketo.usage_today()
    seen = OrgSeen(identity.org_id, identity.user_id, identity.instance_url, environment)
    return seen, used_today


def plan_connect(session: Session, found: OrgSeen, *, replace_org: bool) -> ConnectPlan:
    """Decide what connecting to `found` means, or raise GuardError when it is not allowed."""
    current = active_connection(session)
    if current is None:
        leftovers = {name: n for name, n in count_org_state(session).items() if n}
        notes: tuple[str, ...] = ()
        if leftovers:
            notes = (
                "the database already holds sync state recorded before any org was connected "
                f"({_counts(leftovers)}); it is kept as this org's",
            )
        return ConnectPlan("record", found, None, notes=notes)
    previous = Recorded(current.org_id, current.environment)
    if current.org_id == found.org_id:
        return ConnectPlan("recheck" if current.environment == found.environment else "relabel", found, previous)
    if current.environment == PRODUCTION and found.environment == SANDBOX:
        raise GuardError(production_to_sandbox_message(current.org_id, found.org_id))
    if current.environment == found.environment and not replace_org:
        raise GuardError(
            f"This deployment is connected to {current.environment} org {current.org_id}; the credentials "
            f"reach another {found.environment} org, {found.org_id}. Connecting it would mix two orgs' records "
            f"in Marketo. If you mean to replace the org, run `msi-sync connect {REPLACE_FLAG}`: it deletes the "
            "id map, watermarks, failures, staged records and write-back memory of the old org (the next cycle "
            "is a full sync). Otherwise restore the previous SALESFORCE_* settings."
        )
    running = session.scalars(select(SyncRun.id).where(SyncRun.status == RUN_RUNNING)).first()
    if running is not None:
        raise GuardError(
            f"Run {running} is still running against org {current.org_id}. Wait for it to end "
            "(`msi-sync status`), stop the workers, then run `msi-sync connect` again."
        )
    action = "switch-to-production" if current.environment == SANDBOX else "replace-org"
    switch_notes = (
        f"records that org {current.org_id} put into Marketo stay there: delete them in Marketo if this "
        "instance should only hold the new org's data",
        "restart the workers after changing their settings, so every process talks to the new org",
    )
    return ConnectPlan(action, found, previous, to_clear=count_org_state(session), notes=switch_notes)


def apply_connect(session: Session, plan: ConnectPlan, login_url: str) -> dict[str, int]:
    """Record the plan's org as the one active connection, clearing the old org's state if it says so."""
    cleared = clear_org_state(session) if plan.clears else {}
    now = utcnow()
    current = active_connection(session)
    if current is not None and current.org_id == plan.found.org_id:
        current.environment = plan.found.environment
        current.instance_url, current.user_id = plan.found.instance_url, plan.found.user_id
        current.login_url, current.checked_at = login_url, now
        return cleared
    session.execute(update(Connection).where(Connection.active.is_(True)).values(active=False, replaced_at=now))
    session.flush()
    session.add(
        Connection(
            org_id=plan.found.org_id,
            environment=plan.found.environment,
            instance_url=plan.found.instance_url,
            login_url=login_url,
            user_id=plan.found.user_id,
            active=True,
            connected_at=now,
            checked_at=now,
        )
    )
    session.flush()
    return cleared


def connect(
    settings: Settings,
    salesforce: SalesforceCheck,
    marketo: MarketoCheck,
    *,
    replace_org: bool = False,
    confirm: Callable[[ConnectPlan], bool] = lambda plan: True,
) -> ConnectOutcome:
    """Check the credentials, decide, ask `confirm` before clearing anything, and record the org."""
    found, used_today = check_credentials(settings, salesforce, marketo)
    url = settings.DATABASE_URL
    with session_scope(url) as session:
        plan = plan_connect(session, found, replace_org=replace_org)
    if plan.clears and not confirm(plan):
        return ConnectOutcome(plan, applied=False, cleared={}, marketo_used_today=used_today)
    with session_scope(url) as session:
        # Decided again inside the writing transaction: a run may have started while the person read the prompt.
        again = plan_connect(session, found, replace_org=replace_org)
        if (again.action, again.previous) != (plan.action, plan.previous):
            raise GuardError("The recorded connection changed while connecting; run `msi-sync connect` again.")
        cleared = apply_connect(session, again, str(settings.SALESFORCE_LOGIN_URL or ""))
    log.info("connected: %s", plan.describe())
    return ConnectOutcome(plan, applied=True, cleared=cleared, marketo_used_today=used_today)


def fresh_clients(settings: Settings) -> tuple[SalesforceCheck, MarketoCheck]:
    """Clients that really ask for tokens: a cached Marketo token would hide a secret that no longer works."""
    from clients.marketo import MarketoClient
    from clients.salesforce import SalesforceClient
    from clients.shared import limiter_for
    from clients.token_cache import LocalTokenCache

    limiter = limiter_for(settings)
    return (
        SalesforceClient.from_settings(settings, limiter),
        MarketoClient.from_settings(settings, limiter, LocalTokenCache()),
    )


# --- the guard every cycle passes ----------------------------------------------------------------------
def guard_cycle(settings: Settings, identity_of: Callable[[], Identity] | None = None) -> None:
    """Refuse (GuardError, notified) unless the credentials reach the recorded org in the recorded environment.

    Costs one token request and no API call: the org id comes from the token's identity URL.
    A database that has never synced anything records the org it finds (first cycle of a new
    deployment); `msi-sync connect` verifies the environment later.
    """
    from ops.notify import notify_credentials, notify_guard

    try:
        identity = (identity_of or _fresh_identity(settings))()
    except AuthenticationFailed as refused:
        notify_credentials(refused, settings)
        raise
    try:
        _check_or_adopt(settings, identity)
    except GuardError as refusal:
        log.error("cycle refused: %s", refusal.message)
        notify_guard(refusal, settings)
        raise


def _fresh_identity(settings: Settings) -> Callable[[], Identity]:
    """A new token each cycle, so a cached one cannot hide an org that changed underneath."""
    from clients.salesforce import SalesforceClient
    from clients.shared import limiter_for

    return lambda: SalesforceClient.from_settings(settings, limiter_for(settings)).identity()


def _check_or_adopt(settings: Settings, identity: Identity, attempts: int = 2) -> None:
    with session_scope(settings.DATABASE_URL) as session:
        current = active_connection(session)
        if current is not None:
            problem = guard_problem(Recorded(current.org_id, current.environment), identity.org_id, settings)
            if problem:
                raise GuardError(problem)
            return
        if any(count_org_state(session).values()):
            raise GuardError(
                "No Salesforce org is recorded, but the database holds sync state from an earlier one. "
                "Run `msi-sync connect` to check the credentials and record the org before syncing."
            )
        session.add(
            Connection(
                org_id=identity.org_id,
                environment=settings.SALESFORCE_ENVIRONMENT,
                instance_url=identity.instance_url,
                login_url=str(settings.SALESFORCE_LOGIN_URL or ""),
                user_id=identity.user_id,
                active=True,
            )
        )
        try:
            session.flush()
        except IntegrityError:
            # Another first cycle recorded it a moment ago: check against that one instead.
            session.rollback()
            if attempts <= 1:
                raise
            adopted = False
        else:
            adopted = True
    if adopted:
        log.warning(
            "first cycle: recorded Salesforce org %s as %s (from SALESFORCE_ENVIRONMENT); "
            "run `msi-sync connect` to verify it",
            identity.org_id,
            settings.SALESFORCE_ENVIRONMENT,
        )
        return
    _check_or_adopt(settings, identity, attempts - 1)


def guard_problem(recorded: Recorded, org_id: str, settings: Settings) -> str | None:
    """Why a cycle must not run against `org_id` with these settings, or None when it may."""
    configured = settings.SALESFORCE_ENVIRONMENT
    if org_id != recorded.org_id:
        if recorded.environment == PRODUCTION and configured == SANDBOX:
            return production_to_sandbox_message(recorded.org_id, org_id)
        return (
            f"The Salesforce credentials now reach org {org_id}, but this deployment is connected to "
            f"{recorded.environment} org {recorded.org_id}. Nothing was synced. If you changed orgs on "
            "purpose, run `msi-sync connect` (it says what it clears) and restart the workers; otherwise "
            "restore the previous SALESFORCE_* settings. Workers still on old settings after a connect "
            "need a restart."
        )
    if configured != recorded.environment:
        if recorded.environment == PRODUCTION:
            return production_to_sandbox_message(recorded.org_id, None)
        return (
            f"SALESFORCE_ENVIRONMENT says production, but the connected org {recorded.org_id} is recorded as "
            "a sandbox. Run `msi-sync connect` to verify the org (it corrects the record if the org really "
            "is production, or refuses if it is a sandbox), then restart the workers."
        )
    return None


def production_to_sandbox_message(production_org: str, sandbox_org: str | None) -> str:
    target = f"sandbox org {sandbox_org}" if sandbox_org else "a sandbox (SALESFORCE_ENVIRONMENT=sandbox)"
    return (
        f"This deployment is connected to the production org {production_org}; moving it back to {target} "
        "is not allowed, because sandbox records would be written into the Marketo instance that serves "
        "production. Set SALESFORCE_ENVIRONMENT=production and the production credentials again; to sync a "
        "sandbox, run a separate deployment (its own DATABASE_URL and its own Marketo instance)."
    )


# --- state ----------------------------------------------------------------------------------------------
def active_connection(session: Session) -> Connection | None:
    return session.scalars(select(Connection).where(Connection.active.is_(True))).first()


def count_org_state(session: Session) -> dict[str, int]:
    return {name: int(session.scalar(select(func.count()).select_from(table)) or 0) for name, table in ORG_STATE}


def clear_org_state(session: Session) -> dict[str, int]:
    """Delete everything that belongs to the old org; run history stays as it was."""
    counts = count_org_state(session)
    for _, table in ORG_STATE:
        session.execute(delete(table))
    return counts


def connection_as_dict(row: Connection | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "org_id": row.org_id,
        "environment": row.environment,
        "instance_url": row.instance_url,
        "user_id": row.user_id,
        "connected_at": row.connected_at.isoformat(),
        "checked_at": row.checked_at.isoformat() if row.checked_at else None,
        "verified": row.checked_at is not None,
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {name}" for name, n in counts.items())
