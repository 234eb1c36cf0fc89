"""The simulated instance's object types: fields, keys, searchable fields and describe answers.

Field names, types and lengths follow Adobe's describe examples (DEV/sales-persons, companies,
opportunities, opportunity-roles, leads) and the MSI non-native field list (MSI-NN). Where the
docs leave a type open the choice is written next to the field:

* MSI fields: ``priority`` integer 0..100, ``relativeUrgency``/``relativeScoring`` integer 0..3
  (MSI-STARS), the interesting-moment fields string/datetime. UNCONFIRMED in the docs.
* Sales person ``email``: the describe example says ``updateable: false``; MSI-NN requires it to
  follow the Salesforce user's email, so it is kept updateable here (decision).
* Opportunity fields beyond the documented ones use the SFDC-style camelCase names
  (``closeDate``, ``isClosed``, ...), UNCONFIRMED but what describe would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    display: str
    data_type: str
    length: int | None = None
    updateable: bool = True
    read_only: bool = False  # system or MSI managed: a write is refused


@dataclass(frozen=True)
class ObjectType:
    """One Lead Database object as its describe call presents it."""

    name: str  # the path name: salespersons, companies, opportunities, roles, leads
    api_name: str
    display: str
    id_field: str
    dedupe_fields: tuple[str, ...]
    searchable: tuple[tuple[str, ...], ...]
    fields: tuple[Field, ...]
    default_query_fields: tuple[str, ...] = ()
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def searchable_single(self) -> frozenset[str]:
        return frozenset(group[0] for group in self.searchable if len(group) == 1)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.api_name,
            "displayName": self.display,
            "createdAt": "2015-02-03T22:36:23Z",
            "updatedAt": "2015-02-03T22:36:24Z",
            "idField": self.id_field,
            "dedupeFields": list(self.dedupe_fields),
            "searchableFields": [list(group) for group in self.searchable],
            "fields": [_describe_field(f) for f in self.fields],
        }


def _describe_field(f: Field) -> dict[str, object]:
    out: dict[str, object] = {"name": f.name, "displayName": f.display, "dataType": f.data_type}
    if f.length is not None:
        out["length"] = f.length
    out["updateable"] = f.updateable and not f.read_only
    return out


def _s(name: str, display: str, length: int = 255, **kw: bool) -> Field:
    return Field(name, display, "string", length, **kw)


_STAMPS = (
    Field("createdAt", "Created At", "datetime", updateable=False, read_only=True),
    Field("updatedAt", "Updated At", "datetime", updateable=False, read_only=True),
)

SALES_PERSONS = ObjectType(
    name="salespersons",
    api_name="SalesPerson",
    display="Sales Person",
    id_field="id",
    dedupe_fields=("externalSalesPersonId",),
    searchable=(("email",), ("id",), ("externalSalesPersonId",)),
    fields=(
        Field("id", "Marketo Id", "integer", updateable=False, read_only=True),
        *_STAMPS,
        _s("externalSalesPersonId", "External Sales Person Id", updateable=False),
        _s("email", "Email"),
        _s("firstName", "First Name"),
        _s("lastName", "Last Name"),
        _s("title", "Title"),
        Field("phone", "Phone", "phone", 255),
        Field("mobilePhone", "Mobile Phone", "phone", 255),
        Field("fax", "Fax", "phone", 255),
    ),
)

COMPANIES = ObjectType(
    name="companies",
    api_name="Company",
    display="Company",
    id_field="id",
    dedupe_fields=("externalCompanyId",),
    searchable=(("externalCompanyId",), ("id",), ("company",)),
    fields=(
        Field("id", "Id", "integer", updateable=False, read_only=True),
        *_STAMPS,
        _s("externalCompanyId", "External Company Id", 100, updateable=False),
        _s("company", "Company Name"),
        _s("externalSalesPersonId", "External Sales Person Id"),
        Field("annualRevenue", "Annual Revenue", "currency"),
        _s("industry", "Industry"),
        Field("numberOfEmployees", "Num Employees", "integer"),
        Field("website", "Website", "url", 255),
        _s("mainPhone", "Main Phone"),
        _s("billingStreet", "Billing Street", 512),
        _s("billingCity", "Billing City"),
        _s("billingState", "Billing State"),
        _s("billingPostalCode", "Billing Postal Code"),
        _s("billingCountry", "Billing Country"),
    ),
)

OPPORTUNITIES = ObjectType(
    name="opportunities",
    api_name="opportunity",
    display="Opportunity",
    id_field="marketoGUID",
    dedupe_fields=("externalOpportunityId",),
    searchable=(("externalOpportunityId",), ("marketoGUID",)),
    fields=(
        _s("marketoGUID", "Marketo GUID", 36, updateable=False, read_only=True),
        *_STAMPS,
        _s("externalOpportunityId", "SFDC Oppty Id", 50, updateable=False),
        _s("name", "Name"),
        _s("description", "Description", 2000),
        _s("type", "Type"),
        _s("stage", "Stage"),
        Field("amount", "Amount", "currency"),
        Field("closeDate", "Close Date", "date"),
        Field("isClosed", "Is Closed", "boolean"),
        Field("isWon", "Is Won", "boolean"),
        Field("probability", "Probability", "integer"),
        _s("source", "Source"),
        Field("fiscalQuarter", "Fiscal Quarter", "integer"),
        Field("fiscalYear", "Fiscal Year", "integer"),
        _s("externalCompanyId", "External Company Id", 100),
        _s("externalSalesPersonId", "External Sales Person Id"),
        Field("externalCreatedDate", "External Created Date", "datetime"),
    ),
)

ROLES = ObjectType(
    name="roles",
    api_name="opportunityRole",
    display="Opportunity Role",
    id_field="marketoGUID",
    dedupe_fields=("externalOpportunityId", "leadId", "role"),
    searchable=(("externalOpportunityId", "leadId", "role"), ("marketoGUID",), ("leadId",), ("externalOpportunityId",)),
    fields=(
        _s("marketoGUID", "Marketo GUID", 36, updateable=False, read_only=True),
        *_STAMPS,
        _s("externalOpportunityId", "External Opportunity Id", 50, updateable=False),
        Field("leadId", "Lead Id", "integer", updateable=False),
        _s("role", "Role", 50, updateable=False),
        Field("isPrimary", "Is Primary", "boolean"),
        Field("externalCreatedDate", "External Created Date", "datetime"),
    ),
)

MSI_FIELDS = (
    "msiLastInterestingMomentType",
    "msiLastInterestingMomentDate",
    "msiLastInterestingMomentDesc",
    "msiLastInterestingMomentSource",
    "priority",
    "relativeUrgency",
    "relativeScoring",
)

# Lead fields that belong to the lead's company; Sync Leads may not change them on a lead
# linked to a company (DEV/leads note, record code 1021), and such a lead reads them from it.
LEAD_COMPANY_FIELDS = ("company", "industry", "annualRevenue", "numberOfEmployees")

LEADS = ObjectType(
    name="leads",
    api_name="API Lead",
    display="Lead",
    id_field="id",
    dedupe_fields=("email",),
    # describe2's searchable list; externalPersonId is MSI-NN's filterType for the read-back.
    searchable=(("id",), ("email",), ("externalPersonId",)),
    fields=(
        Field("id", "Id", "integer", updateable=False, read_only=True),
        *_STAMPS,
        _s("externalPersonId", "External Person Id"),
        _s("externalSalesPersonId", "External Sales Person Id"),
        _s("externalCompanyId", "External Company Id", 100),
        Field("email", "Email Address", "email", 255),
        _s("firstName", "First Name"),
        _s("lastName", "Last Name"),
        _s("title", "Job Title"),
        Field("phone", "Phone Number", "phone", 255),
        Field("mobilePhone", "Mobile Phone Number", "phone", 255),
        _s("company", "Company Name"),
        _s("leadSource", "Lead Source"),
        _s("leadStatus", "Lead Status"),
        _s("industry", "Industry"),
        Field("annualRevenue", "Annual Revenue", "currency"),
        Field("numberOfEmployees", "Num Employees", "integer"),
        Field("address", "Address", "text", 65535),
        _s("city", "City"),
        _s("state", "State"),
        _s("postalCode", "Postal Code"),
        _s("country", "Country"),
        Field("unsubscribed", "Unsubscribed", "boolean"),
        _s("msiLastInterestingMomentType", "Last Interesting Moment Type", updateable=False, read_only=True),
        Field(
            "msiLastInterestingMomentDate", "Last Interesting Moment Date", "datetime", updateable=False, read_only=True
        ),
        _s("msiLastInterestingMomentDesc", "Last Interesting Moment Description", updateable=False, read_only=True),
        _s("msiLastInterestingMomentSource", "Last Interesting Moment Source", updateable=False, read_only=True),
        Field("priority", "Priority", "integer", updateable=False, read_only=True),
        Field("relativeUrgency", "Relative Urgency", "integer", updateable=False, read_only=True),
        Field("relativeScoring", "Relative Score", "integer", updateable=False, read_only=True),
    ),
    default_query_fields=("id", "email", "updatedAt", "createdAt", "firstName", "lastName"),
)

OBJECTS: dict[str, ObjectType] = {t.name: t for t in (SALES_PERSONS, COMPANIES, OPPORTUNITIES, ROLES, LEADS)}


def lead_describe() -> list[dict[str, object]]:
    """GET /leads/describe.json: one entry per field with rest/soap names (DEV/leads example)."""
    out: list[dict[str, object]] = []
    for number, f in enumerate(LEADS.fields, start=1):
        entry: dict[str, object] = {"id": number, "displayName": f.display, "dataType": f.data_type}
        if f.length is not None:
            entry["length"] = f.length
        entry["rest"] = {"name": f.name, "readOnly": f.read_only or not f.updateable}
        entry["soap"] = {"name": f.name[:1].upper() + f.name[1:], "readOnly": f.read_only or not f.updateable}
        out.append(entry)
    return out


def lead_describe2() -> dict[str, object]:
    """GET /leads/describe2.json (swagger LeadAttribute2): searchable groups plus field list."""
    return {
        "name": LEADS.api_name,
        "searchableFields": [list(group) for group in LEADS.searchable],
        "fields": [{**_describe_field(f), "crmManaged": False} for f in LEADS.fields],
    }
