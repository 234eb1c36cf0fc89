"""What is synced: Salesforce objects read, Marketo object types written, and the steps' dependency graph."""

from __future__ import annotations

from dataclasses import dataclass

# Marketo object types (also the names of `msi-sync sync --objects`).
SALESPERSONS = "salespersons"
COMPANIES = "companies"
LEADS = "leads"
OPPORTUNITIES = "opportunities"
ROLES = "roles"
OBJECT_TYPES = (SALESPERSONS, COMPANIES, LEADS, OPPORTUNITIES, ROLES)

# Salesforce objects read, in the order a cycle reads them.
USER, ACCOUNT, LEAD, CONTACT, OPPORTUNITY, CONTACT_ROLE = (
    "User",
    "Account",
    "Lead",
    "Contact",
    "Opportunity",
    "OpportunityContactRole",
)
SOURCES: dict[str, tuple[str, ...]] = {
    SALESPERSONS: (USER,),
    COMPANIES: (ACCOUNT,),
    # Leads before Contacts: a Contact made by converting a Lead must find the Lead's
    # Marketo record already known, so it takes it over instead of creating a second one.
    LEADS: (LEAD, CONTACT),
    OPPORTUNITIES: (OPPORTUNITY,),
    ROLES: (CONTACT_ROLE,),
}
OBJECT_TYPE_OF: dict[str, str] = {sobject: kind for kind, sobjects in SOURCES.items() for sobject in sobjects}

# Lookups: how a chunk identifies records in Marketo.
BY_EXTERNAL_ID = "external"  # the object's dedupe field (externalPersonId for leads)
BY_MARKETO_ID = "marketo-id"  # leads only: taking over a converted Lead's Marketo record
MERGE = "merge"
DELETE = "delete"


@dataclass(frozen=True)
class Step:
    """One kind of Marketo write of one object type; runs after every step in `after`."""

    name: str
    object_type: str
    action: str  # upsert | merge | delete
    after: tuple[str, ...]
    records_per_call: int = 300

    @property
    def sobjects(self) -> tuple[str, ...]:
        return SOURCES[self.object_type]


def _step(object_type: str, action: str, after: tuple[str, ...] = (), per_call: int = 300) -> Step:
    return Step(f"{object_type}:{action}", object_type, action, after, per_call)


# Upserts go parents first (sales persons, companies, then people and opportunities, then
# roles); removals go children first, so nothing is ever written that points at nothing.
STEPS: tuple[Step, ...] = (
    _step(SALESPERSONS, "upsert"),
    _step(COMPANIES, "upsert", ("salespersons:upsert",)),
    _step(LEADS, "upsert", ("salespersons:upsert", "companies:upsert")),
    _step(OPPORTUNITIES, "upsert", ("salespersons:upsert", "companies:upsert")),
    # One Marketo merge call per record: small chunks keep each task short.
    _step(LEADS, "merge", ("leads:upsert",), per_call=10),
    _step(ROLES, "upsert", ("leads:upsert", "leads:merge", "opportunities:upsert")),
    _step(ROLES, "delete", ("roles:upsert",)),
    _step(OPPORTUNITIES, "delete", ("roles:delete",)),
    _step(LEADS, "delete", ("roles:delete",)),
    _step(COMPANIES, "delete", ("leads:delete", "leads:merge", "opportunities:delete")),
)
STEP_BY_NAME: dict[str, Step] = {step.name: step for step in STEPS}


def upsert_step(object_type: str) -> Step:
    return STEP_BY_NAME[f"{object_type}:upsert"]


def sobjects_for(object_types: tuple[str, ...] | list[str]) -> list[str]:
    """The Salesforce objects to read for the given Marketo object types, in reading order."""
    wanted = set(object_types)
    return [sobject for kind in OBJECT_TYPES if kind in wanted for sobject in SOURCES[kind]]
