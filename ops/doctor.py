"""`msi-sync doctor`: check the connection end to end and verify a sample of synced people as MSI expects."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from simple_salesforce.format import format_soql
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clients.errors import ApiError, AuthenticationFailed, ConfigurationError
from clients.salesforce import Identity, QueryPage
from models.db import session_scope
from models.records import IdMap
from ops.connection import PRODUCTION, SANDBOX, Recorded, active_connection, guard_problem
from pipeline import objects as o
from pipeline.mapping import MappingConfig, Rejected, payload_for
from worker.settings import Settings

OK, PROBLEM, WARNING, SKIPPED = "ok", "problem", "warning", "skipped"
MARKETO_LINK_FIELDS = ("externalPersonId", "externalSalesPersonId", "externalCompanyId")
MARKETO_MSI_FIELDS = (
    "msiLastInterestingMomentType",
    "msiLastInterestingMomentDate",
    "msiLastInterestingMomentDesc",
    "msiLastInterestingMomentSource",
    "priority",
    "relativeUrgency",
    "relativeScoring",
)
# Where MSI's package keeps the scores on Leads and Contacts, unless the write-back maps them elsewhere.
DEFAULT_WRITEBACK_FIELDS = (
    "mkto_si__Last_Interesting_Moment_Type__c",
    "mkto_si__Last_Interesting_Moment_Date__c",
    "mkto_si__Last_Interesting_Moment_Desc__c",
    "mkto_si__Last_Interesting_Moment_Source__c",
    "mkto_si__Priority__c",
    "mkto_si__Urgency_Value__c",
    "mkto_si__Relative_Score_Value__c",
)
MAX_SAMPLE = 200  # one Salesforce query (ids in the URL) and one Marketo call (300 filter values) per object
EXAMPLES = 5


class SalesforceDoctorPort(Protocol):
    def identity(self) -> Identity: ...

    def is_sandbox(self) -> bool: ...

    def describe(self, sobject: str) -> dict[str, Any]: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]: ...


class MarketoDoctorPort(Protocol):
    def describe(self, obj: str) -> dict[str, Any]: ...

    def get(
        self, obj: str, filter_type: str, filter_values: Sequence[Any], *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class Finding:
    """One check's result; a problem always says how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""
    examples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "examples": list(self.examples),
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status == PROBLEM]


Progress = Callable[[str, int, int], None]


def run_doctor(
    settings: Settings,
    salesforce: SalesforceDoctorPort | None,
    marketo: MarketoDoctorPort | None,
    *,
    sample: int = 20,
    progress: Progress | None = None,
    earlier: Sequence[Finding] = (),
) -> Report:
    """Every check, in the order a person would fix things; later checks are skipped when their base fails."""
    report = Report(list(earlier))
    tick = progress or (lambda what, done, total: None)
    identity = _salesforce_access(report, settings, salesforce)
    marketo_ok = _marketo_fields(report, marketo)
    if identity is not None and salesforce is not None:
        _writeback_fields(report, salesforce)
    if identity is not None and salesforce is not None and marketo_ok and marketo is not None:
        _verify_sample(report, settings, salesforce, marketo, min(sample, MAX_SAMPLE), tick)
    else:
        report.add(Finding("sample of synced people", SKIPPED, "needs working Salesforce and Marketo access"))
    return report


# --- Salesforce: token, environment, recorded connection ----------------------------------------------
def _salesforce_access(report: Report, settings: Settings, salesforce: SalesforceDoctorPort | None) -> Identity | None:
    if salesforce is None:
        report.add(Finding("salesforce token", SKIPPED, "Salesforce is not configured (see above)"))
        return None
    try:
        identity = salesforce.identity()
        sandbox = salesforce.is_sandbox()
    except AuthenticationFailed as error:
        report.add(Finding("salesforce token", PROBLEM, str(error), _SF_CREDENTIALS_FIX))
        return None
    except ApiError as error:
        report.add(
            Finding(
                "salesforce token",
                PROBLEM,
                str(error),
                "check SALESFORCE_LOGIN_URL and the network path to Salesforce, then run doctor again",
            )
        )
        return None
    report.add(Finding("salesforce token", OK, f"org {identity.org_id}, user {identity.user_id}"))
    environment = SANDBOX if sandbox else PRODUCTION
    if environment != settings.SALESFORCE_ENVIRONMENT:
        report.add(
            Finding(
                "salesforce environment",
                PROBLEM,
                f"SALESFORCE_ENVIRONMENT is {settings.SALESFORCE_ENVIRONMENT} but the org is a {environment}",
                f"set SALESFORCE_ENVIRONMENT={environment} if this is the right org; otherwise fix the "
                "login URL and credentials",
            )
        )
    else:
        report.add(Finding("salesforce environment", OK, f"{environment} (Organization.IsSandbox agrees)"))
    _recorded_connection(report, settings, identity)
    return identity


def _recorded_connection(report: Report, settings: Settings, identity: Identity) -> None:
    with session_scope(settings.DATABASE_URL) as session:
        current = active_connection(session)
        recorded = Recorded(current.org_id, current.environment) if current else None
        verified = current is not None and current.checked_at is not None
    if recorded is None:
        report.add(
            Finding(
                "connection",
                WARNING,
                "no org is recorded yet",
                "run `msi-sync connect` to check the credentials and record the org",
            )
        )
        return
    problem = guard_problem(recorded, identity.org_id, settings)
    if problem:
        report.add(
            Finding(
                "connection",
                PROBLEM,
                f"cycles are refused: recorded {recorded.environment} org "
                f"{recorded.org_id}, credentials reach {identity.org_id}",
                problem,
            )
        )
    elif not verified:
        report.add(
            Finding(
                "connection",
                WARNING,
                f"org {recorded.org_id} was recorded by the first cycle, its environment unverified",
                "run `msi-sync connect` to verify it against Organization.IsSandbox",
            )
        )
    else:
        report.add(Finding("connection", OK, f"connected to {recorded.environment} org {recorded.org_id}"))


# --- Marketo: token and the fields MSI non-native needs -----------------------------------------------------
def _marketo_fields(report: Report, marketo: MarketoDoctorPort | None) -> bool:
    if marketo is None:
        report.add(Finding("marketo token", SKIPPED, "Marketo is not configured (see above)"))
        return False
    try:
        described = marketo.describe("leads")
    except AuthenticationFailed as error:
        report.add(
            Finding(
                "marketo token",
                PROBLEM,
                str(error),
                "check MARKETO_CLIENT_ID and MARKETO_CLIENT_SECRET (Admin > LaunchPoint > View Details)",
            )
        )
        return False
    except ApiError as error:
        report.add(
            Finding(
                "marketo token",
                PROBLEM,
                str(error),
                "check MARKETO_BASE_URL (https://<munchkin id>.mktorest.com) and the API user's role "
                "(Read-Write Lead permission)",
            )
        )
        return False
    report.add(Finding("marketo token", OK, "token issued; leads/describe2 answered"))
    for finding in lead_field_findings(described):
        report.add(finding)
    return True


def lead_field_findings(described: dict[str, Any]) -> list[Finding]:
    """Check a leads describe(2) answer for the link fields and the MSI fields."""
    fields = {str(f.get("name") or (f.get("rest") or {}).get("name")): f for f in described.get("fields") or []}
    missing_links = [name for name in MARKETO_LINK_FIELDS if name not in fields]
    locked_links = [name for name in MARKETO_LINK_FIELDS if name in fields and fields[name].get("updateable") is False]
    findings = []
    if missing_links or locked_links:
        detail = "; ".join(
            part
            for part in (
                f"missing: {', '.join(missing_links)}" if missing_links else "",
                f"not writable: {', '.join(locked_links)}" if locked_links else "",
            )
            if part
        )
        findings.append(
            Finding(
                "marketo link fields",
                PROBLEM,
                detail,
                'ask Marketo Support or your CSM to enable "MSI Non-Native" on this instance '
                "(it adds externalPersonId and makes the links writable), and keep native CRM sync off",
            )
        )
    else:
        findings.append(Finding("marketo link fields", OK, ", ".join(MARKETO_LINK_FIELDS)))
    missing_msi = [name for name in MARKETO_MSI_FIELDS if name not in fields]
    if missing_msi:
        findings.append(
            Finding(
                "marketo MSI fields",
                PROBLEM,
                f"missing: {', '.join(missing_msi)}",
                "MSI is not enabled for this instance or the API user cannot see its fields: "
                "ask Marketo Support to enable Marketo Sales Insight and MSI Non-Native",
            )
        )
    else:
        findings.append(Finding("marketo MSI fields", OK, f"all {len(MARKETO_MSI_FIELDS)} present"))
    return findings


# --- Salesforce: where the write-back puts the scores ------------------------------------------------------
def _writeback_fields(report: Report, salesforce: SalesforceDoctorPort) -> None:
    own_check = _writeback_check()
    if own_check is not None:
        try:
            for finding in own_check(salesforce):
                report.add(finding)
        except ConfigurationError as error:
            report.add(Finding("salesforce write-back fields", PROBLEM, str(error), f"fix the setting {error.setting}"))
        except ApiError as error:
            report.add(Finding("salesforce write-back fields", PROBLEM, str(error), _FLS_FIX))
        return
    for sobject in (o.LEAD, o.CONTACT):
        try:
            described = salesforce.describe(sobject)
        except ApiError as error:
            report.add(Finding(f"salesforce write-back fields ({sobject})", PROBLEM, str(error), _FLS_FIX))
            continue
        report.add(writeback_field_finding(sobject, described))


def writeback_field_finding(
    sobject: str, described: dict[str, Any], names: Sequence[str] = DEFAULT_WRITEBACK_FIELDS
) -> Finding:
    """Check a Salesforce describe answer for the write-back target fields, present and updateable."""
    fields = {str(f.get("name")): f for f in described.get("fields") or []}
    missing = [name for name in names if name not in fields]
    locked = [name for name in names if name in fields and not fields[name].get("updateable")]
    check = f"salesforce write-back fields ({sobject})"
    if missing or locked:
        detail = "; ".join(
            part
            for part in (
                f"missing: {', '.join(missing)}" if missing else "",
                f"not updateable: {', '.join(locked)}" if locked else "",
            )
            if part
        )
        return Finding(check, PROBLEM, detail, _FLS_FIX)
    return Finding(check, OK, f"all {len(names)} present and updateable")


def _writeback_check() -> Callable[[SalesforceDoctorPort], list[Finding]] | None:
    """The write-back's own field check (it knows the configured mapping), when the write-back is installed."""
    try:
        from pipeline.writeback import check_target_fields
    except ImportError:  # a build without the write-back: check MSI's default fields instead
        return None
    return _adapt(check_target_fields)


def _adapt(check: Callable[..., Any]) -> Callable[[SalesforceDoctorPort], list[Finding]]:
    """Turn the write-back check's problems (objects with sobject, message and fix, or plain strings) into findings."""

    def run(salesforce: SalesforceDoctorPort) -> list[Finding]:
        problems = list(check(salesforce) or [])
        findings = [
            Finding(
                f"salesforce write-back fields ({getattr(p, 'sobject', '') or 'Lead/Contact'})",
                PROBLEM,
                str(getattr(p, "message", p)),
                str(getattr(p, "fix", "") or _FLS_FIX),
            )
            for p in problems
        ]
        for sobject in (o.LEAD, o.CONTACT):
            if not any(f.check.endswith(f"({sobject})") for f in findings):
                findings.append(
                    Finding(f"salesforce write-back fields ({sobject})", OK, "every mapped target field is writable")
                )
        return findings

    return run


# --- a sample of synced people ---------------------------------------------------------------------------------
@dataclass
class _Person:
    sf_id: str
    sobject: str
    owner: str | None = None
    company: str | None = None


def _verify_sample(
    report: Report,
    settings: Settings,
    salesforce: SalesforceDoctorPort,
    marketo: MarketoDoctorPort,
    size: int,
    tick: Progress,
) -> None:
    steps = 5
    tick("reading the id map", 0, steps)
    with session_scope(settings.DATABASE_URL) as session:
        picked = _pick_people(session, size)
        excluded = _excluded_owners(session)
    if not picked:
        report.add(Finding("sample of synced people", SKIPPED, "no synced people yet: run a sync first"))
        return
    config = MappingConfig.load(settings.FIELD_MAPPING_FILE, settings.QUEUE_OWNER_SALES_PERSON_ID)
    try:
        tick("reading the people in Salesforce", 1, steps)
        people = _salesforce_people(salesforce, picked, config, excluded)
        tick("reading their leads in Marketo", 2, steps)
        leads = _by(
            marketo.get("leads", "externalPersonId", [p.sf_id for p in people], fields=["id", *MARKETO_LINK_FIELDS]),
            "externalPersonId",
        )
        owners = sorted({p.owner for p in people if p.owner})
        tick("reading their owners in Salesforce", 3, steps)
        users = _users(salesforce, owners)
        tick("reading the sales persons in Marketo", 4, steps)
        sales = (
            _by(
                marketo.get(
                    "salespersons", "externalSalesPersonId", owners, fields=["id", "externalSalesPersonId", "email"]
                ),
                "externalSalesPersonId",
            )
            if owners
            else {}
        )
    except ApiError as error:
        report.add(
            Finding(
                "sample of synced people",
                PROBLEM,
                f"could not read the sample: {error}",
                "run doctor again; if it persists, check the tokens above",
            )
        )
        return
    tick("comparing", 5, steps)
    for finding in compare_sample(people, leads, users, sales, len(picked)):
        report.add(finding)


def _pick_people(session: Session, size: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(IdMap.sf_id, IdMap.sobject)
        .where(
            IdMap.object_type == o.LEADS,
            IdMap.marketo_id.is_not(None),
            IdMap.deleted_at.is_(None),
            IdMap.merged_into.is_(None),
            IdMap.relink.is_(False),
            IdMap.sobject.in_((o.LEAD, o.CONTACT)),
        )
        .order_by(func.random())
        .limit(size)
    ).all()
    return [(str(sf_id), str(sobject)) for sf_id, sobject in rows]


def _excluded_owners(session: Session) -> set[str]:
    """Automated users: records they own link to no sales person (see pipeline/writers.py)."""
    rows = session.execute(select(IdMap.sf_id, IdMap.key).where(IdMap.object_type == o.SALESPERSONS)).all()
    return {str(sf_id) for sf_id, key in rows if (key or {}).get("excluded")}


def _salesforce_people(
    salesforce: SalesforceDoctorPort, picked: list[tuple[str, str]], config: MappingConfig, excluded: set[str]
) -> list[_Person]:
    people: list[_Person] = []
    queries = (
        (o.LEAD, "SELECT Id, OwnerId, IsConverted FROM Lead WHERE Id IN {}"),
        (o.CONTACT, "SELECT Id, OwnerId, AccountId FROM Contact WHERE Id IN {}"),
    )
    for sobject, template in queries:
        ids = [sf_id for sf_id, kind in picked if kind == sobject]
        if not ids:
            continue
        soql = format_soql(template, ids)
        for page in salesforce.query(soql):
            for record in page.records:
                if record.get("IsConverted"):
                    continue  # its Contact carries the person now
                try:
                    links = payload_for(sobject, record, config).values
                except Rejected:
                    continue
                owner = links.get("externalSalesPersonId")
                people.append(
                    _Person(
                        str(record["Id"]), sobject, None if owner in excluded else owner, links.get("externalCompanyId")
                    )
                )
    return people


def _users(salesforce: SalesforceDoctorPort, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    soql = format_soql("SELECT Id, Email FROM User WHERE Id IN {}", ids)
    return {str(r["Id"]): r for page in salesforce.query(soql) for r in page.records}


def _by(records: Iterator[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get(key):
            found.setdefault(str(record[key]), []).append(record)
    return found


def compare_sample(
    people: list[_Person],
    leads: dict[str, list[dict[str, Any]]],
    users: dict[str, dict[str, Any]],
    sales: dict[str, list[dict[str, Any]]],
    picked: int,
) -> list[Finding]:
    """What MSI needs of each sampled person: one lead by externalPersonId, with its owner and company,
    and an owner whose sales person email equals the Salesforce user's."""
    missing, duplicated, wrong_owner, wrong_company = [], [], [], []
    for person in people:
        found = leads.get(person.sf_id, [])
        if not found:
            missing.append(f"{person.sobject} {person.sf_id}")
            continue
        if len(found) > 1:
            duplicated.append(f"{person.sobject} {person.sf_id}: {len(found)} leads")
        lead = found[0]
        if (lead.get("externalSalesPersonId") or None) != person.owner:
            wrong_owner.append(
                f"{person.sobject} {person.sf_id}: Marketo has {lead.get('externalSalesPersonId')}, "
                f"Salesforce owner {person.owner}"
            )
        if person.company and lead.get("externalCompanyId") != person.company:
            wrong_company.append(
                f"{person.sobject} {person.sf_id}: Marketo has {lead.get('externalCompanyId')}, "
                f"Salesforce account {person.company}"
            )
    no_sales_person, email_differs = [], []
    for owner in sorted({p.owner for p in people if p.owner}):
        if owner not in sales:
            no_sales_person.append(f"User {owner}")
            continue
        user_email = str((users.get(owner) or {}).get("Email") or "").strip().casefold()
        marketo_email = str(sales[owner][0].get("email") or "").strip().casefold()
        if user_email != marketo_email:
            # Which emails differ is personal data: name the user, not the addresses.
            email_differs.append(f"User {owner}")
    rerun = (
        "the next cycle corrects records changed in Salesforce since the last one; if this stays, see "
        "`msi-sync failures list` for these ids, or run `msi-sync sync --full`"
    )
    checks = [
        ("lead found by externalPersonId", missing, "no Marketo lead has this externalPersonId", rerun),
        (
            "one lead per person",
            duplicated,
            "several Marketo leads share one externalPersonId",
            "merge the duplicate leads in Marketo (keep the one the sync created), then run doctor again",
        ),
        ("lead's sales person", wrong_owner, "externalSalesPersonId differs from the Salesforce owner", rerun),
        ("lead's company", wrong_company, "externalCompanyId differs from the contact's account", rerun),
        (
            "owner is a sales person",
            no_sales_person,
            "the owner has no Sales Person in Marketo",
            "see `msi-sync failures list --object-type salespersons`; the user must be an active standard user",
        ),
        (
            "sales person email",
            email_differs,
            "the Sales Person's email differs from the Salesforce user's, so "
            "MSI shows nothing for this owner's records",
            rerun,
        ),
    ]
    findings = []
    for name, bad, what, fix in checks:
        check = f"sample: {name}"
        if bad:
            findings.append(Finding(check, PROBLEM, f"{len(bad)} of the sample: {what}", fix, tuple(bad[:EXAMPLES])))
        else:
            findings.append(Finding(check, OK, f"{len(people)} people checked ({picked} picked)"))
    return findings


_SF_CREDENTIALS_FIX = (
    "check SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (or the JWT username and key), that the External "
    "Client App allows the client-credentials (or JWT) flow with a run-as user, and that SALESFORCE_LOGIN_URL is "
    "the org's My Domain URL"
)
_FLS_FIX = (
    "install the Marketo Sales Insight package in Salesforce, or create the fields; then give the integration "
    "user edit access to them (field-level security in its permission set)"
)


def build_clients(settings: Settings) -> tuple[SalesforceDoctorPort | None, MarketoDoctorPort | None, list[Finding]]:
    """This process's clients, or a finding naming the settings that keep one from being built."""
    from clients.marketo import MarketoClient
    from clients.salesforce import SalesforceClient
    from clients.shared import limiter_for
    from clients.token_cache import LocalTokenCache

    findings: list[Finding] = []
    salesforce: SalesforceDoctorPort | None = None
    marketo: MarketoDoctorPort | None = None
    try:
        salesforce = SalesforceClient.from_settings(settings, limiter_for(settings))
    except ConfigurationError as error:
        findings.append(
            Finding(
                "salesforce settings",
                PROBLEM,
                str(error),
                "set SALESFORCE_LOGIN_URL, SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET "
                "(or SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY)",
            )
        )
    try:
        # A token cache of its own: a shared, still valid token would hide a secret that no longer works.
        marketo = MarketoClient.from_settings(settings, limiter_for(settings), LocalTokenCache())
    except ConfigurationError as error:
        findings.append(
            Finding(
                "marketo settings",
                PROBLEM,
                str(error),
                "set MARKETO_BASE_URL, MARKETO_CLIENT_ID and MARKETO_CLIENT_SECRET",
            )
        )
    return salesforce, marketo, findings
